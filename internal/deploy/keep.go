package deploy

// Replacing safely: a changed service's previous container is kept (renamed
// to <name>-dive-prev) until the new one is ready and the deploy has ended,
// so that a failed deploy can restore it (rollback.go). See docs/rollback.md.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/mount"
)

// Keep modes: how the previous container waits while the new one starts.
const (
	// KeepStopped: the old container runs until the new one is about to
	// start (its dependencies are met), then it is stopped.
	KeepStopped = "stopped"
	// KeepSideBySide: the old container keeps running until the new one is
	// ready, then it is stopped.
	KeepSideBySide = "side-by-side"
)

// kept is a service's previous container, kept during the deploy.
type kept struct {
	c       engine.Container // as listed before the deploy (c.Name: its own name)
	mode    string           // KeepStopped or KeepSideBySide
	rule    string           // why that mode
	running bool             // still running (not stopped by this deploy)
}

// keepMode is the pure rule that decides whether a service's old and new
// containers may run side by side: not when two containers of the service
// would compete for something only one can hold. inherited are the old
// container's volumes the new one mounts (engine.Inherit). The first
// reason found is returned with the stopped mode.
func keepMode(s types.ServiceConfig, inherited []mount.Mount) (mode, rule string) {
	for _, p := range s.Ports {
		if p.Published != "" {
			return KeepStopped, "it publishes host port " + p.Published + " (two containers cannot bind it)"
		}
	}
	if s.NetworkMode == "host" {
		return KeepStopped, "network_mode: host (its ports are the host's)"
	}
	if s.ContainerName != "" {
		return KeepStopped, "container_name " + s.ContainerName + " declares a single container"
	}
	for _, v := range s.Volumes {
		if (v.Type == types.VolumeTypeVolume && v.Source != "") || v.Type == types.VolumeTypeBind {
			if !v.ReadOnly {
				return KeepStopped, "it writes to the " + v.Type + " " + v.Source + " (two writers could corrupt its data)"
			}
		}
	}
	for _, m := range inherited {
		if !m.ReadOnly {
			return KeepStopped, "it inherits the anonymous volume at " + m.Target + " of its previous container (two writers could corrupt its data)"
		}
	}
	if s.MacAddress != "" {
		return KeepStopped, "a fixed mac_address"
	}
	for name, n := range s.Networks {
		if n != nil && (n.Ipv4Address != "" || n.Ipv6Address != "" || n.MacAddress != "") {
			return KeepStopped, "a fixed address on network " + name
		}
	}
	return KeepSideBySide, "no published port, container_name, writable volume or fixed address"
}

// keepable says whether a changed service's old container is kept: rollback
// is on, it is a long-running single-container service, and the old one is
// running and not unhealthy (a broken container is nothing to go back to).
func (d *deployer) keepable(r *svcRun, old engine.Container) bool {
	s := r.svc
	return !d.o.NoRollback && !s.OneShot && s.Config.GetScale() <= 1 &&
		old.State == "running" && old.Health != "unhealthy" && !engine.IsPrev(old)
}

// notKeptWhy says why a replaced container of a long-running service was
// not kept (keepable said no).
func notKeptWhy(s *stack.Service, old engine.Container) string {
	if n := s.Config.GetScale(); n > 1 {
		return fmt.Sprintf("the service has %d replicas (only single-container services are kept)", n)
	}
	state := old.State
	if old.Health != "" {
		state += ", " + old.Health
	}
	return "it was " + state + " before this deploy (only a running container that is not unhealthy is kept)"
}

// adoptable: the service is (re)created while a kept container of it, left
// by an earlier deploy that was interrupted, still exists. That one is kept
// for this deploy instead of the current container.
func (d *deployer) adoptable(r *svcRun, act action) (engine.Container, bool) {
	s := r.svc
	stale := d.stalePrev[s.Name] // read only: filled before the services run
	if (act != actCreate && act != actRecreate) || len(stale) != 1 || d.o.NoRollback || s.OneShot || s.Config.GetScale() > 1 {
		return engine.Container{}, false
	}
	return stale[0], true
}

// adoptStale keeps a leftover kept container (adoptable) as the service's
// previous one: a rollback restores it, a deploy that keeps the new one
// removes it.
func (d *deployer) adoptStale(r *svcRun, stale engine.Container, inherited []mount.Mount) {
	c := stale
	c.Name = strings.TrimSuffix(c.Name, engine.PrevSuffix)
	mode, rule := keepMode(r.svc.Config, inherited)
	r.prev = &kept{c: c, mode: mode, rule: rule, running: stale.State == "running"}
	r.staleRemoved = true
	r.res.Kept = mode
	d.emitReplacing(r, r.prev)
}

// keepOld renames the old container out of the new one's way; it keeps
// running. A leftover kept container of the service (an earlier deploy that
// was interrupted) is removed first. inherited: old's volumes the new
// container mounts (they decide the mode).
func (d *deployer) keepOld(ctx context.Context, r *svcRun, old engine.Container, inherited []mount.Mount) error {
	for _, stale := range d.stalePrev[r.svc.Name] { // read only: filled before the services run
		if err := d.eng.Remove(ctx, stale.ID, false); err != nil {
			return fmt.Errorf("remove the leftover kept container %s: %w", stale.Name, err)
		}
	}
	r.staleRemoved = true
	mode, rule := keepMode(r.svc.Config, inherited)
	if err := d.eng.Rename(ctx, old.ID, engine.PrevName(old.Name)); err != nil {
		return fmt.Errorf("rename %s to %s: %w", old.Name, engine.PrevName(old.Name), err)
	}
	r.prev = &kept{c: old, mode: mode, rule: rule, running: true}
	d.emitReplacing(r, r.prev)
	return nil
}

// stopPrev stops the kept container (pre_stop hooks, then its grace
// period); it stays, stopped, until the deploy ends.
func (d *deployer) stopPrev(ctx context.Context, r *svcRun) error {
	p := r.prev
	if p == nil || !p.running {
		return nil
	}
	prio, crit := d.opPrio(r.svc.Name, false)
	if err := d.gate.acquireOp(ctx, prio, crit); err != nil {
		return err
	}
	defer d.gate.releaseOp(crit)
	d.preStop(ctx, r, p.c)
	if err := d.eng.Stop(ctx, p.c.ID, stopGrace(r.svc)); err != nil {
		return fmt.Errorf("stop the previous container %s: %w", engine.PrevName(p.c.Name), err)
	}
	p.running = false
	return nil
}

// stopPrevBeforeStart stops a kept container of the stopped mode right
// before the new one starts. It reports false when that failed (recorded).
func (d *deployer) stopPrevBeforeStart(ctx context.Context, r *svcRun) bool {
	if r.prev == nil || r.prev.mode != KeepStopped {
		return true
	}
	if err := d.stopPrev(ctx, r); err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error()}, "")
		return false
	}
	return true
}

// stopPrevAfterReady stops a side-by-side kept container once the new one
// is ready: from then on only the new one serves. A failed stop is a
// warning: the new container is ready.
func (d *deployer) stopPrevAfterReady(ctx context.Context, r *svcRun) {
	if r.prev == nil || r.prev.mode != KeepSideBySide {
		return
	}
	if err := d.stopPrev(ctx, r); err != nil && ctx.Err() == nil {
		d.emitWarning(events.PhaseRollback, r.svc.Name, err.Error())
	}
}

// stopGrace is the service's stop_grace_period (10 s by default).
func stopGrace(s *stack.Service) time.Duration {
	if sg := s.Config.StopGracePeriod; sg != nil {
		return time.Duration(*sg)
	}
	return 10 * time.Second
}

// dropPrevs removes the kept containers of the services whose new container
// stays (the deploy did not roll them back): stopped first when still
// running (a side-by-side service still starting when the core was ready).
func (d *deployer) dropPrevs(ctx context.Context, names []string) {
	for _, n := range names {
		r := d.svcs[n]
		p := r.prev
		if p == nil {
			continue
		}
		if p.running {
			if err := d.stopPrev(ctx, r); err != nil {
				d.emitWarning(events.PhaseRollback, n, err.Error())
			}
		}
		if err := d.eng.Remove(ctx, p.c.ID, false); err != nil {
			d.emitWarning(events.PhaseRollback, n, fmt.Sprintf("remove the previous container %s: %v", engine.PrevName(p.c.Name), err))
			continue
		}
		r.prev = nil
	}
}

// dropStale removes the kept containers an earlier, interrupted deploy left
// behind, once a deploy did not fail (after a failure they may be the last
// good containers: they stay for the user to look at).
func (d *deployer) dropStale(ctx context.Context) {
	for n, cs := range d.stalePrev {
		if r := d.svcs[n]; r != nil && r.staleRemoved {
			continue
		}
		for _, c := range cs {
			if err := d.eng.Remove(ctx, c.ID, false); err != nil {
				d.emitWarning(events.PhaseRollback, n, fmt.Sprintf("remove the leftover kept container %s: %v", c.Name, err))
			}
		}
	}
}
