package preflight

import (
	"context"
	"net/netip"
	"testing"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/validate"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
)

// bindingEngine also says which ports a container is configured to publish.
type bindingEngine struct {
	*fakeEngine
	bindings map[string][]container.PortSummary
}

func (b bindingEngine) PortBindings(_ context.Context, id string) ([]container.PortSummary, error) {
	return b.bindings[id], nil
}

// A project's own container that holds its port while the container list
// shows none (restarting, or being started by a killed deploy) is the
// project's, not another process.
func TestOwnRestartingContainerHoldsItsPort(t *testing.T) {
	st := load(t, simple, nil, nil)
	inUse := takenAt("127.0.0.1:6380")
	f := newFake()
	f.own = []engine.Container{{ID: "c1", Name: "pf-redis-1", Service: "redis", Project: "pf", State: "restarting"}}
	eng := bindingEngine{fakeEngine: f, bindings: map[string][]container.PortSummary{
		"c1": {{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 6379, PublicPort: 6380, Type: "tcp"}}}}
	rep := Run(context.Background(), st, eng, opts(10<<30, 4<<30, inUse))
	for _, c := range find(rep, CheckPort) {
		if c.Service == "redis" {
			assert.Equal(t, validate.Pass, c.Status, c.Detail)
			assert.Contains(t, c.Detail, "held by this project's container pf-redis-1")
		}
	}
	// Without the configured bindings it would be another process.
	rep = Run(context.Background(), st, f, opts(10<<30, 4<<30, inUse))
	for _, c := range find(rep, CheckPort) {
		if c.Service == "redis" {
			assert.Contains(t, c.Detail, "in use by another process")
		}
	}
}
