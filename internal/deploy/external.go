package deploy

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/dive-hub/dive/internal/events"
)

// ExternalDep is a dependency of a service on something outside its stack:
// in a fleet, a service of another stack, on another engine. The caller
// decides what meeting the condition means; the scheduler only waits.
type ExternalDep struct {
	// Name says what is waited on, e.g. "hub.keycloak (service_healthy)".
	Name string
	// Required: when Wait fails, the service is skipped (a core service's
	// skip fails the deploy, as for a local dependency). When false, the
	// service starts anyway.
	Required bool
	// Wait returns nil once the condition holds, an error once it never
	// will, or the context's error. It must return when ctx ends.
	Wait func(ctx context.Context) error
}

// waitExternal waits for the service's external dependencies (Options.
// ExternalDeps), all at once. It returns false when the service was skipped
// or the deploy stopped. Waiting for them before the local ones costs
// nothing: the service starts when the last of either holds.
func (d *deployer) waitExternal(ctx context.Context, r *svcRun) bool {
	deps := d.o.ExternalDeps[r.svc.Name]
	if len(deps) == 0 {
		return true
	}
	on := make([]string, 0, len(deps))
	for _, e := range deps {
		on = append(on, e.Name)
	}
	d.svcEvent(r, events.PhaseWait, 0, events.ServiceWaitingAttrs{Class: class(r), On: on, External: true})
	waits := make([]depWait, 0, len(deps))
	for _, e := range deps {
		waits = append(waits, depWait{name: e.Name, required: e.Required, wait: e.Wait})
	}
	because, errs := waitAll(ctx, waits)
	if ctx.Err() != nil {
		return false
	}
	failed := make([]string, len(because))
	for i, name := range because {
		failed[i] = name + ": " + errs[i].Error()
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		d.skip(r, "dependency in another stack did not meet its condition: "+strings.Join(failed, "; "), because)
		return false
	}
	return true
}

// depWait is one condition a service waits on before it starts.
type depWait struct {
	name     string
	required bool
	wait     func(ctx context.Context) error
}

// waitAll waits for every condition at once and returns, sorted by name,
// the required ones that can no longer hold, with their errors (none when
// ctx ended first).
func waitAll(ctx context.Context, waits []depWait) (failed []string, errs []error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	byName := map[string]error{}
	for _, w := range waits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.wait(ctx); err != nil && ctx.Err() == nil && w.required {
				mu.Lock()
				byName[w.name] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, nil
	}
	for name := range byName {
		failed = append(failed, name)
	}
	sort.Strings(failed)
	for _, name := range failed {
		errs = append(errs, byName[name])
	}
	return failed, errs
}
