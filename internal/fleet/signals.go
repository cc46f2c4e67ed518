package fleet

import (
	"context"
	"fmt"
	"sync"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
)

// outcome is a one-shot result many goroutines wait on.
type outcome struct {
	once  sync.Once
	final chan struct{}
	err   error
}

func newOutcome() *outcome { return &outcome{final: make(chan struct{})} }

func (o *outcome) set(err error) { o.once.Do(func() { o.err = err; close(o.final) }) }

func (o *outcome) wait(ctx context.Context) error {
	select {
	case <-o.final:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// svcSignals are what other stacks wait on for one service: its start and
// its readiness, as the service's own stack reports them in its events.
type svcSignals struct{ started, ready *outcome }

// tracker turns every stack's events into per-service signals: the same
// meaning deploy gives service_started and service_ready inside one stack,
// so an edge across stacks gates exactly like a local one. Event-driven:
// nothing polls.
type tracker struct {
	mu   sync.Mutex
	svcs map[Ref]*svcSignals
}

func newTracker() *tracker { return &tracker{svcs: map[Ref]*svcSignals{}} }

func (t *tracker) get(r Ref) *svcSignals {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.svcs[r]
	if s == nil {
		s = &svcSignals{started: newOutcome(), ready: newOutcome()}
		t.svcs[r] = s
	}
	return s
}

// observe reads one event of a stack.
func (t *tracker) observe(stackName string, e events.Event) {
	if e.Service == "" {
		return
	}
	s := t.get(Ref{Stack: stackName, Service: e.Service})
	switch e.Kind {
	case events.ServiceStarted:
		s.started.set(nil)
	case events.ServiceReady, events.ServiceReused:
		s.started.set(nil)
		s.ready.set(nil)
	case events.ServiceFailed, events.ServiceSkipped:
		var reason string
		switch at := e.Attrs.(type) {
		case events.ServiceFailedAttrs:
			reason = at.Reason
		case events.ServiceSkippedAttrs:
			reason = at.Reason
		}
		err := fmt.Errorf("%s.%s %s: %s", stackName, e.Service, failedWord(e.Kind), reason)
		s.started.set(err)
		s.ready.set(err)
	}
}

func failedWord(k events.Kind) string {
	if k == events.ServiceSkipped {
		return "was skipped"
	}
	return "failed"
}

// settle fails every signal of a stack still open: its deploy is over (or
// never began), so what has not happened will not.
func (t *tracker) settle(stackName string, services []string, why error) {
	for _, n := range services {
		s := t.get(Ref{Stack: stackName, Service: n})
		err := fmt.Errorf("%s.%s never got there: %w", stackName, n, why)
		s.started.set(err)
		s.ready.set(err)
	}
}

// externalDeps builds the scheduler's hook for one stack's cross-stack edges.
func (t *tracker) externalDeps(deps map[string][]Dep) map[string][]deploy.ExternalDep {
	out := map[string][]deploy.ExternalDep{}
	for svc, ds := range deps {
		for _, d := range ds {
			sig := t.get(d.To)
			o := sig.ready
			if d.Condition == graph.Started {
				o = sig.started
			}
			out[svc] = append(out[svc], deploy.ExternalDep{
				Name:     fmt.Sprintf("%s (%s)", d.To, d.Condition),
				Required: d.Required,
				Wait:     o.wait,
			})
		}
	}
	return out
}
