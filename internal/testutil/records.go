package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
)

// Records is a deploy's records after a round trip through the disk.
type Records struct {
	Events   []events.Event
	Metrics  report.Metrics // read back from metrics.json
	Markdown string         // the Markdown report of metrics.json
	HTML     string         // the HTML report of metrics.json
}

// Service is the metrics entry of a service; the test fails without one.
func (r Records) Service(t testing.TB, name string) report.Service {
	t.Helper()
	for _, s := range r.Metrics.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("metrics.json has no service %s", name)
	return report.Service{}
}

// RoundTrip reads events.jsonl from dir, computes the metrics, writes
// metrics.json and the reports next to it, and reads metrics.json back:
// what `dive report` shows for a deploy.
func RoundTrip(t testing.TB, dir string, d report.Deploy) Records {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatalf("read events.jsonl: %v", err)
	}
	evs, err := events.ReadJSONL(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("read back events.jsonl: %v", err)
	}
	m := report.Compute(d, evs)
	if err := report.WriteDeployFiles(dir, m, nil); err != nil {
		t.Fatalf("write the deploy files: %v", err)
	}
	var back report.Metrics
	mb, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatalf("read metrics.json: %v", err)
	}
	if err := json.Unmarshal(mb, &back); err != nil {
		t.Fatalf("decode metrics.json: %v", err)
	}
	// What `dive report --last` prints: rendered from metrics.json.
	var md, html bytes.Buffer
	if err := report.WriteMarkdown(&md, back, nil); err != nil {
		t.Fatalf("render the Markdown report: %v", err)
	}
	if err := report.WriteHTML(&html, back, nil); err != nil {
		t.Fatalf("render the HTML report: %v", err)
	}
	return Records{Events: evs, Metrics: back, Markdown: md.String(), HTML: html.String()}
}

// HasLines says whether text holds lines, one after the other, each on its
// own line (whatever indentation or markup precedes the block).
func HasLines(text string, lines []string) bool {
	return strings.Contains(text, strings.Join(lines, "\n"))
}
