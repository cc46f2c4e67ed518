package deploy

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/graph"
)

// gate is the one CPU-aware budget that container operations (create,
// start, remove) and dive's exec probes share. The engine does much of a
// container start under its own locks: six starts at once each take several
// times longer than one alone. So the operations of the services on the
// critical path (the highest rank among the services not started yet) go at
// once, and other operations wait while a critical one is in flight or
// waiting; every other operation goes in parallel, up to opCap. Probes come
// last: one is admitted only while no operation waits and no critical one
// is in flight, up to probeCap in flight, and — while probes compete — no
// sooner than spacing() after the previous one (the cost model: probes keep
// within a share of the CPUs). Waiters of each kind are served by rank.
type gate struct {
	mu       sync.Mutex
	opCap    int
	probeCap int
	ops      int // operations in flight
	critical int // critical operations in flight
	probes   int // probes in flight
	seq      int
	waiters  []*waiter
	// spacing is the least time between two probe admissions (nil: none).
	spacing   func() time.Duration
	now       func() time.Time
	nextProbe time.Time
	wake      *time.Timer
}

type waiter struct {
	probe    bool
	critical bool
	prio     float64
	seq      int
	ready    chan struct{}
}

// rankEpsilon: ranks closer than this count as equal.
const rankEpsilon = 0.25

// newGate: opCap <= 0 means unbounded operations; probeCap <= 0 one probe.
func newGate(opCap, probeCap int, spacing func() time.Duration, now func() time.Time) *gate {
	if opCap <= 0 {
		opCap = 1 << 30
	}
	return &gate{opCap: opCap, probeCap: max(1, probeCap), spacing: spacing, now: now}
}

// acquireOp waits for a container operation's turn. releaseOp must be
// called with the same critical flag.
func (g *gate) acquireOp(ctx context.Context, prio float64, critical bool) error {
	return g.acquire(ctx, &waiter{prio: prio, critical: critical})
}

func (g *gate) releaseOp(critical bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked(&waiter{critical: critical})
}

// acquireProbe waits for a probe's turn; releaseProbe gives it back.
func (g *gate) acquireProbe(ctx context.Context, prio float64) error {
	return g.acquire(ctx, &waiter{probe: true, prio: prio})
}

func (g *gate) releaseProbe() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked(&waiter{probe: true})
}

func (g *gate) acquire(ctx context.Context, w *waiter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.ready = make(chan struct{})
	g.mu.Lock()
	g.seq++
	w.seq = g.seq
	g.waiters = append(g.waiters, w)
	sort.SliceStable(g.waiters, func(i, j int) bool { return before(g.waiters[i], g.waiters[j]) })
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
		g.releaseLocked(w)
		return ctx.Err()
	}
}

// before orders waiters: operations before probes, critical operations
// first, then by rank, then first come.
func before(a, b *waiter) bool {
	if a.probe != b.probe {
		return !a.probe
	}
	if a.critical != b.critical {
		return a.critical
	}
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.seq < b.seq
}

// admitLocked lets waiters in, in order, while the rules allow.
func (g *gate) admitLocked() {
	for len(g.waiters) > 0 {
		w := g.waiters[0]
		if !w.probe {
			if g.ops >= g.opCap || (!w.critical && g.critical > 0) {
				return
			}
			g.ops++
			if w.critical {
				g.critical++
			}
		} else {
			// No operation waits (they sort first).
			if g.probes >= g.probeCap || g.critical > 0 {
				return
			}
			if g.spacing != nil {
				// The spacing bounds the probes' aggregate rate: it holds
				// only while probes compete (more than one waits). A
				// service probing alone is bounded by its own cadence and
				// its one probe in flight.
				now := g.now()
				if wait := g.nextProbe.Sub(now); wait > 0 && len(g.waiters) > 1 {
					g.wakeLocked(wait)
					return
				}
				g.nextProbe = now.Add(g.spacing())
			}
			g.probes++
		}
		g.waiters = g.waiters[1:]
		close(w.ready)
	}
}

// wakeLocked admits again after wait (a probe held back by the spacing).
func (g *gate) wakeLocked(wait time.Duration) {
	if g.wake != nil {
		return
	}
	g.wake = time.AfterFunc(wait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.wake = nil
		g.admitLocked()
	})
}

func (g *gate) releaseLocked(w *waiter) {
	if w.probe {
		g.probes--
	} else {
		g.ops--
		if w.critical {
			g.critical--
		}
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
