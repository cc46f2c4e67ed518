package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteDeployFiles(t *testing.T) {
	hist, cur := exampleHistory()
	dir := DeployDir(t.TempDir(), cur.Project, cur.DeployID)
	require.NoError(t, WriteDeployFiles(dir, cur, hist))

	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{MetricsFile, SummaryFile, ReportMarkdown, ReportJSON, ReportHTML}, names, "no temporary files left")

	// metrics.json reads back to the same metrics.
	b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	require.NoError(t, err)
	var back Metrics
	require.NoError(t, json.Unmarshal(b, &back))
	want, _ := json.Marshal(cur)
	got, _ := json.Marshal(back)
	assert.JSONEq(t, string(want), string(got))
	assert.Contains(t, string(b), `"duration_ms": 36500`)
	assert.Contains(t, string(b), `"time_to_ready_ms": 13300`)

	// report.json: metrics plus the history with this deploy in it.
	b, err = os.ReadFile(filepath.Join(dir, ReportJSON))
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, cur.DeployID, rep.Metrics.DeployID)
	assert.Equal(t, len(hist)+1, rep.History.Deploys)
	assert.Equal(t, cur.DeployID, rep.History.History[len(rep.History.History)-1].DeployID)

	// Rewriting is fine (the history may already hold this deploy).
	require.NoError(t, WriteDeployFiles(dir, cur, append(hist, HistoryEntry{Metrics: cur})))
	b, err = os.ReadFile(filepath.Join(dir, ReportJSON))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, len(hist)+1, rep.History.Deploys)
}

func TestWriteMarkdown(t *testing.T) {
	hist, cur := exampleHistory()
	var buf bytes.Buffer
	require.NoError(t, WriteMarkdown(&buf, cur, hist))
	md := buf.String()
	for _, want := range []string{
		"# dive deploy report: dive-hub",
		"**degraded** in **36.5 s**",
		"7 ready · 2 reused · 1 failed · 0 skipped · 1 pending",
		"## Timeline", "░", "▓", "█", "✗",
		"**postgres → keycloak → backend → frontend**: 33.6 s",
		"| opal-server | stretch | failed | +25.3 s | +36.2 s (failed) | failed after 10.9 s |",
		"### opal-server (stretch): health check failed 10 times",
		"exit code 137 · OOM-killed",
		"**Hint:** raise mem_limit",
		"## Retries", "exited with code 137",
		"## History", "Trend: **faster**",
		"(this one)",
	} {
		assert.Contains(t, md, want)
	}
	// One timeline row per service.
	tl := md[strings.Index(md, "```text"):]
	tl = tl[:strings.Index(tl[3:], "```")]
	for _, s := range cur.Services {
		assert.Contains(t, tl, "\n"+s.Name+" ")
	}

	// A failed deploy lists its skipped services; no history section without history.
	failed := hist[5].Metrics
	buf.Reset()
	require.NoError(t, WriteMarkdown(&buf, failed, nil))
	md = buf.String()
	assert.Contains(t, md, "## Skipped")
	assert.Contains(t, md, "- **backend**: dependency keycloak failed (because of keycloak)")
	assert.Contains(t, md, "> **Error:** keycloak (core): exited with code 137 (OOM-killed)")
	assert.NotContains(t, md, "## History")
}

// TestDocsExample regenerates docs/examples/ from the fixtures:
//
//	DIVE_UPDATE_DOCS=1 go test ./internal/report -run 'TestDocsExample|TestHTMLRendersInChromium'
//
// (with DIVE_SCREENSHOT_DIR=$PWD/docs/examples for the screenshot).
func TestDocsExample(t *testing.T) {
	if os.Getenv("DIVE_UPDATE_DOCS") == "" {
		t.Skip("set DIVE_UPDATE_DOCS=1 to regenerate docs/examples")
	}
	dir := filepath.Join("..", "..", "docs", "examples")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	hist, cur := exampleHistory()
	require.NoError(t, WriteDeployFiles(dir, cur, hist))
	require.NoError(t, os.Remove(filepath.Join(dir, ReportJSON)))
	var buf bytes.Buffer
	require.NoError(t, WriteHistoryText(&buf, Summarize(withCurrent(hist, cur), HistoryWindow)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "history.txt"), buf.Bytes(), 0o644))
	require.NoError(t, WritePrometheus(filepath.Join(dir, "dive_dive-hub.prom"), cur))
}
