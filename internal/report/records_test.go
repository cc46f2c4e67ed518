package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeEvents writes evs as events.jsonl in a new deploy directory, cut to
// keep bytes when keep >= 0.
func writeEvents(t *testing.T, root, id string, evs []events.Event, keep int) {
	t.Helper()
	dir := filepath.Join(root, "p", "deploys", id)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var buf bytes.Buffer
	sink := events.NewJSONLSink(&buf)
	for _, e := range evs {
		sink.Handle(e)
	}
	b := buf.Bytes()
	if keep >= 0 {
		b = b[:keep]
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "events.jsonl"), b, 0o644))
}

// TestHistoryListsEveryDeploy: a finished deploy, one killed (no
// deploy_finished, no metrics.json), one whose events.jsonl was cut mid-line
// by a full disk, and one that left an empty directory all appear in the
// history, the last three as incomplete with a start time, never 0001-01-01.
func TestHistoryListsEveryDeploy(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ids := []string{"20261201T100000Z-aaaaaa", "20261201T110000Z-bbbbbb", "20261201T120000Z-cccccc", "20261201T130000Z-dddddd"}

	done := hubSuccess(t0, ids[0], 1)
	m := Compute(hubDeploy(ids[0]), done)
	require.NoError(t, WriteDeployFiles(filepath.Join(root, "p", "deploys", ids[0]), m, nil))

	killed := hubSuccess(t0.Add(time.Hour), ids[1], 1)
	killed = sortedEvents(ids[1], killed)
	writeEvents(t, root, ids[1], killed[:len(killed)/2], -1)

	cut := sortedEvents(ids[2], hubSuccess(t0.Add(2*time.Hour), ids[2], 1))
	var whole bytes.Buffer
	s := events.NewJSONLSink(&whole)
	for _, e := range cut[:10] {
		s.Handle(e)
	}
	writeEvents(t, root, ids[2], cut, whole.Len()+25) // ten lines and a piece

	require.NoError(t, os.MkdirAll(filepath.Join(root, "p", "deploys", ids[3]), 0o755))

	hist, err := LoadHistory(root, "p")
	require.NoError(t, err)
	require.Len(t, hist, 4, "every deploy that started is in the history")
	for i, h := range hist {
		assert.Equal(t, ids[i], h.Metrics.DeployID)
		assert.False(t, h.Metrics.StartedAt.IsZero(), ids[i])
	}
	assert.Equal(t, DeploySuccess, hist[0].Metrics.Outcome)
	assert.Empty(t, hist[0].Metrics.RecordsError)
	for _, h := range hist[1:] {
		assert.Equal(t, DeployIncomplete, h.Metrics.Outcome, h.Metrics.DeployID)
		assert.NotEmpty(t, h.Metrics.RecordsError, h.Metrics.DeployID)
	}
	assert.Contains(t, hist[1].Metrics.RecordsError, "dive was killed")
	assert.Contains(t, hist[2].Metrics.RecordsError, "cut short")
	assert.Contains(t, hist[2].Metrics.RecordsError, "line 11")
	assert.Equal(t, t0.Add(3*time.Hour), hist[3].Metrics.StartedAt, "the start time of the deploy ID")

	var text bytes.Buffer
	require.NoError(t, WriteHistoryText(&text, Summarize(hist, HistoryWindow)))
	assert.Equal(t, 3, strings.Count(text.String(), "incomplete *"), text.String())
	assert.Contains(t, text.String(), "* "+ids[2]+": events.jsonl is cut short")

	for _, h := range hist {
		var md bytes.Buffer
		require.NoError(t, WriteMarkdown(&md, LoadDeploy(h.Dir, h.Metrics.DeployID, "p"), hist))
		assert.NotContains(t, md.String(), "0001-01-01", h.Metrics.DeployID)
	}
}
