package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/testutil"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evidenceEngine is the fake engine with a health check log on every
// container that has a healthcheck: two outputs, so that the failure's
// evidence has several health outputs.
type evidenceEngine struct{ *fakeEngine }

func (e evidenceEngine) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	ins, err := e.fakeEngine.Inspect(ctx, id)
	if err == nil && ins.State != nil && ins.State.Health != nil {
		ins.State.Health.Log = []*container.HealthcheckResult{
			{ExitCode: 1, Output: "curl: (7) connection refused"},
			{ExitCode: 1, Output: "curl: (28) timed out"},
		}
	}
	return ins, err
}

const roundTripCompose = `
services:
  probed:
    image: fake/probed
    ` + hc + `
  engined:
    image: fake/engined
    ` + hc + `
    labels: {dive.health.probe-interval: "off"}
  plain:
    image: fake/plain
    depends_on:
      job: {condition: service_completed_successfully}
  tcpsvc:
    image: fake/tcpsvc
    labels: {dive.health.tcp: "8080"}
  job:
    image: fake/job
    restart: "no"
  broken:
    image: fake/broken
    ` + hc + `
    labels: {dive.service.class: optional, dive.service.timeout: 1s}
`

// deployToDisk deploys with a JSONL sink on dir/events.jsonl, as dive does.
func deployToDisk(t *testing.T, eng Engine, st *stack.Stack, g *graph.Graph, dir, id string, opts ...func(*Options)) *Result {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.Create(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	bus := events.NewBus(id)
	sink := events.NewJSONLSink(f)
	bus.Subscribe(sink)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := Options{Stack: st, Graph: g, Bus: bus, Timeout: 20 * time.Second, DiveVersion: "test", WaitAll: true}
	for _, f := range opts {
		f(&o)
	}
	res := Run(ctx, eng, o)
	require.NoError(t, sink.Err())
	return res
}

// TestRecordsRoundTrip: a deploy → events.jsonl → metrics.json → report
// keeps the detection lag, the health outputs and log lines as separate
// lines, and every ready signal.
func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	fake := newFake(map[string]script{
		"probed":  {HealthyAfter: 150 * time.Millisecond, NoHealthEvents: true},
		"engined": {HealthyAfter: 30 * time.Millisecond},
		"job":     {Exit: true, ExitAfter: 30 * time.Millisecond},
		"broken":  {NeverReady: true},
	})
	eng := evidenceEngine{fake}
	st, g := loadStack(t, roundTripCompose)
	root := t.TempDir()
	first := filepath.Join(root, "first")
	res := deployToDisk(t, eng, st, g, first, "first")
	require.Equal(t, Degraded, res.Outcome, "%v", res.Err)
	rec := testutil.RoundTrip(t, first, report.Deploy{ID: "first", Project: "roundtrip"})

	probed := rec.Service(t, "probed")
	assert.Equal(t, string(events.SignalProbe), probed.ReadySignal)
	if assert.NotNil(t, probed.DetectionLagMS, "detection_lag_ms of a service seen ready by a probe that had failed") {
		assert.Greater(t, *probed.DetectionLagMS, 0.0)
	}
	assert.Contains(t, rec.Markdown, "probe", "the report shows the signal")

	broken := rec.Service(t, "broken")
	assert.Equal(t, report.OutcomeFailed, broken.Outcome)
	health := []string{"exit 1: curl: (7) connection refused", "exit 1: curl: (28) timed out"}
	logs := []string{"broken: starting", "broken: last words"}
	assert.Equal(t, strings.Join(health, "\n"), broken.HealthOutput, "health outputs, one per line")
	assert.Equal(t, strings.Join(logs, "\n"), broken.LogsTail, "log lines, one per line")
	assert.True(t, testutil.HasLines(rec.Markdown, health), "the Markdown report shows each health output on its own line:\n%s", rec.Markdown)
	assert.True(t, testutil.HasLines(rec.Markdown, logs), "the Markdown report shows each log line on its own line")
	assert.True(t, testutil.HasLines(rec.HTML, logs), "the HTML report shows each log line on its own line")

	// A second deploy of the same containers: reused and completed-before.
	second := filepath.Join(root, "second")
	res = deployToDisk(t, eng, st, g, second, "second")
	require.Equal(t, Degraded, res.Outcome, "%v", res.Err)
	rec2 := testutil.RoundTrip(t, second, report.Deploy{ID: "second", Project: "roundtrip"})
	assert.Equal(t, string(events.SignalReused), rec2.Service(t, "plain").ReadySignal)
	assert.Equal(t, string(events.SignalCompletedBefore), rec2.Service(t, "job").ReadySignal)

	// A third: the engine has not checked "engined" since, but the second
	// deploy saw it ready in its current run: ready-before.
	fake.setHealth("engined", "starting", false)
	third := filepath.Join(root, "third")
	rb := map[string]ReadyRecord{"engined": {ContainerID: short(res.Services["engined"].ContainerID), At: time.Now()}}
	res = deployToDisk(t, eng, st, g, third, "third", func(o *Options) { o.ReadyBefore = rb })
	require.Equal(t, Degraded, res.Outcome, "%v", res.Err)
	rec3 := testutil.RoundTrip(t, third, report.Deploy{ID: "third", Project: "roundtrip"})
	assert.Equal(t, string(events.SignalReadyBefore), rec3.Service(t, "engined").ReadySignal)

	seen := map[string]bool{}
	for _, r := range []testutil.Records{rec, rec2, rec3} {
		for _, s := range r.Metrics.Services {
			if s.ReadySignal != "" {
				seen[s.ReadySignal] = true
			}
		}
	}
	for _, s := range events.Signals() {
		assert.True(t, seen[string(s)], "signal %s survives the round trip (seen: %v)", s, seen)
		delete(seen, string(s))
	}
	assert.Empty(t, seen, "signals outside the documented set")
}
