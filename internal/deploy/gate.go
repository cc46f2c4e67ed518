package deploy

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/graph"
)

// gate orders container operations (create, start, remove) and dive's
// probes. The engine does much of a container start under its own locks:
// six starts at once each take several times longer than one alone. So the
// operations of the services on the critical path (the highest rank among
// the services not started yet) go at once, and other operations wait while
// a critical one is in flight or waiting; every other operation goes in
// parallel, as the engine handles them best, up to the capacity. Waiters are
// served by rank. A probe gate is a plain semaphore served by rank.
type gate struct {
	mu       sync.Mutex
	capacity int
	inflight int
	critical int // critical operations in flight
	seq      int
	waiters  []*waiter
}

type waiter struct {
	prio     float64
	critical bool
	seq      int
	ready    chan struct{}
}

// rankEpsilon: ranks closer than this count as equal.
const rankEpsilon = 0.25

func newGate(capacity int) *gate {
	if capacity <= 0 {
		return nil
	}
	return &gate{capacity: capacity}
}

// acquire waits for its turn. A nil gate never waits. release must be
// called with the same critical flag.
func (g *gate) acquire(ctx context.Context, prio float64, critical bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if g == nil {
		return nil
	}
	g.mu.Lock()
	g.seq++
	w := &waiter{prio: prio, critical: critical, seq: g.seq, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	sort.SliceStable(g.waiters, func(i, j int) bool {
		a, b := g.waiters[i], g.waiters[j]
		if a.critical != b.critical {
			return a.critical
		}
		if a.prio != b.prio {
			return a.prio > b.prio
		}
		return a.seq < b.seq
	})
	g.admitLocked()
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
				g.admitLocked()
				return ctx.Err()
			}
		}
		// admitted while cancelled: give the slot back
		g.releaseLocked(critical)
		return ctx.Err()
	}
}

// admitLocked lets waiters in: critical ones while there is capacity, the
// others only when no critical operation is in flight or waiting.
func (g *gate) admitLocked() {
	for len(g.waiters) > 0 && g.inflight < g.capacity {
		w := g.waiters[0] // critical first, then by rank
		if !w.critical && g.critical > 0 {
			return
		}
		g.waiters = g.waiters[1:]
		g.inflight++
		if w.critical {
			g.critical++
		}
		close(w.ready)
	}
}

func (g *gate) release(critical bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked(critical)
}

func (g *gate) releaseLocked(critical bool) {
	g.inflight--
	if critical {
		g.critical--
	}
	g.admitLocked()
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
