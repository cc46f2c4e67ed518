package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Percentiles are stat.Quantile(p, stat.Empirical, sorted, nil): the
// smallest sample x such that the share of samples ≤ x is at least p, i.e.
// the sample at rank ceil(p·n) (1-based). Expected values are worked out by
// hand from that rule.
func TestPercentile(t *testing.T) {
	oneToTen := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1} // order does not matter
	three := []float64{30, 10, 20}
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"1..10 p50: ceil(5)=5th", oneToTen, 0.50, 5},
		{"1..10 p95: ceil(9.5)=10th", oneToTen, 0.95, 10},
		{"1..10 p99: ceil(9.9)=10th", oneToTen, 0.99, 10},
		{"1..10 p10: ceil(1)=1st", oneToTen, 0.10, 1},
		{"1..10 p25: ceil(2.5)=3rd", oneToTen, 0.25, 3},
		{"1..10 p0: the minimum", oneToTen, 0, 1},
		{"1..10 p100: the maximum", oneToTen, 1, 10},
		{"3 samples p50: ceil(1.5)=2nd", three, 0.50, 20},
		{"3 samples p95: ceil(2.85)=3rd", three, 0.95, 30},
		{"3 samples p99: ceil(2.97)=3rd", three, 0.99, 30},
		{"3 samples p33: ceil(0.99)=1st", three, 0.33, 10},
		{"3 samples p34: ceil(1.02)=2nd", three, 0.34, 20},
		{"1 sample", []float64{7}, 0.99, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Percentile(tc.xs, tc.p))
		})
	}
	assert.True(t, math.IsNaN(Percentile(nil, 0.5)))

	p := NewPercentiles(oneToTen)
	assert.Equal(t, Percentiles{Count: 10, MinMS: 1, MeanMS: 5.5, P50MS: 5, P95MS: 10, P99MS: 10, MaxMS: 10}, p)
	assert.Equal(t, Percentiles{}, NewPercentiles(nil))
	// The input is not reordered.
	assert.Equal(t, []float64{30, 10, 20}, three)
}

// writeHistory puts three deploys of the hub on disk, plus two broken ones.
//
//	D1 2026-11-27  success   41.0 s  keycloak 13.30 s
//	D2 2026-11-28  success   49.2 s  keycloak 15.98 s (everything 1.2× slower)
//	D3 2026-11-29  degraded  36.5 s  keycloak 13.30 s, opal-server failed
func writeHistory(t *testing.T) (string, []string) {
	t.Helper()
	state := t.TempDir()
	ids := []string{"20261127T100000Z-000001", "20261128T100000Z-000002", "20261129T100000Z-000003"}
	t1 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	deploys := []Metrics{
		Compute(hubDeploy(ids[0]), hubSuccess(t1, ids[0], 1)),
		Compute(hubDeploy(ids[1]), hubSuccess(t1.Add(24*time.Hour), ids[1], 1.2)),
		Compute(hubDeploy(ids[2]), hubDegraded(t1.Add(48*time.Hour), ids[2])),
	}
	// Written out of order: LoadHistory sorts by start time.
	for _, i := range []int{2, 0, 1} {
		m := deploys[i]
		require.NoError(t, WriteDeployFiles(DeployDir(state, "dive-hub", m.DeployID), m, nil))
	}
	// A stray file: skipped. (Deploys without a readable metrics.json are
	// listed as incomplete: TestHistoryListsEveryDeploy.)
	require.NoError(t, os.WriteFile(filepath.Join(DeploysDir(state, "dive-hub"), "notes.txt"), []byte("x"), 0o644))
	return state, ids
}

func TestLoadHistoryAndSummarize(t *testing.T) {
	state, ids := writeHistory(t)
	hist, err := LoadHistory(state, "dive-hub")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	for i, h := range hist {
		assert.Equal(t, ids[i], h.Metrics.DeployID)
		assert.Equal(t, DeployDir(state, "dive-hub", ids[i]), h.Dir)
	}

	s := Summarize(hist, 1)
	assert.Equal(t, "dive-hub", s.Project)
	assert.Equal(t, 3, s.Deploys)
	assert.Equal(t, map[string]int{"success": 2, "degraded": 1}, s.Outcomes)
	require.Len(t, s.History, 3)
	assert.Equal(t, DeployPoint{DeployID: ids[2], StartedAt: hist[2].Metrics.StartedAt, Outcome: "degraded", DurationMS: 36500, Ready: 9, Failed: 1}, s.History[2])

	// Deploy durations 36.5, 41.0, 49.2 s: p50 = 2nd, p95 = p99 = 3rd.
	assert.Equal(t, 3, s.Duration.Count)
	assert.InDelta(t, 41000, s.Duration.P50MS, 0.01)
	assert.InDelta(t, 49200, s.Duration.P95MS, 0.01)
	assert.InDelta(t, 49200, s.Duration.P99MS, 0.01)
	assert.InDelta(t, (36500+41000+49200)/3.0, s.Duration.MeanMS, 0.01)

	byName := map[string]ServiceSummary{}
	for _, sv := range s.Services {
		byName[sv.Service] = sv
	}
	// keycloak 13.30, 15.98, 13.30 s → sorted 13.30, 13.30, 15.98.
	kc := byName["keycloak"]
	assert.Equal(t, "core", kc.Class)
	assert.Equal(t, 3, kc.TimeToReady.Count)
	assert.InDelta(t, 13300, kc.TimeToReady.P50MS, 0.01)
	assert.InDelta(t, 15980, kc.TimeToReady.P95MS, 0.01)
	assert.InDelta(t, 15980, kc.TimeToReady.P99MS, 0.01)
	// postgres was reused in D3: only D1 (5.70 s) and D2 (7.68 − 0.70 = 6.98 s) count.
	pg := byName["postgres"]
	assert.Equal(t, 2, pg.TimeToReady.Count)
	assert.InDelta(t, 5700, pg.TimeToReady.P50MS, 0.01)
	assert.InDelta(t, 6980, pg.TimeToReady.P95MS, 0.01)
	// opal-server failed in D3.
	op := byName["opal-server"]
	assert.Equal(t, 2, op.TimeToReady.Count)
	assert.Equal(t, 1, op.Failures)
	// otel-collector was pending in D3.
	assert.Equal(t, 2, byName["otel-collector"].TimeToReady.Count)

	// Trend, window 1: 36.5 s against 49.2 s → −25.8 %, faster.
	tr := s.Trend
	assert.Equal(t, 1, tr.Window)
	assert.Equal(t, 1, tr.RecentCount)
	assert.Equal(t, 1, tr.PreviousCount)
	assert.InDelta(t, 36500, tr.RecentP50MS, 0.01)
	assert.InDelta(t, 49200, tr.PreviousP50MS, 0.01)
	assert.InDelta(t, -25.8, tr.DeltaP50Percent, 0.001)
	assert.Equal(t, "faster", tr.Verdict)

	// Window 2: last two {49.2, 36.5} (p50 36.5, mean 42.85) against {41.0}.
	tr = Summarize(hist, 2).Trend
	assert.Equal(t, 2, tr.RecentCount)
	assert.Equal(t, 1, tr.PreviousCount)
	assert.InDelta(t, 36500, tr.RecentP50MS, 0.01)
	assert.InDelta(t, 42850, tr.RecentMeanMS, 0.01)
	assert.InDelta(t, -11.0, tr.DeltaP50Percent, 0.001)
	assert.InDelta(t, 4.5, tr.DeltaMeanPercent, 0.001)
	assert.Equal(t, "faster", tr.Verdict)

	// Window 3: nothing before → unknown.
	assert.Equal(t, "unknown", Summarize(hist, 3).Trend.Verdict)

	// JSON field names.
	b, err := json.Marshal(s)
	require.NoError(t, err)
	for _, k := range []string{`"deploy_duration":{"count":3`, `"p95_ms":49200`, `"time_to_ready"`, `"verdict":"faster"`, `"delta_p50_percent":-25.8`} {
		assert.Contains(t, string(b), k)
	}

	var buf bytes.Buffer
	require.NoError(t, WriteHistoryText(&buf, s))
	out := buf.String()
	for _, want := range []string{"Deploy history of dive-hub: 3 deploys (2 success, 1 degraded)", ids[2], "keycloak", "p50 41.0 s", "Trend: faster"} {
		assert.Contains(t, out, want)
	}
}

func TestTrendVerdicts(t *testing.T) {
	mk := func(durs ...float64) []HistoryEntry {
		var out []HistoryEntry
		for i, d := range durs {
			out = append(out, HistoryEntry{Metrics: Metrics{DeployID: string(rune('a' + i)), StartedAt: hubT0.Add(time.Duration(i) * time.Hour), Outcome: DeploySuccess, DurationMS: d}})
		}
		return out
	}
	tests := []struct {
		name  string
		durs  []float64
		want  string
		delta float64
	}{
		{"steady", []float64{100, 100, 100, 105, 95, 100}, "steady", 0},
		{"slower", []float64{100, 100, 100, 130, 120, 125}, "slower", 25},
		{"faster", []float64{100, 100, 100, 50, 60, 55}, "faster", -45},
		{"just under the threshold", []float64{100, 100, 100, 109, 109, 109}, "steady", 9},
		{"too few", []float64{100, 90, 80}, "unknown", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := Summarize(mk(tc.durs...), 3).Trend
			assert.Equal(t, tc.want, tr.Verdict)
			assert.InDelta(t, tc.delta, tr.DeltaP50Percent, 0.001)
		})
	}
	// Failed deploys are listed but do not count for durations or the trend.
	h := mk(100, 100)
	h = append(h, HistoryEntry{Metrics: Metrics{DeployID: "z", StartedAt: hubT0.Add(10 * time.Hour), Outcome: DeployFailed, DurationMS: 600000}})
	s := Summarize(h, 1)
	assert.Equal(t, 3, len(s.History))
	assert.Equal(t, 2, s.Duration.Count)
	assert.Equal(t, "steady", s.Trend.Verdict)
}

func TestLoadHistoryMissingProject(t *testing.T) {
	hist, err := LoadHistory(t.TempDir(), "nothing-here")
	require.NoError(t, err)
	assert.Empty(t, hist)
	s := Summarize(hist, 5)
	assert.Equal(t, 0, s.Deploys)
	var buf bytes.Buffer
	require.NoError(t, WriteHistoryText(&buf, s))
	assert.True(t, strings.HasPrefix(buf.String(), "Deploy history: 0 deploys"))
}

// TestHistoryReadsSummaries: a deploy's history entry comes from its
// summary.json (a deploy's metrics.json can be large: it is not read), one
// written by an older dive gets its summary.json from metrics.json on the
// first read, and the summary gives the same history as the full metrics.
func TestHistoryReadsSummaries(t *testing.T) {
	state, ids := writeHistory(t)
	// The whole metrics, as each deploy wrote them (LoadDeploy reads
	// metrics.json only).
	var full []HistoryEntry
	for _, id := range ids {
		dir := DeployDir(state, "dive-hub", id)
		full = append(full, HistoryEntry{Dir: dir, Metrics: LoadDeploy(dir, id, "dive-hub")})
	}
	require.NotEmpty(t, full[0].Metrics.Phases, "full metrics")
	// A rolled-back deploy's marks survive the summary.
	full[2].Metrics.RolledBack, full[2].Metrics.RollbackCause = "complete", "keycloak"
	require.NoError(t, WriteDeployFiles(full[2].Dir, full[2].Metrics, nil))

	// An older dive wrote no summary.json: the first read writes it.
	old := DeployDir(state, "dive-hub", ids[0])
	require.NoError(t, os.Remove(filepath.Join(old, SummaryFile)))
	_, err := LoadHistory(state, "dive-hub")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(old, SummaryFile))
	require.NoError(t, err, "summary.json written back")
	var back Metrics
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, Slim(full[0].Metrics), back)

	// With metrics.json gone (or as large as a wide stack's), history reads
	// the summaries only, and summarizes the same.
	for _, id := range ids {
		require.NoError(t, os.Remove(filepath.Join(DeployDir(state, "dive-hub", id), MetricsFile)))
	}
	slim, err := LoadHistory(state, "dive-hub")
	require.NoError(t, err)
	require.Len(t, slim, 3)
	for i := range slim {
		assert.Empty(t, slim[i].Metrics.RecordsError, "read from summary.json, not recomputed from events")
		assert.Equal(t, Slim(full[i].Metrics), slim[i].Metrics)
		assert.Empty(t, slim[i].Metrics.Phases, "a summary holds no phases")
	}
	assert.Equal(t, Summarize(full, 1), Summarize(slim, 1))

	// A summary of another schema is not trusted: metrics.json is read.
	stale := DeployDir(state, "dive-hub", ids[1])
	require.NoError(t, os.WriteFile(filepath.Join(stale, SummaryFile), []byte(`{"schema_version":99,"deploy_id":"x","started_at":"2026-11-28T10:00:00Z","outcome":"failed"}`), 0o644))
	require.NoError(t, WriteJSON(mustCreate(t, filepath.Join(stale, MetricsFile)), full[1].Metrics))
	again, err := LoadHistory(state, "dive-hub")
	require.NoError(t, err)
	assert.Equal(t, full[1].Metrics.Outcome, again[1].Metrics.Outcome)
	assert.Equal(t, ids[1], again[1].Metrics.DeployID)
}

func mustCreate(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestPruneDeploys: the oldest deploys go first, down to keep; a protected
// one stays (and does not count against the others), and so does one that
// may still be running; folders that are not deploy IDs are never touched;
// keep 0 keeps everything.
func TestPruneDeploys(t *testing.T) {
	state := t.TempDir()
	root := DeploysDir(state, "p")
	var ids []string
	for i := range 6 {
		id := time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC).Format("20060102T150405Z") + "-00000" + string(rune('a'+i))
		ids = append(ids, id)
		require.NoError(t, os.MkdirAll(filepath.Join(root, id), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, id, EventsFile), []byte("{}\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(root, id, MetricsFile), []byte("{}\n"), 0o644))
	}
	// Not deploy IDs: a user's folders, even one that starts like one.
	const notAnID = "20261201T100000Z-before-upgrade"
	require.NoError(t, os.MkdirAll(filepath.Join(root, "keep-me"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, notAnID), 0o755))

	removed, err := PruneDeploys(state, "p", 0, nil)
	require.NoError(t, err)
	assert.Empty(t, removed)

	removed, err = PruneDeploys(state, "p", 3, func(id string) bool { return id == ids[1] })
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0], ids[2], ids[3]}, removed)
	left, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{notAnID, ids[1], ids[4], ids[5], "keep-me"}, names)

	// An unfinished deploy (no metrics.json) written to within the hour may
	// be running: kept; one silent for longer was killed: pruned.
	require.NoError(t, os.Remove(filepath.Join(root, ids[4], MetricsFile)))
	removed, err = PruneDeploys(state, "p", 1, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ids[1], ids[5]}, removed, "%s may be running", ids[4])
	require.NoError(t, os.MkdirAll(filepath.Join(root, ids[5]), 0o755))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(root, ids[4], EventsFile), old, old))
	removed, err = PruneDeploys(state, "p", 1, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ids[4]}, removed)

	removed, err = PruneDeploys(state, "missing", 3, nil)
	require.NoError(t, err)
	assert.Empty(t, removed)
}
