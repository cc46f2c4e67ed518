package report

import (
	"math"
	"time"

	"github.com/dive-hub/dive/internal/events"
)

// Synthetic deploys of the DIVE V3 hub, shaped after a clean deploy of the
// real stack (docs in /work/shared/dive-hub-topology.md).

var hubT0 = time.Date(2026, 11, 29, 13, 23, 56, 0, time.UTC)

const hubID = "20261129T132356Z-a1b2c3"

type fx struct {
	t0  time.Time
	id  string
	evs []events.Event
}

func newFx(t0 time.Time, id string) *fx { return &fx{t0: t0, id: id} }

func (f *fx) at(sec float64) time.Time { return f.t0.Add(dur(sec)) }

// dur rounds to the millisecond, so that fixtures survive the microsecond
// precision of events.jsonl exactly.
func dur(sec float64) time.Duration { return time.Duration(math.Round(sec*1000)) * time.Millisecond }

// e appends one event at sec seconds after t0.
func (f *fx) e(sec float64, svc string, phase events.Phase, d time.Duration, attrs events.Attributes) *fx {
	kind := attrs.Kind()
	lvl := events.LevelInfo
	switch kind {
	case events.Warning, events.ServiceRetry, events.EngineRetry:
		lvl = events.LevelWarn
	case events.ServiceFailed:
		lvl = events.LevelError
	}
	f.evs = append(f.evs, events.Event{Time: f.at(sec), Level: lvl, DeployID: f.id, Phase: phase, Service: svc, Kind: kind, Duration: d, Attrs: attrs})
	return f
}

// svc appends the usual life of a service that becomes ready: create,
// (wait), start, started, ready.
func (f *fx) svc(name string, created, waiting, starting, ready float64, on []string, signal events.Signal, lagMS float64) *fx {
	f.e(created-0.2, name, events.PhaseCreate, 0, events.ServiceCreatingAttrs{})
	f.e(created, name, events.PhaseCreate, dur(0.2), events.ServiceCreatedAttrs{Container: "dive-hub-" + name, ContainerID: "c0ffee" + name})
	if len(on) > 0 {
		f.e(waiting, name, events.PhaseWait, 0, events.ServiceWaitingAttrs{On: on})
	}
	f.e(starting, name, events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(starting+0.2, name, events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 1})
	f.e(ready, name, events.PhaseReady, dur(ready-starting), events.ServiceReadyAttrs{Readiness: events.Readiness{Signal: signal, LagMS: fptr(lagMS)}})
	return f
}

func ptr[T any](v T) *T { return &v }

func (f *fx) stats(name string, cpu, mem float64) *fx {
	// Three samples; the peaks are the largest.
	f.e(5, name, events.PhaseReady, 0, events.ServiceStatsAttrs{CPUPercent: cpu / 2, MemBytes: mem / 3})
	f.e(20, name, events.PhaseReady, 0, events.ServiceStatsAttrs{CPUPercent: cpu, MemBytes: mem / 2})
	f.e(35, name, events.PhaseReady, 0, events.ServiceStatsAttrs{CPUPercent: cpu / 4, MemBytes: mem})
	return f
}

func hubInfo() []ServiceInfo {
	return []ServiceInfo{
		{Name: "postgres", Class: "core"},
		{Name: "mongodb", Class: "core"},
		{Name: "redis", Class: "core"},
		{Name: "redis-blacklist", Class: "core"},
		{Name: "opa", Class: "core"},
		{Name: "keycloak", Class: "core", DependsOn: []string{"postgres"}},
		{Name: "backend", Class: "core", DependsOn: []string{"keycloak", "mongodb", "redis", "redis-blacklist", "opa"}},
		{Name: "frontend", Class: "core", DependsOn: []string{"keycloak", "backend"}},
		{Name: "kas", Class: "stretch", DependsOn: []string{"opa", "mongodb"}},
		{Name: "opal-server", Class: "stretch", DependsOn: []string{"opa", "backend"}},
		{Name: "otel-collector", Class: "optional", DependsOn: []string{"keycloak", "backend"}},
	}
}

func hubDeploy(id string) Deploy {
	return Deploy{ID: id, Project: "dive-hub", Services: hubInfo(), CriticalPath: []string{"postgres", "keycloak", "backend", "frontend"}}
}

var hubNames = []string{"postgres", "mongodb", "redis", "redis-blacklist", "opa", "keycloak", "backend", "frontend", "kas", "opal-server", "otel-collector"}

// hubSuccess is a clean deploy of the whole hub, 41 s, with one retry (kas)
// and one warning.
//
//	postgres  start 0.7  ready 6.4
//	keycloak  start 6.5  ready 19.8   (waits on postgres)
//	backend   start 19.9 ready 31.2   (waits on keycloak, the last of its deps)
//	frontend  start 31.3 ready 40.6   (waits on backend)
//
// so the critical path is postgres → keycloak → backend → frontend.
func hubSuccess(t0 time.Time, id string, scale float64) []events.Event {
	s := func(x float64) float64 { return x * scale }
	f := newFx(t0, id)
	f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{Project: "dive-hub", Services: hubNames, TimeoutMS: 600000})
	f.e(0.05, "", events.PhaseResources, dur(0.04), events.NetworkReadyAttrs{Network: "dive-shared", Created: false})
	f.e(0.09, "", events.PhaseResources, dur(0.03), events.NetworkReadyAttrs{Network: "dive-hub_default", Created: true})
	f.e(0.12, "", events.PhaseResources, dur(0.02), events.VolumeReadyAttrs{Volume: "dive-hub_postgres_data", Created: false})
	f.e(0.14, "", events.PhaseResources, dur(0.02), events.VolumeReadyAttrs{Volume: "dive-hub_mongodb_data", Created: false})
	for _, n := range []string{"postgres", "mongodb", "redis", "redis-blacklist", "opa", "otel-collector"} {
		f.e(0.3, n, events.PhaseImage, dur(0.1), events.ImageReadyAttrs{Image: n + ":pinned", Built: false, Cached: true})
	}
	f.e(0.2, "keycloak", events.PhasePreflight, 0, events.WarningAttrs{Note: events.Note{Message: "healthcheck.start_interval is ignored by Engine API 1.41 (needs 1.44)"}})
	f.e(0.2, "keycloak", events.PhaseImage, 0, events.ImageBuildingAttrs{Image: "dive-hub-keycloak"})
	f.e(s(2.1), "keycloak", events.PhaseImage, dur(s(1.9)), events.ImageReadyAttrs{Image: "dive-hub-keycloak", Built: false, Cached: true})
	f.e(0.2, "backend", events.PhaseImage, 0, events.ImageBuildingAttrs{Image: "dive-hub-backend"})
	f.e(s(8.4), "backend", events.PhaseImage, dur(s(8.2)), events.ImageReadyAttrs{Image: "dive-hub-backend", Built: true})
	f.e(0.2, "frontend", events.PhaseImage, 0, events.ImageBuildingAttrs{Image: "dive-hub-frontend"})
	f.e(s(9.6), "frontend", events.PhaseImage, dur(s(9.4)), events.ImageReadyAttrs{Image: "dive-hub-frontend", Built: true})
	f.e(s(3.0), "kas", events.PhaseImage, dur(s(2.8)), events.ImageReadyAttrs{Image: "dive-hub-kas", Built: false, Cached: true})
	f.e(s(3.2), "opal-server", events.PhaseImage, dur(s(3.0)), events.ImageReadyAttrs{Image: "dive-hub-opal-server", Built: false, Cached: true})

	f.svc("postgres", 0.6, 0, 0.7, s(6.4), nil, "probe", 38)
	f.svc("mongodb", 0.6, 0, 0.7, s(6.9), nil, "probe", 52)
	f.svc("redis", 0.6, 0, 0.7, s(5.2), nil, "probe", 21)
	f.svc("redis-blacklist", 0.6, 0, 0.7, s(5.3), nil, "probe", 24)
	f.svc("opa", 0.6, 0, 0.7, s(6.1), nil, "engine", 480)
	f.svc("keycloak", s(2.3), s(2.3), s(6.4)+0.1, s(19.8), []string{"postgres"}, "probe", 45)
	f.svc("backend", s(8.6), s(8.6), s(19.8)+0.1, s(31.2), []string{"keycloak", "mongodb", "redis", "redis-blacklist", "opa"}, "probe", 61)
	f.svc("frontend", s(9.8), s(9.8), s(31.2)+0.1, s(40.6), []string{"keycloak", "backend"}, "probe", 70)
	f.svc("opal-server", s(3.4), s(3.4), s(31.2)+0.1, s(39.4), []string{"opa", "backend"}, "probe", 90)
	f.svc("otel-collector", 0.6, 0.6, s(31.2)+0.1, s(34.5), []string{"keycloak", "backend"}, "running", 0)

	// kas: the first attempt exits, the second becomes ready.
	f.e(s(3.4)-0.2, "kas", events.PhaseCreate, 0, events.ServiceCreatingAttrs{})
	f.e(s(3.4), "kas", events.PhaseCreate, dur(0.2), events.ServiceCreatedAttrs{Container: "dive-hub-kas"})
	f.e(s(3.4), "kas", events.PhaseWait, 0, events.ServiceWaitingAttrs{On: []string{"opa", "mongodb"}})
	f.e(s(7.0), "kas", events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(s(7.0)+0.2, "kas", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 1})
	f.e(s(10.0), "kas", events.PhaseStart, 0, events.ServiceRetryAttrs{Attempt: 1, Reason: "exited with code 1", BackoffMS: 1000})
	f.e(s(11.1), "kas", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 2})
	f.e(s(23.4), "kas", events.PhaseReady, dur(s(23.4)-s(7.0)), events.ServiceReadyAttrs{Readiness: events.Readiness{Signal: events.SignalProbe, LagMS: fptr(80)}})

	f.stats("postgres", 41.5, 180e6)
	f.stats("keycloak", 198.2, 812e6)
	f.stats("backend", 96.0, 410e6)
	f.stats("frontend", 72.4, 356e6)
	f.stats("mongodb", 35.0, 240e6)
	f.e(s(12.0), "", events.PhaseStart, 0, events.EngineRetryAttrs{Op: "container_inspect", Attempt: 1, Reason: "context deadline exceeded", BackoffMS: 200})
	f.e(s(41.0), "", events.PhaseDeploy, dur(s(41.0)), events.DeployFinishedAttrs{Outcome: "success"})
	return f.evs
}

// hubDegraded: a redeploy where postgres and mongodb are reused, opal-server
// (stretch) fails its health checks, and otel-collector is still starting
// when the deploy ends.
func hubDegraded(t0 time.Time, id string) []events.Event {
	f := newFx(t0, id)
	f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{Project: "dive-hub", Services: hubNames, TimeoutMS: 600000})
	f.e(0.05, "", events.PhaseResources, dur(0.04), events.NetworkReadyAttrs{Network: "dive-shared", Created: false})
	for _, n := range hubNames {
		img := n + ":pinned"
		if n == "keycloak" || n == "backend" || n == "frontend" || n == "kas" || n == "opal-server" {
			img = "dive-hub-" + n
		}
		f.e(0.2, n, events.PhaseImage, dur(0.08), events.ImageReadyAttrs{Image: img, Built: false, Cached: true})
	}
	f.e(0.1, "", events.PhasePreflight, 0, events.WarningAttrs{Note: events.Note{Message: "Engine API 1.41: healthcheck start_interval is ignored (needs 1.44)"}})
	f.e(0.3, "postgres", events.PhaseCreate, 0, events.ServiceReusedAttrs{Container: "dive-hub-postgres"})
	f.e(0.3, "mongodb", events.PhaseCreate, 0, events.ServiceReusedAttrs{Container: "dive-hub-mongodb"})
	f.svc("redis", 0.6, 0, 0.7, 4.9, nil, "probe", 20)
	f.svc("redis-blacklist", 0.6, 0, 0.7, 5.0, nil, "probe", 22)
	f.svc("opa", 0.6, 0, 0.7, 5.8, nil, "engine", 510)
	f.svc("keycloak", 1.2, 1.2, 1.3, 14.6, []string{"postgres"}, "probe", 40)
	f.svc("backend", 1.4, 1.4, 14.7, 25.2, []string{"keycloak", "mongodb", "redis", "redis-blacklist", "opa"}, "probe", 66)
	f.svc("frontend", 1.5, 1.5, 25.3, 33.9, []string{"keycloak", "backend"}, "probe", 58)
	f.svc("kas", 1.6, 1.6, 5.9, 17.0, []string{"opa", "mongodb"}, "tcp", 0)
	// opal-server fails.
	f.e(1.4, "opal-server", events.PhaseCreate, 0, events.ServiceCreatingAttrs{})
	f.e(1.6, "opal-server", events.PhaseCreate, dur(0.2), events.ServiceCreatedAttrs{})
	f.e(1.6, "opal-server", events.PhaseWait, 0, events.ServiceWaitingAttrs{On: []string{"opa", "backend"}})
	f.e(25.3, "opal-server", events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(25.5, "opal-server", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 1})
	f.e(30.1, "opal-server", events.PhaseStart, 0, events.ServiceRetryAttrs{Attempt: 1, Reason: "exited with code 137", BackoffMS: 500})
	f.e(30.7, "opal-server", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 2})
	f.e(36.2, "opal-server", events.PhaseStart, dur(10.9), events.ServiceFailedAttrs{Reason: "health check failed 10 times", ExitCode: ptr(137), OOM: true, HealthOutput: []string{"curl: (7) Failed to connect to localhost port 7002"}, Logs: []string{"starting opal server", "loading policy bundle", "Killed"}, Hint: "raise mem_limit for opal-server (OOM-killed at 512 MiB)"})
	f.e(25.4, "otel-collector", events.PhaseCreate, 0, events.ServiceCreatingAttrs{})
	f.e(25.5, "otel-collector", events.PhaseCreate, dur(0.1), events.ServiceCreatedAttrs{})
	f.e(25.5, "otel-collector", events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(25.6, "otel-collector", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 1})
	f.e(30.0, "opal-server", events.PhaseStart, 0, events.ServiceStatsAttrs{CPUPercent: 88.0, MemBytes: 536870912.0})
	f.e(36.5, "", events.PhaseDeploy, dur(36.5), events.DeployFinishedAttrs{Outcome: "degraded", Error: "opal-server (stretch): health check failed 10 times"})
	return f.evs
}

// hubFailed: keycloak (core) is OOM-killed, so everything that needs it is
// skipped and the deploy fails.
func hubFailed(t0 time.Time, id string) []events.Event {
	f := newFx(t0, id)
	f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{Project: "dive-hub", Services: hubNames, TimeoutMS: 600000})
	f.svc("postgres", 0.6, 0, 0.7, 6.0, nil, "probe", 30)
	f.svc("mongodb", 0.6, 0, 0.7, 6.6, nil, "probe", 41)
	f.svc("redis", 0.6, 0, 0.7, 4.8, nil, "probe", 18)
	f.svc("redis-blacklist", 0.6, 0, 0.7, 4.9, nil, "probe", 19)
	f.svc("opa", 0.6, 0, 0.7, 5.7, nil, "engine", 430)
	f.svc("kas", 1.0, 1.0, 6.7, 15.2, []string{"opa", "mongodb"}, "probe", 75)
	f.e(1.0, "keycloak", events.PhaseCreate, 0, events.ServiceCreatingAttrs{})
	f.e(1.2, "keycloak", events.PhaseCreate, dur(0.2), events.ServiceCreatedAttrs{})
	f.e(1.2, "keycloak", events.PhaseWait, 0, events.ServiceWaitingAttrs{On: []string{"postgres"}})
	f.e(6.1, "keycloak", events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(6.3, "keycloak", events.PhaseStart, 0, events.ServiceStartedAttrs{Attempt: 1})
	f.e(6.1, "keycloak", events.PhaseStart, 0, events.ServiceStatsAttrs{CPUPercent: 190.0, MemBytes: 1073741824.0})
	f.e(40.0, "keycloak", events.PhaseStart, dur(33.9), events.ServiceFailedAttrs{Reason: "exited with code 137", ExitCode: ptr(137), OOM: true, Logs: []string{"Starting Keycloak", "Killed"}, Hint: "keycloak needs more than its 1 GiB mem_limit"})
	for _, n := range []string{"backend", "frontend", "opal-server", "otel-collector"} {
		f.e(1.2, n, events.PhaseWait, 0, events.ServiceWaitingAttrs{On: []string{"keycloak"}})
		f.e(40.1, n, events.PhaseStart, 0, events.ServiceSkippedAttrs{Reason: "dependency keycloak failed", Because: []string{"keycloak"}})
	}
	f.e(40.5, "", events.PhaseDeploy, dur(40.5), events.DeployFinishedAttrs{Outcome: "failed", Error: "keycloak (core): exited with code 137 (OOM-killed)"})
	return f.evs
}

// exampleHistory is twelve deploys of the hub over two weeks, the last one
// being current (a degraded deploy). Durations drift down after a change on
// the eighth deploy; one deploy failed.
func exampleHistory() ([]HistoryEntry, Metrics) {
	scales := []float64{1.32, 1.28, 1.35, 1.30, 1.41, 0, 1.27, 1.02, 0.98, 1.05, 1.0}
	var hist []HistoryEntry
	t := time.Date(2026, 11, 16, 9, 12, 5, 0, time.UTC)
	for i, sc := range scales {
		start := t.Add(time.Duration(i) * 31 * time.Hour)
		id := start.Format("20060102T150405Z") + "-" + []string{"3f9a1c", "b27e40", "0c55d1", "9e1f7a", "44ab02", "d1c3e9", "7a0b6f", "e8d214", "15f0c3", "a9b871", "c2d4e6"}[i]
		var evs []events.Event
		if sc == 0 {
			evs = hubFailed(start, id)
		} else {
			evs = hubSuccess(start, id, sc)
		}
		hist = append(hist, HistoryEntry{Metrics: Compute(hubDeploy(id), evs)})
	}
	start := t.Add(time.Duration(len(scales)) * 31 * time.Hour)
	id := start.Format("20060102T150405Z") + "-5e6f70"
	cur := Compute(hubDeploy(id), hubDegraded(start, id))
	return hist, cur
}
