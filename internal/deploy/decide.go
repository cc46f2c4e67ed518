package deploy

import "fmt"

import "github.com/dive-hub/dive/internal/engine"

// action is what the scheduler does with a service's container, decided
// from what the engine shows and what the compose file asks for.
type action int

const (
	// actCreate: no container yet; create one.
	actCreate action = iota
	// actReuse: unchanged, running and ready (healthy, or without a
	// healthcheck): left alone, no probe.
	actReuse
	// actReuseReady: unchanged, running, not checked by the engine yet,
	// but seen ready by an earlier deploy in its current run.
	actReuseReady
	// actReuseCompleted: an unchanged one-shot job that already exited 0.
	actReuseCompleted
	// actKeep: unchanged but not ready yet (starting) or stopped: keep the
	// container; start it if it is not running, then confirm readiness.
	actKeep
	// actRecreate: changed (config hash, --force-recreate, a dependency
	// recreated with restart: true) or broken: replace it.
	actRecreate
)

func (a action) String() string {
	return [...]string{"create", "reuse", "reuse-ready", "reuse-completed", "keep", "recreate"}[a]
}

// observed is what the engine shows of a service's container.
type observed struct {
	exists bool
	c      engine.Container
	// exitedOK: the container exited with code 0 (read for one-shot jobs).
	exitedOK bool
	// readyBefore: an earlier deploy saw this container ready, and it has
	// run without a restart since.
	readyBefore bool
}

// desired is what the compose file asks for.
type desired struct {
	hash           string
	forceRecreate  bool
	depRecreated   bool // a dependency with restart: true was recreated
	hasHealthcheck bool
	oneShot        bool
}

// decide is the pure decision step: observed container + config hash →
// create / reuse / keep / recreate. No engine call, no clock.
func decide(o observed, want desired) action {
	if !o.exists {
		return actCreate
	}
	if o.c.Hash != want.hash || want.forceRecreate || want.depRecreated {
		return actRecreate
	}
	state, health := o.c.State, o.c.Health
	if want.oneShot {
		if state == "exited" && o.exitedOK {
			return actReuseCompleted
		}
		return actRecreate
	}
	if state == "running" && (health == "healthy" || (health == "" && !want.hasHealthcheck)) {
		return actReuse
	}
	if state == "running" && health == "starting" && o.readyBefore {
		return actReuseReady
	}
	if (state == "running" || state == "created" || state == "exited") && health != "unhealthy" {
		return actKeep
	}
	return actRecreate
}

// createReason says why decide chose to create or recreate, for the
// service_creating event: "" for anything else.
func createReason(o observed, want desired, act action) string {
	switch {
	case act != actCreate && act != actRecreate:
		return ""
	case !o.exists:
		return "no container yet"
	case want.forceRecreate:
		return "--force-recreate"
	case o.c.Hash != want.hash:
		return "its configuration or image changed"
	case want.depRecreated:
		return "a dependency it restarts with (depends_on restart: true) was recreated"
	case want.oneShot && o.c.State == "exited":
		return "the one-shot job runs again: its last run did not exit 0"
	case want.oneShot:
		return fmt.Sprintf("the one-shot job runs again: its container was %s", o.c.State)
	case o.c.Health == "unhealthy":
		return fmt.Sprintf("its container was unhealthy (%s)", o.c.Status)
	}
	return fmt.Sprintf("its container was %s", o.c.State)
}
