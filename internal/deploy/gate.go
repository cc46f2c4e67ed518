package deploy

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/graph"
)

// gate bounds how many container operations (create, start, remove) are in
// flight at once and serves waiters by priority. The engine does much of a
// container start under its own locks (network sandbox, iptables): six
// starts at once each take several times longer than one alone. Serving the
// service with the longest chain behind it first takes its start off the
// critical path's clock; services with slack wait their turn.
type gate struct {
	mu      sync.Mutex
	free    int
	seq     int
	waiters []*waiter
}

type waiter struct {
	prio  float64
	seq   int
	ready chan struct{}
}

func newGate(capacity int) *gate {
	if capacity <= 0 {
		return nil
	}
	return &gate{free: capacity}
}

// acquire waits for a slot; higher prio first, then first come. A nil gate
// never waits.
func (g *gate) acquire(ctx context.Context, prio float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.free > 0 && len(g.waiters) == 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	g.seq++
	w := &waiter{prio: prio, seq: g.seq, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	sort.SliceStable(g.waiters, func(i, j int) bool {
		if g.waiters[i].prio != g.waiters[j].prio {
			return g.waiters[i].prio > g.waiters[j].prio
		}
		return g.waiters[i].seq < g.waiters[j].seq
	})
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, x := range g.waiters {
			if x == w {
				g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// handed a slot while cancelled: give it back
		g.releaseLocked()
		return ctx.Err()
	}
}

func (g *gate) release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked()
}

func (g *gate) releaseLocked() {
	if len(g.waiters) > 0 {
		w := g.waiters[0]
		g.waiters = g.waiters[1:]
		close(w.ready)
		return
	}
	g.free++
}

// ranks gives each service the length of the longest chain that waits on
// it, itself included: expected start-to-ready times from history where
// known, else one second per service (the structure alone).
func ranks(g *graph.Graph, expected map[string]time.Duration) map[string]float64 {
	w := func(n string) float64 {
		if d, ok := expected[n]; ok && d > 0 {
			return d.Seconds() + 0.5 // + the container start itself
		}
		return 1
	}
	order := g.Order()
	rank := map[string]float64{}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		best := 0.0
		for _, dep := range g.Dependents(n) {
			if rank[dep] > best {
				best = rank[dep]
			}
		}
		rank[n] = w(n) + best
	}
	return rank
}
