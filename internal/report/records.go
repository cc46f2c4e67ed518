package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/events"
)

// StartFromID is the start time a deploy ID carries
// (20261129T132356Z-<hex>), to the second.
func StartFromID(id string) (time.Time, bool) {
	stamp, _, _ := strings.Cut(id, "-")
	t, err := time.Parse("20060102T150405Z", stamp)
	return t, err == nil
}

// LoadDeploy reads one deploy's records from its directory: metrics.json
// when it is there and readable, else the metrics computed from
// events.jsonl (a deploy killed before it wrote metrics.json ends
// "incomplete"). It never fails: what could not be read is said in
// RecordsError, and a deploy without any event still has the start time of
// its ID.
func LoadDeploy(dir, id, project string) Metrics {
	if m, ok := readMetrics(filepath.Join(dir, MetricsFile), id); ok {
		return m
	}
	return fromEvents(dir, id, project)
}

// fromEvents is LoadDeploy for a deploy without a readable metrics.json.
func fromEvents(dir, id, project string) Metrics {
	var evs []events.Event
	var rerr error
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err == nil {
		evs, rerr = events.ReadJSONL(f)
		f.Close()
	} else {
		rerr = err
	}
	m := Compute(Deploy{ID: id, Project: project}, evs)
	switch {
	case errors.Is(rerr, fs.ErrNotExist):
		m.RecordsError = "neither metrics.json nor events.jsonl was written"
	case errors.Is(rerr, events.ErrTruncated):
		m.RecordsError = fmt.Sprintf("events.jsonl is cut short (a full disk, or dive was killed while writing): %v", rerr)
	case rerr != nil:
		m.RecordsError = fmt.Sprintf("events.jsonl could not be read to the end: %v", rerr)
	case m.Outcome == DeployIncomplete:
		m.RecordsError = "no deploy_finished: the deploy is still running, or dive was killed"
	default:
		m.RecordsError = "metrics.json is missing: recomputed from events.jsonl"
	}
	return m
}

// readMetrics reads a metrics.json or summary.json; ok is false when it is
// missing or not a deploy's metrics.
func readMetrics(path, id string) (Metrics, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Metrics{}, false
	}
	var m Metrics
	if err := json.Unmarshal(b, &m); err != nil || m.StartedAt.IsZero() {
		return Metrics{}, false
	}
	if m.DeployID == "" {
		m.DeployID = id
	}
	return m, true
}
