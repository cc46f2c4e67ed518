package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
)

// OrphanWarning is docker compose's warning about orphan containers, with
// their names ([a b]).
func OrphanWarning(names string) string {
	return fmt.Sprintf("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names)
}

// OrphanRemoved starts the message of the info event for each orphan
// container Options.RemoveOrphans removed.
const OrphanRemoved = "removed orphan container"

// orphanStopGrace is how long an orphan is given to stop when its container
// does not say (its service's stop_grace_period is in its StopTimeout).
const orphanStopGrace = 10 * time.Second

// handleOrphans warns about the project's orphan containers (observeProject
// found them), or with Options.RemoveOrphans stops and removes them, before
// any service's container is created: an orphan may hold a host port, a
// container_name or a fixed address the file's services need.
func (d *deployer) handleOrphans(ctx context.Context) error {
	if len(d.orphans) == 0 {
		return nil
	}
	if !d.o.RemoveOrphans {
		d.emitWarning(events.PhaseDeploy, "", OrphanWarning(engine.OrphanNames(d.orphans)))
		return nil
	}
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range d.orphans {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t0 := d.now()
			if err := d.removeOrphan(ctx, c); err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s (service %s): %v", c.Name, c.Service, err))
				mu.Unlock()
				return
			}
			d.emitOrphanRemoved(c, d.now().Sub(t0))
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("--remove-orphans could not remove %s; nothing of the file's services was created: remove them yourself (docker rm -f NAME, or dive hub down) and deploy again",
			strings.Join(failed, "; "))
	}
	return nil
}

// removeOrphan stops an orphan container with its own stop grace period
// (its service's stop_grace_period, which the container carries), then
// removes it; its anonymous volumes stay, as docker compose leaves them.
func (d *deployer) removeOrphan(ctx context.Context, c engine.Container) error {
	grace := orphanStopGrace
	if c.State == "running" || c.State == "restarting" || c.State == "paused" {
		if ins, err := d.eng.Inspect(ctx, c.ID); err == nil && ins.Config != nil && ins.Config.StopTimeout != nil {
			grace = time.Duration(*ins.Config.StopTimeout) * time.Second
		}
		if err := d.eng.Stop(ctx, c.ID, grace); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
	}
	if err := d.eng.Remove(ctx, c.ID, false); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}
