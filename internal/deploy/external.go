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
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed, because []string
	for _, e := range deps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Wait(ctx); err != nil && ctx.Err() == nil && e.Required {
				mu.Lock()
				failed = append(failed, e.Name+": "+err.Error())
				because = append(because, e.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		sort.Strings(because)
		d.skip(r, "dependency in another stack did not meet its condition: "+strings.Join(failed, "; "), because)
		return false
	}
	return true
}
