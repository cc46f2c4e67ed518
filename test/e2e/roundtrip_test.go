package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTripCompose has one service per ready signal on the real engine, and
// an optional service that never becomes ready (for the failure evidence).
func roundTripCompose(img string) string {
	return `
services:
  probed:
    image: ` + img + `
    environment: {STANDIN_NAME: probed, STANDIN_READY_AFTER: 15s}
    healthcheck: {test: ["CMD", "/dive", "standin", "probe"], interval: 60s, timeout: 10s, retries: 3}
    labels: {dive.service.timeout: 150s}
  engined:
    image: ` + img + `
    environment: {STANDIN_NAME: engined}
    healthcheck: {test: ["CMD", "/dive", "standin", "probe"], interval: 1s, timeout: 10s, retries: 60}
    labels: {dive.health.probe-interval: "off", dive.service.timeout: 150s}
  tcpsvc:
    image: ` + img + `
    environment: {STANDIN_NAME: tcpsvc, STANDIN_READY_AFTER: 300ms}
    labels: {dive.health.tcp: "8080", dive.service.timeout: 2m}
  job:
    image: ` + img + `
    restart: "no"
    environment: {STANDIN_NAME: job, STANDIN_MODE: job, STANDIN_READY_AFTER: 200ms}
  plain:
    image: ` + img + `
    environment: {STANDIN_NAME: plain}
    depends_on:
      job: {condition: service_completed_successfully}
  broken:
    image: ` + img + `
    environment: {STANDIN_NAME: broken, STANDIN_MODE: never-ready, STANDIN_LOG_EVERY: 200ms}
    healthcheck: {test: ["CMD", "/dive", "standin", "probe"], interval: 1s, timeout: 3s, retries: 100}
    labels: {dive.service.class: optional, dive.service.timeout: 60s}
`
}

// TestRecordsRoundTripRealEngine deploys on the real daemon, twice, and
// checks that events.jsonl → metrics.json → report keep the detection lag,
// the health outputs and log lines one per line, and every ready signal.
func TestRecordsRoundTripRealEngine(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("e2e-trip")
	t.Cleanup(func() { sweep(t, project, "") })
	dir, state := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(roundTripCompose(img)), 0o644))
	env := []string{"DIVE_STATE_DIR=" + state}
	deployDir := func() (string, string) {
		ents, err := os.ReadDir(report.DeploysDir(state, project))
		require.NoError(t, err)
		var ids []string
		for _, e := range ents {
			ids = append(ids, e.Name())
		}
		sort.Strings(ids)
		id := ids[len(ids)-1]
		return id, report.DeployDir(state, project, id)
	}

	// The second deploy leaves broken out: it would only fail again.
	var recs []testutil.Records
	for i, extra := range [][]string{nil, {"probed", "engined", "tcpsvc", "job", "plain"}} {
		args := append([]string{"hub", "deploy", "-f", file, "-p", project, "--timeout", "170s", "--wait-all"}, extra...)
		r := dive(t, env, args...)
		require.Equal(t, 0, r.code, "deploy %d:\n%s\n%s", i+1, r.stdout, r.stderr)
		id, d := deployDir()
		recs = append(recs, testutil.RoundTrip(t, d, report.Deploy{ID: id, Project: project}))
	}
	require.Equal(t, report.DeployDegraded, recs[0].Metrics.Outcome, "broken is optional")
	require.Equal(t, report.DeploySuccess, recs[1].Metrics.Outcome)
	first, second := recs[0], recs[1]

	probed := first.Service(t, "probed")
	assert.Equal(t, string(events.SignalProbe), probed.ReadySignal)
	if assert.NotNil(t, probed.DetectionLagMS, "detection_lag_ms of a service dive's probe saw ready after a failure") {
		assert.Greater(t, *probed.DetectionLagMS, 0.0)
	}

	var failed events.ServiceFailedAttrs
	for _, e := range first.Events {
		if at, ok := e.Attrs.(events.ServiceFailedAttrs); ok && e.Service == "broken" {
			failed = at
		}
	}
	require.GreaterOrEqual(t, len(failed.HealthOutput), 2, "the engine ran the health check several times in 60 s")
	require.GreaterOrEqual(t, len(failed.Logs), 2, "broken logs every 200 ms")
	broken := first.Service(t, "broken")
	assert.Equal(t, strings.Join(failed.HealthOutput, "\n"), broken.HealthOutput)
	assert.Equal(t, strings.Join(failed.Logs, "\n"), broken.LogsTail)
	assert.True(t, testutil.HasLines(first.Markdown, failed.HealthOutput), "each health output on its own line:\n%s", first.Markdown)
	assert.True(t, testutil.HasLines(first.Markdown, failed.Logs), "each log line on its own line:\n%s", first.Markdown)

	// What a user reads: dive's own reports.
	rep1 := dive(t, env, "hub", "report", "-f", file, "-p", project, first.Metrics.DeployID)
	require.Equal(t, 0, rep1.code, rep1.stderr)
	assert.True(t, testutil.HasLines(rep1.stdout, failed.Logs), "dive hub report shows each log line on its own line:\n%s", rep1.stdout)
	rep := dive(t, env, "hub", "report", "-f", file, "-p", project, "--last")
	require.Equal(t, 0, rep.code, rep.stderr)
	assert.Contains(t, rep.stdout, "completed-before", "dive hub report --last:\n%s", rep.stdout)

	seen := map[string]bool{}
	for _, r := range recs {
		for _, s := range r.Metrics.Services {
			if s.ReadySignal != "" {
				seen[s.ReadySignal] = true
			}
		}
	}
	for _, s := range events.Signals() {
		// ready-before needs the engine not to have run its own check
		// between the two deploys: a matter of timing here, so only the
		// fake-engine round trip (internal/deploy) requires it.
		if s != events.SignalReadyBefore {
			assert.True(t, seen[string(s)], "signal %s survives the round trip (seen: %v)", s, seen)
		}
		delete(seen, string(s))
	}
	assert.Empty(t, seen, "signals outside the documented set")
	assert.Equal(t, string(events.SignalCompletedBefore), second.Service(t, "job").ReadySignal)
	assert.Equal(t, string(events.SignalReused), second.Service(t, "plain").ReadySignal)
}
