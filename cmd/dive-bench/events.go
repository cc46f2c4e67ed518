package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
)

type svcTimes struct {
	starting, started, ready time.Time
	readyDur                 time.Duration // service_ready's duration: from just before the engine's start call
	reused                   bool
	signal                   string
}

type deployEvents struct {
	begin, end time.Time
	outcome    string
	svcs       map[string]*svcTimes
	// the preflight and validation summaries' durations (0 when absent)
	preflight, validate time.Duration
}

func readEvents(path string) (*deployEvents, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := events.ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	de := &deployEvents{svcs: map[string]*svcTimes{}}
	get := func(n string) *svcTimes {
		if de.svcs[n] == nil {
			de.svcs[n] = &svcTimes{}
		}
		return de.svcs[n]
	}
	for _, e := range evs {
		switch e.Kind {
		case events.DeployStarted:
			de.begin = e.Time
		case events.DeployFinished:
			de.end = e.Time
			if at, ok := e.Attrs.(events.DeployFinishedAttrs); ok {
				de.outcome = at.Outcome
			}
		case events.ServiceStarting:
			get(e.Service).starting = e.Time
		case events.ServiceStarted:
			get(e.Service).started = e.Time
		case events.ServiceReady:
			st := get(e.Service)
			st.ready = e.Time
			st.readyDur = e.Duration
			if at, ok := e.Attrs.(events.ServiceReadyAttrs); ok {
				st.signal = string(at.Signal)
			}
		case events.ServiceReused:
			get(e.Service).reused = true
		case events.Info, events.Warning:
			// the summary line of the preflight and of the validation
			if n, _ := events.NoteOf(e.Attrs); n.Verdict != "" && e.Service == "" {
				switch e.Phase {
				case events.PhasePreflight:
					de.preflight = e.Duration
				case events.PhaseValidate:
					de.validate = e.Duration
				}
			}
		}
	}
	return de, nil
}

// newEventsFile returns the events.jsonl of the deploy that is not in seen.
func newEventsFile(stateDir, proj string, seen map[string]bool) (string, error) {
	files, err := filepath.Glob(filepath.Join(stateDir, proj, "deploys", "*", "events.jsonl"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for i := len(files) - 1; i >= 0; i-- {
		if !seen[files[i]] {
			seen[files[i]] = true
			return files[i], nil
		}
	}
	return "", fmt.Errorf("no new events.jsonl under %s", filepath.Join(stateDir, proj, "deploys"))
}

// startCall is the engine's container start call. service_starting is
// emitted before the start waits for a slot of dive's own operation gate,
// so starting -> started includes dive's queueing; service_ready's duration
// counts from just before the engine call (after the gate), so
// readyDur - (ready - started) is the call itself. When that does not hold
// (no ready event, or a value outside [0, starting->started]) the whole
// starting -> started span is used.
func startCall(st *svcTimes) time.Duration {
	span := st.started.Sub(st.starting)
	if st.ready.IsZero() || st.readyDur <= 0 {
		return span
	}
	call := st.readyDur - st.ready.Sub(st.started)
	if call < 0 || call > span+5*time.Millisecond {
		return span
	}
	return min(call, span)
}

// breakdown is where one dive deploy's wall time went.
type breakdown struct {
	wall       time.Duration
	pre        time.Duration   // process start -> deploy_started (load the file, connect)
	deploy     time.Duration   // deploy_started -> deploy_finished
	post       time.Duration   // deploy_finished -> process exit (records, lock release)
	preflight  time.Duration   // the preflight checks (inside deploy)
	validate   time.Duration   // the validation after the deploy (inside deploy)
	startCosts []time.Duration // the engine's container start call
	startSpans []time.Duration // service_starting -> service_started, dive's own queueing included
	// along the observed critical path (the chain that was ready last):
	path         []string
	pathDispatch time.Duration // dependencies met (or deploy start) -> service_starting
	pathStart    time.Duration // the engine's container start calls
	pathQueue    time.Duration // service_starting -> service_started minus the call: waiting for dive's operation gate
	pathApp      time.Duration // the applications' own delays
	pathLag      time.Duration // ready seen by dive - (started + delay)
	lags         []time.Duration
	orderErr     error
	reused       int
	services     int
}

func analyze(s *stackDef, de *deployEvents, t0 time.Time, wall time.Duration) *breakdown {
	bd := &breakdown{wall: wall, preflight: de.preflight, validate: de.validate}
	if !de.begin.IsZero() {
		bd.pre = de.begin.Sub(t0)
	}
	if !de.end.IsZero() && !de.begin.IsZero() {
		bd.deploy = de.end.Sub(de.begin)
		bd.post = t0.Add(wall).Sub(de.end)
	}
	started := map[string]time.Time{}
	ready := map[string]time.Time{}
	bd.services = len(de.svcs)
	for n, st := range de.svcs {
		if st.reused {
			bd.reused++
		}
		if !st.starting.IsZero() && !st.started.IsZero() {
			bd.startSpans = append(bd.startSpans, st.started.Sub(st.starting))
			bd.startCosts = append(bd.startCosts, startCall(st))
			started[n] = st.starting
		}
		if !st.ready.IsZero() {
			ready[n] = st.ready
			if v := s.svc(n); v != nil && !st.started.IsZero() {
				bd.lags = append(bd.lags, st.ready.Sub(st.started)-appDelay(v))
			}
		}
	}
	if len(started) > 0 {
		bd.orderErr = s.graph(false).Validate(started, ready)
	}
	// The observed critical path: from the service ready last, back through
	// the dependency whose condition was met last, to a service with none.
	condTime := func(d dep) time.Time {
		ds := de.svcs[d.name]
		if ds == nil {
			return time.Time{}
		}
		if d.cond == graph.Started {
			return ds.started
		}
		return ds.ready
	}
	var end string
	for _, v := range s.services {
		if st := de.svcs[v.name]; st != nil && !st.ready.IsZero() && (end == "" || st.ready.After(de.svcs[end].ready)) {
			end = v.name
		}
	}
	for n := end; n != ""; {
		v, st := s.svc(n), de.svcs[n]
		bd.path = append([]string{n}, bd.path...)
		met, next := de.begin, ""
		for _, d := range v.deps {
			if t := condTime(d); t.After(met) {
				met, next = t, d.name
			}
		}
		if !st.starting.IsZero() && !st.started.IsZero() && !st.ready.IsZero() {
			bd.pathDispatch += st.starting.Sub(met)
			call := startCall(st)
			bd.pathStart += call
			bd.pathQueue += st.started.Sub(st.starting) - call
			bd.pathApp += appDelay(v)
			bd.pathLag += st.ready.Sub(st.started) - appDelay(v)
		}
		n = next
	}
	return bd
}
