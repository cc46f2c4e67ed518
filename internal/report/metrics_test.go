package report

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dive-hub/dive/internal/events"
)

func svcOf(t *testing.T, m Metrics, name string) Service {
	t.Helper()
	s, ok := m.Service(name)
	require.True(t, ok, "service %s missing", name)
	return s
}

func val(t *testing.T, p *float64) float64 {
	t.Helper()
	require.NotNil(t, p)
	return *p
}

func TestComputeHubSuccess(t *testing.T) {
	m := Compute(hubDeploy(hubID), hubSuccess(hubT0, hubID, 1))

	assert.Equal(t, SchemaVersion, m.SchemaVersion)
	assert.Equal(t, hubID, m.DeployID)
	assert.Equal(t, "dive-hub", m.Project)
	assert.Equal(t, DeploySuccess, m.Outcome)
	assert.True(t, m.StartedAt.Equal(hubT0))
	assert.True(t, m.FinishedAt.Equal(hubT0.Add(41*time.Second)))
	assert.InDelta(t, 41000, m.DurationMS, 0.01)
	assert.InDelta(t, 600000, m.TimeoutMS, 0.01)
	require.Len(t, m.Services, 11)
	// Plan order is kept.
	for i, n := range hubNames {
		assert.Equal(t, n, m.Services[i].Name)
	}

	tests := []struct {
		name                                  string
		class, outcome, signal                string
		waiting, startIssued, ready, ttr, lag float64
		attempts                              int
	}{
		{"postgres", "core", OutcomeReady, "probe", -1, 700, 6400, 5700, 38, 1},
		{"keycloak", "core", OutcomeReady, "probe", 2300, 6500, 19800, 13300, 45, 1},
		{"backend", "core", OutcomeReady, "probe", 8600, 19900, 31200, 11300, 61, 1},
		{"frontend", "core", OutcomeReady, "probe", 9800, 31300, 40600, 9300, 70, 1},
		{"kas", "stretch", OutcomeReady, "probe", 3400, 7000, 23400, 16400, 80, 2},
		{"otel-collector", "optional", OutcomeReady, "running", 600, 31300, 34500, 3200, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := svcOf(t, m, tc.name)
			assert.Equal(t, tc.class, s.Class)
			assert.Equal(t, tc.outcome, s.Outcome)
			assert.Equal(t, tc.signal, s.ReadySignal)
			if tc.waiting < 0 {
				assert.Nil(t, s.WaitingOffsetMS)
				assert.Nil(t, s.WaitMS)
			} else {
				assert.InDelta(t, tc.waiting, val(t, s.WaitingOffsetMS), 0.01)
				assert.InDelta(t, tc.startIssued-tc.waiting, val(t, s.WaitMS), 0.01)
			}
			assert.InDelta(t, tc.startIssued, val(t, s.StartIssuedOffsetMS), 0.01)
			assert.InDelta(t, tc.ready, val(t, s.ReadyOffsetMS), 0.01)
			assert.InDelta(t, tc.ttr, val(t, s.TimeToReadyMS), 0.01)
			assert.InDelta(t, tc.lag, val(t, s.DetectionLagMS), 0.01)
			assert.Equal(t, tc.attempts, s.Attempts)
			// Absolute timestamps agree with the offsets.
			assert.True(t, s.ReadyAt.Equal(hubT0.Add(time.Duration(tc.ready*float64(time.Millisecond)))), "ready_at %v", s.ReadyAt)
			assert.Nil(t, s.FailedOffsetMS)
		})
	}

	kas := svcOf(t, m, "kas")
	require.Len(t, kas.Retries, 1)
	assert.Equal(t, "exited with code 1", kas.Retries[0].Reason)
	assert.InDelta(t, 1000, kas.Retries[0].BackoffMS, 0.01)
	assert.Equal(t, "dive-hub-kas", kas.Image)
	assert.InDelta(t, 3000, val(t, kas.ImageReadyOffsetMS), 0.01)

	kc := svcOf(t, m, "keycloak")
	assert.InDelta(t, 198.2, val(t, kc.CPUPeakPercent), 1e-9)
	assert.InDelta(t, 812e6, val(t, kc.MemPeakBytes), 1e-3)
	assert.InDelta(t, 2100, val(t, kc.CreatingOffsetMS), 0.01)
	assert.InDelta(t, 200, val(t, kc.CreateMS), 0.01)
	assert.Equal(t, 1, kc.Warnings)
	assert.Equal(t, "dive-hub-keycloak", kc.Container)

	be := svcOf(t, m, "backend")
	assert.True(t, be.ImageBuilt)
	assert.InDelta(t, 8400, val(t, be.ImageReadyOffsetMS), 0.01)

	// Critical path.
	cp := m.CriticalPath
	assert.Equal(t, []string{"postgres", "keycloak", "backend", "frontend"}, cp.Services)
	assert.InDelta(t, 39900, cp.LengthMS, 0.01)
	assert.InDelta(t, 700, cp.LeadInMS, 0.01)
	assert.InDelta(t, 40600, cp.EndOffsetMS, 0.01)
	assert.InDelta(t, 5700+13300+11300+9300, cp.BootMS, 0.01)
	assert.InDelta(t, 300, cp.HandoffMS, 0.01)
	assert.InDelta(t, cp.LengthMS, cp.BootMS+cp.HandoffMS, 0.01)
	require.Len(t, cp.Links, 4)
	assert.InDelta(t, 0, cp.Links[0].HandoffMS, 0.01)
	assert.InDelta(t, 100, cp.Links[1].HandoffMS, 0.01)
	assert.InDelta(t, 13300, cp.Links[1].TimeToReadyMS, 0.01)
	assert.InDelta(t, 4200, cp.Links[1].WaitMS, 0.01)
	assert.Equal(t, []string{"postgres", "keycloak", "backend", "frontend"}, m.PlannedPath)

	// Totals.
	assert.Equal(t, Totals{Services: 11, Ready: 11, Attempts: 12, Retries: 1, EngineRetries: 1, Warnings: 1, Images: 11, ImagesBuilt: 2}, m.Totals)
	require.Len(t, m.Warnings, 1)
	assert.Equal(t, "keycloak", m.Warnings[0].Service)

	// Phases.
	ph := map[string]Phase{}
	for _, p := range m.Phases {
		ph[p.Phase] = p
	}
	assert.Equal(t, []string{"resources", "image", "create", "wait", "start"}, phaseNames(m.Phases))
	assert.InDelta(t, 9400, ph["image"].WallMS, 0.01) // 0.2 s → 9.6 s
	assert.Equal(t, 11, ph["image"].Count)
	assert.Equal(t, 11, ph["start"].Count)
	assert.InDelta(t, 700, ph["start"].FirstOffsetMS, 0.01)
	assert.InDelta(t, 40600, ph["start"].LastOffsetMS, 0.01)
	// 0.7 s → 40.6 s, less the 0.1 s after backend was ready and before
	// frontend, opal-server and otel-collector were started.
	assert.InDelta(t, 39800, ph["start"].WallMS, 0.01)
	assert.Greater(t, ph["start"].SumMS, ph["start"].WallMS)
}

func phaseNames(ps []Phase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Phase)
	}
	return out
}

func TestComputeHubDegraded(t *testing.T) {
	id := "20261130T090000Z-00ff00"
	m := Compute(hubDeploy(id), hubDegraded(hubT0, id))
	assert.Equal(t, DeployDegraded, m.Outcome)
	assert.Equal(t, "opal-server (stretch): health check failed 10 times", m.Error)

	outcomes := map[string]string{}
	for _, s := range m.Services {
		outcomes[s.Name] = s.Outcome
	}
	assert.Equal(t, map[string]string{
		"postgres": OutcomeReused, "mongodb": OutcomeReused, "redis": OutcomeReady, "redis-blacklist": OutcomeReady,
		"opa": OutcomeReady, "keycloak": OutcomeReady, "backend": OutcomeReady, "frontend": OutcomeReady,
		"kas": OutcomeReady, "opal-server": OutcomeFailed, "otel-collector": OutcomePending,
	}, outcomes)
	assert.Equal(t, Totals{Services: 11, Ready: 7, Reused: 2, Failed: 1, Pending: 1, Attempts: 10, Retries: 1, Warnings: 1, Images: 11}, m.Totals)

	pg := svcOf(t, m, "postgres")
	assert.InDelta(t, 300, val(t, pg.ReusedOffsetMS), 0.01)
	assert.Nil(t, pg.TimeToReadyMS)
	assert.True(t, pg.Up())

	op := svcOf(t, m, "opal-server")
	require.NotNil(t, op.ExitCode)
	assert.Equal(t, 137, *op.ExitCode)
	assert.True(t, op.OOMKilled)
	assert.Equal(t, 2, op.Attempts)
	assert.Equal(t, "health check failed 10 times", op.FailureReason)
	assert.InDelta(t, 36200, val(t, op.FailedOffsetMS), 0.01)
	assert.InDelta(t, 10900, val(t, op.TimeToFailMS), 0.01)
	assert.Nil(t, op.ReadyOffsetMS)
	assert.Contains(t, op.LogsTail, "Killed")
	assert.InDelta(t, 536870912, val(t, op.MemPeakBytes), 0.1)

	oc := svcOf(t, m, "otel-collector")
	assert.Nil(t, oc.ReadyOffsetMS)
	assert.False(t, oc.Up())

	// The walk goes through the reused postgres: its link has zero boot time.
	cp := m.CriticalPath
	assert.Equal(t, []string{"postgres", "keycloak", "backend", "frontend"}, cp.Services)
	assert.InDelta(t, 0, cp.Links[0].TimeToReadyMS, 0.01)
	assert.Equal(t, OutcomeReused, cp.Links[0].Outcome)
	assert.InDelta(t, 1000, cp.Links[1].HandoffMS, 0.01) // reused at 0.3 s, keycloak started at 1.3 s
	assert.InDelta(t, 33600, cp.LengthMS, 0.01)          // 0.3 s → 33.9 s
}

// A deploy read back from events.jsonl (attributes as float64 and []any, in
// any order) gives the same metrics as the live events.
func TestComputeFromJSONL(t *testing.T) {
	live := hubSuccess(hubT0, hubID, 1)
	var buf bytes.Buffer
	sink := events.NewJSONLSink(&buf)
	for _, e := range live {
		sink.Handle(e)
	}
	back, err := events.ReadJSONL(&buf)
	require.NoError(t, err)
	rand.New(rand.NewSource(1)).Shuffle(len(back), func(i, j int) { back[i], back[j] = back[j], back[i] })

	want := Compute(hubDeploy(hubID), live)
	got := Compute(hubDeploy(hubID), back)
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	assert.JSONEq(t, string(wj), string(gj))
}

func TestComputeEdgeCases(t *testing.T) {
	t.Run("no events", func(t *testing.T) {
		m := Compute(Deploy{ID: "x", Project: "p"}, nil)
		assert.Equal(t, DeployIncomplete, m.Outcome)
		assert.Empty(t, m.CriticalPath.Services)
		_, err := json.Marshal(m)
		require.NoError(t, err)
	})
	t.Run("unfinished deploy and unknown service", func(t *testing.T) {
		f := newFx(hubT0, "d1")
		f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{Project: "p"})
		f.e(1, "ghost", events.PhaseStart, 0, events.ServiceStartingAttrs{})
		f.e(2, "ghost", events.PhaseStart, 0, events.ServiceStartedAttrs{})
		f.e(3, "late", events.PhaseStart, 0, events.ServiceSkippedAttrs{Reason: "dependency failed", Because: []string{"ghost"}})
		// An event of another deploy is ignored.
		f.evs = append(f.evs, events.Event{Time: hubT0.Add(time.Hour), DeployID: "other", Attrs: events.ServiceReadyAttrs{}, Service: "ghost"})
		m := Compute(Deploy{ID: "d1"}, f.evs)
		assert.Equal(t, "p", m.Project)
		assert.Equal(t, DeployIncomplete, m.Outcome)
		assert.InDelta(t, 3000, m.DurationMS, 0.01)
		g := svcOf(t, m, "ghost")
		assert.Equal(t, OutcomePending, g.Outcome)
		assert.Equal(t, "", g.Class)
		l := svcOf(t, m, "late")
		assert.Equal(t, OutcomeSkipped, l.Outcome)
		assert.Equal(t, []string{"ghost"}, l.SkipBecause)
		assert.Equal(t, 1, m.Totals.Pending)
		assert.Equal(t, 2, m.Totals.CoreNotUp)
		assert.Empty(t, m.CriticalPath.Links)
	})
	t.Run("failed then recovered keeps no failure", func(t *testing.T) {
		f := newFx(hubT0, "d2")
		f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{})
		f.e(1, "a", events.PhaseStart, 0, events.ServiceStartingAttrs{})
		f.e(1.5, "a", events.PhaseStart, 0, events.ServiceStartedAttrs{})
		f.e(2, "a", events.PhaseStart, 0, events.ServiceFailedAttrs{Reason: "boom", ExitCode: ptr(1)})
		f.e(3, "a", events.PhaseStart, 0, events.ServiceStartedAttrs{})
		f.e(4, "a", events.PhaseReady, 0, events.ServiceReadyAttrs{Readiness: events.Readiness{Signal: "running"}})
		f.e(5, "", events.PhaseDeploy, 0, events.DeployFinishedAttrs{Outcome: "success"})
		m := Compute(Deploy{ID: "d2"}, f.evs)
		a := svcOf(t, m, "a")
		assert.Equal(t, OutcomeReady, a.Outcome)
		assert.Empty(t, a.FailureReason)
		assert.Nil(t, a.ExitCode)
		assert.Equal(t, 2, a.Attempts)
		assert.InDelta(t, 3000, val(t, a.TimeToReadyMS), 0.01) // no Duration: start issued → ready
		assert.InDelta(t, 5000, m.DurationMS, 0.01)            // no Duration: finished − started
		assert.Equal(t, []string{"a"}, m.CriticalPath.Services)
	})
	t.Run("dependencies from waiting_on when the plan has none", func(t *testing.T) {
		f := newFx(hubT0, "d3")
		f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{})
		f.e(0.1, "db", events.PhaseStart, 0, events.ServiceStartingAttrs{})
		f.e(2, "db", events.PhaseReady, 0, events.ServiceReadyAttrs{Readiness: events.Readiness{}})
		f.e(0.1, "app", events.PhaseWait, 0, events.ServiceWaitingAttrs{On: []string{"db"}})
		f.e(2.1, "app", events.PhaseStart, 0, events.ServiceStartingAttrs{})
		f.e(4, "app", events.PhaseReady, 0, events.ServiceReadyAttrs{Readiness: events.Readiness{}})
		f.e(4, "", events.PhaseDeploy, 0, events.DeployFinishedAttrs{Outcome: "success"})
		m := Compute(Deploy{ID: "d3"}, f.evs)
		assert.Equal(t, []string{"db", "app"}, m.CriticalPath.Services)
		assert.InDelta(t, 3900, m.CriticalPath.LengthMS, 0.01)
	})
}
