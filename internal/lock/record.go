package lock

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// record is deploy.lock.json: who holds the file lock.
type record struct {
	PID      int       `json:"pid"`
	Host     string    `json:"host"`
	User     string    `json:"user,omitempty"`
	Started  time.Time `json:"started"`
	DeployID string    `json:"deploy_id"`
	Command  string    `json:"command"`
	Version  string    `json:"dive_version,omitempty"`
	// Deadline is when the holder's hold ends (start + hold + slack).
	Deadline time.Time `json:"hold_deadline"`
}

func readRecord(path string) (record, error) {
	var r record
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func (r record) fill(he *HeldError) {
	he.PID, he.Host, he.User, he.DeployID, he.Command = r.PID, r.Host, r.User, r.DeployID, r.Command
	he.Started, he.Expires = r.Started, r.Deadline
}

// writeRecord writes deploy.lock.json atomically (temp file, then rename).
func (l *Lock) writeRecord() error {
	r := record{PID: l.o.PID, Host: l.o.Host, User: l.o.User, Started: l.started.UTC().Truncate(time.Second),
		DeployID: l.o.DeployID, Command: l.o.Command, Version: l.o.Version, Deadline: l.expires.UTC().Truncate(time.Second)}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.record), ".deploy.lock.json.*")
	if err != nil {
		return fmt.Errorf("lock record: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		_ = os.Chmod(tmp.Name(), 0o644)
		werr = os.Rename(tmp.Name(), l.record)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("lock record %s: %w", l.record, werr)
	}
	return nil
}
