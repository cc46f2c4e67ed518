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
		o.CallContext = eng.CallContext
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
			warn(releaseFailed(ctx, o, lk, err))
		}
	}, nil
}

// releaseFailed says what a failed release leaves behind and how it heals.
func releaseFailed(ctx context.Context, o lock.Options, lk *lock.Lock, err error) string {
	msg := fmt.Sprintf("releasing the deployment lock of project %s: %v", o.Project, err)
	if ctx.Err() != nil {
		msg = fmt.Sprintf("the engine did not answer within %s of the interrupt, so the lock marker volume %s is left behind", engine.DefaultAfterInterrupt, lock.MarkerName(o.Project))
	}
	return msg + fmt.Sprintf("; the next deploy or down takes it over: at once on this host (this process, holder %s, will be gone), from another host once its hold expires at %s",
		lk.Holder(), lk.Expires().UTC().Format(time.RFC3339))
}
