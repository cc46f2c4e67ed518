package preflight

import (
	"context"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/api/types/container"
)

// bindingLister is what an engine offers when it can say which host ports a
// container is configured to publish, whatever its state (*engine.Engine,
// through the CLI's adapter).
type bindingLister interface {
	PortBindings(ctx context.Context, id string) ([]container.PortSummary, error)
}

// configuredPorts remembers, per container, the host ports it is configured
// to publish: a container of the project that is still being started (or
// runs in host network mode) holds its ports while the container list
// shows none, and must not be taken for another process.
type configuredPorts struct {
	ctx  context.Context
	eng  Engine
	seen map[string][]container.PortSummary
}

func newConfiguredPorts(ctx context.Context, eng Engine) *configuredPorts {
	return &configuredPorts{ctx: ctx, eng: eng, seen: map[string][]container.PortSummary{}}
}

// publishes reports whether c is configured to publish p. Not safe for
// concurrent use.
func (cp *configuredPorts) publishes(c engine.Container, p hostPort) bool {
	bl, ok := cp.eng.(bindingLister)
	if !ok {
		return false
	}
	ports, done := cp.seen[c.ID]
	if !done {
		ports, _ = bl.PortBindings(cp.ctx, c.ID)
		cp.seen[c.ID] = ports
	}
	return publishes(engine.Container{Ports: ports}, p)
}
