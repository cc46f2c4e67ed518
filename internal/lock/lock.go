// Package lock is dive's deployment lock: one deploy (or down) of a project
// at a time, on this machine and across machines that drive the same engine.
//
// It has two layers, both taken by Acquire and dropped by Release:
//
//   - a file lock, <dir>/<project>/deploy.lock, taken with flock(2) through
//     gofrs/flock (TryLock, never blocking). The kernel drops it when the
//     process dies, so a crashed deploy never leaves it held. Next to it,
//     deploy.lock.json names the holder (pid, host, user, start, deploy id,
//     command, dive version, hold deadline) for the refusal message.
//
//   - an engine marker: a Docker volume named dive-lock_<project>, created
//     with the holder in its labels. It makes the lock hold for two machines
//     (two state dirs) pointed at the same engine. See marker.go for why a
//     volume create is a usable compare-and-set on the engine.
//
// The old bash lock released itself at once; this one is held from Acquire
// to Release, and a holder that is gone is taken over with a warning.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// Defaults.
const (
	DefaultHold        = 10 * time.Minute
	DefaultPoll        = 200 * time.Millisecond
	DefaultCallTimeout = 10 * time.Second
	// HoldSlack is added to Hold for the marker's expiry: a deploy bounded
	// by its timeout has surely ended (or died) a minute after it.
	HoldSlack = time.Minute
)

// Options for Acquire. Dir, Project and DeployID are required; the fields
// after Warn are for tests and have working zero values.
type Options struct {
	// Dir is the state dir; the lock lives in Dir/Project/.
	Dir     string
	Project string
	// DeployID names this deploy in the holder record and the marker.
	DeployID string
	// Command is what holds the lock: "deploy" or "down".
	Command string
	// Hold is how long the holder may keep the lock (the deploy timeout);
	// the engine marker expires HoldSlack after it. Default DefaultHold.
	Hold time.Duration
	// Wait is how long to wait for a held lock (--wait-lock); 0 refuses at once.
	Wait time.Duration
	// Engine is the Docker volume API for the engine marker; nil means the
	// file lock only.
	Engine VolumeAPI
	// Version of dive, recorded with the holder.
	Version string
	// Warn receives warnings (a stale holder taken over, waiting). May be nil.
	Warn func(string)

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Host, PID and User identify this process. Defaults: os.Hostname, os.Getpid, the current user.
	Host string
	PID  int
	User string
	// Alive reports whether a pid on this host is alive. Default: kill(pid, 0).
	Alive func(pid int) bool
	// ProcID names a process beyond its pid (boot, pid namespace, start
	// time), recorded in the marker so that a reused pid is not taken for
	// the holder. Default: from /proc on Linux, "" elsewhere.
	ProcID func(pid int) string
	// Poll is the --wait-lock polling period. Default DefaultPoll.
	Poll time.Duration
	// CallTimeout bounds each engine call. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// CallContext derives each engine call's context (parent, CallTimeout);
	// the CLI passes the engine's, which also bounds calls after Ctrl-C so
	// that the release never waits on a frozen engine. Default
	// context.WithTimeout.
	CallContext func(parent context.Context, limit time.Duration) (context.Context, context.CancelFunc)
}

// Lock is a held deployment lock.
type Lock struct {
	o       Options
	file    *flock.Flock
	record  string // path of deploy.lock.json
	holder  string // our io.dive.lock.holder value
	started time.Time
	expires time.Time
	marker  bool // we created (hold) the engine marker

	mu       sync.Mutex
	released bool
}

// HeldError says another deploy holds the lock. The CLI maps it to exit 1.
type HeldError struct {
	Project  string
	Command  string // deploy or down; "" when unknown
	PID      int
	Host     string
	User     string
	DeployID string
	Started  time.Time
	Expires  time.Time
	// Via says which layer refused: the lock file's path or the marker volume's name.
	Via string
	// Waited is how long --wait-lock waited before giving up (0: no wait).
	Waited time.Duration
	// Now is when the refusal was decided (for "3m ago").
	Now time.Time
}

func (e *HeldError) Error() string {
	var b strings.Builder
	what := "another deploy"
	if e.Command != "" && e.Command != "deploy" {
		what = "a running 'dive hub " + e.Command + "'"
	}
	fmt.Fprintf(&b, "project %s is locked by %s", e.Project, what)
	if e.PID == 0 && e.Host == "" {
		b.WriteString(" (its holder is not recorded yet)")
	} else {
		fmt.Fprintf(&b, ": pid %d on host %s", e.PID, e.Host)
		if e.User != "" {
			fmt.Fprintf(&b, " (user %s)", e.User)
		}
	}
	if !e.Started.IsZero() {
		fmt.Fprintf(&b, ", started %s", e.Started.UTC().Format(time.RFC3339))
		if !e.Now.IsZero() {
			fmt.Fprintf(&b, " (%s ago)", Ago(e.Now.Sub(e.Started)))
		}
	}
	if e.DeployID != "" && e.DeployID != e.Command {
		fmt.Fprintf(&b, ", deploy %s", e.DeployID)
	}
	if e.Waited > 0 {
		fmt.Fprintf(&b, "; still held after waiting %s; try again later, or pass a longer --wait-lock %s", e.Waited, e.suggestWait())
	} else {
		fmt.Fprintf(&b, "; wait for it, or pass --wait-lock %s", e.suggestWait())
	}
	if e.Via != "" {
		fmt.Fprintf(&b, "\n  held through: %s", e.Via)
		if !e.Expires.IsZero() {
			fmt.Fprintf(&b, " (its hold expires %s)", e.Expires.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

// who names the holder in a few words.
func (e *HeldError) who() string {
	if e.PID == 0 && e.Host == "" {
		return "a holder not recorded yet"
	}
	s := fmt.Sprintf("pid %d on host %s", e.PID, e.Host)
	if e.DeployID != "" {
		s += " (deploy " + e.DeployID + ")"
	}
	return s
}

// suggestWait is the time until the holder's hold expires, in whole
// minutes, or 5m when that is not known.
func (e *HeldError) suggestWait() string {
	if e.Expires.IsZero() || e.Now.IsZero() || !e.Expires.After(e.Now) {
		return "5m"
	}
	m := int((e.Expires.Sub(e.Now) + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%dm", max(m, 1))
}

// Ago renders an age the way people read it: 42s, 3m, 1h05m.
func Ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// IsHeld reports whether err is (or wraps) a HeldError.
func IsHeld(err error) bool {
	var he *HeldError
	return errors.As(err, &he)
}

func (o *Options) defaults() error {
	if o.Dir == "" || o.Project == "" {
		return errors.New("lock: Dir and Project are required")
	}
	if o.DeployID == "" {
		return errors.New("lock: DeployID is required")
	}
	if o.Command == "" {
		o.Command = "deploy"
	}
	if o.Hold <= 0 {
		o.Hold = DefaultHold
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "unknown-host"
		}
		o.Host = h
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.User == "" {
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		}
	}
	if o.Alive == nil {
		o.Alive = pidAlive
	}
	if o.ProcID == nil {
		o.ProcID = procIdentity
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if o.CallContext == nil {
		o.CallContext = context.WithTimeout
	}
	return nil
}

// Acquire takes the project's lock. When another live deploy holds it,
// Acquire returns a *HeldError at once, or, with Wait > 0, polls every
// Poll until the lock is free, Wait has passed or ctx ends.
func Acquire(ctx context.Context, o Options) (*Lock, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, o.Project), 0o755); err != nil {
		return nil, fmt.Errorf("lock: state dir: %w", err)
	}
	a := &attempt{o: o}
	l, err := a.try(ctx)
	var held *HeldError
	if err == nil || o.Wait <= 0 || !errors.As(err, &held) {
		return l, err
	}
	o.Warn(fmt.Sprintf("project %s is locked by %s; waiting up to %s for it", o.Project, held.who(), o.Wait))
	deadline := time.NewTimer(o.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock of project %s: %w", o.Project, ctx.Err())
		case <-deadline.C:
			held.Waited = o.Wait
			return nil, held
		case <-tick.C:
			l, err = a.try(ctx)
			if err == nil {
				return l, nil
			}
			if !errors.As(err, &held) {
				return nil, err
			}
		}
	}
}

// attempt carries what must survive between polls.
type attempt struct {
	o           Options
	warnedStale bool
}

// try takes the file lock, then the engine marker, once.
func (a *attempt) try(ctx context.Context) (*Lock, error) {
	o := a.o
	now := o.Now()
	dir := filepath.Join(o.Dir, o.Project)
	l := &Lock{
		o:       o,
		file:    flock.New(filepath.Join(dir, "deploy.lock"), flock.SetPermissions(0o644)),
		record:  filepath.Join(dir, "deploy.lock.json"),
		holder:  fmt.Sprintf("%s:%d:%s", o.Host, o.PID, o.DeployID),
		started: now,
		expires: now.Add(o.Hold + HoldSlack),
	}
	ok, err := l.file.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.file.Path(), err)
	}
	if !ok {
		he := &HeldError{Project: o.Project, Via: "lock file " + l.file.Path(), Now: now}
		if r, err := readRecord(l.record); err == nil {
			r.fill(he)
		}
		return nil, he
	}
	// The file lock is ours. A record left behind belongs to a holder that
	// died without releasing (a clean release removes it first).
	if prev, err := readRecord(l.record); err == nil && !a.warnedStale && (prev.PID != o.PID || prev.Host != o.Host) {
		a.warnedStale = true
		o.Warn(fmt.Sprintf("previous holder pid %d on host %s is gone (deploy %s, started %s); taking over the lock of project %s",
			prev.PID, prev.Host, prev.DeployID, prev.Started.UTC().Format(time.RFC3339), o.Project))
	}
	if err := l.writeRecord(); err != nil {
		_ = l.file.Unlock()
		return nil, err
	}
	if o.Engine != nil {
		if err := l.claimMarker(ctx); err != nil {
			_ = os.Remove(l.record)
			_ = l.file.Unlock()
			return nil, err
		}
	}
	return l, nil
}

// Holder is this lock's io.dive.lock.holder value: host:pid:deployid.
func (l *Lock) Holder() string { return l.holder }

// Expires is the hold deadline written into the marker and the record.
func (l *Lock) Expires() time.Time { return l.expires }

// MarkerName is the engine marker volume of a project.
func MarkerName(project string) string { return "dive-lock_" + project }

// Release drops the engine marker (only while it is still ours) and the
// file lock. It is safe to call more than once; only the first call acts.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	var errs []error
	if l.marker && l.o.Engine != nil {
		// Each call has its own deadline (see Options.CallContext).
		ctx := context.Background()
		if err := l.removeIfHolder(ctx, MarkerName(l.o.Project), l.holder); err != nil {
			errs = append(errs, fmt.Errorf("remove the lock marker volume %s: %w", MarkerName(l.o.Project), err))
		}
	}
	// The record goes before the flock: a record found under a free flock
	// then always means a holder that died.
	if err := os.Remove(l.record); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := l.file.Unlock(); err != nil {
		errs = append(errs, fmt.Errorf("unlock %s: %w", l.file.Path(), err))
	}
	return errors.Join(errs...)
}
