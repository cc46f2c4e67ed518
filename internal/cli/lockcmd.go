package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/lock"
)

// acquireLock takes the project's deployment lock (see internal/lock): the
// file lock under <stateDir>/<project>/ and the engine marker volume
// dive-lock_<project>. hold is how long the holder may keep it (the deploy
// timeout); wait is --wait-lock. down passes "down" as its deploy id.
// A lock held by another live deploy is a *lock.HeldError and exits 1.
// The returned release is safe to call more than once.
func (a *app) acquireLock(ctx context.Context, eng *engine.Engine, l *loaded, deployID string, wait, hold time.Duration) (func(), error) {
	command := "deploy"
	if deployID == "down" {
		command = "down"
	}
	warn := func(s string) { fmt.Fprintf(a.stderr, "dive: warning: %s\n", s) }
	o := lock.Options{
		Dir:      l.stateDir,
		Project:  l.st.Project.Name,
		DeployID: deployID,
		Command:  command,
		Hold:     hold,
		Wait:     wait,
		Version:  Version,
		Warn:     warn,
	}
	if eng != nil {
		o.Engine = eng
	}
	if a.g.callTimeout > 0 {
		o.CallTimeout = a.g.callTimeout
	}
	lk, err := lock.Acquire(ctx, o)
	if err != nil {
		if lock.IsHeld(err) {
			return func() {}, &ExitError{Code: ExitFailed, Err: err}
		}
		return func() {}, fmt.Errorf("deployment lock of project %s: %w", o.Project, err)
	}
	return func() {
		if err := lk.Release(); err != nil {
			warn(fmt.Sprintf("releasing the deployment lock of project %s: %v", o.Project, err))
		}
	}, nil
}
