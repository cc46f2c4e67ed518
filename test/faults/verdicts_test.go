package faults

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Verdicts from evidence: what dive says about a failing service must come
// from the container's state, never from a race between a probe and the
// container's death. Each test runs a probe-heavy scenario (dive's probe on,
// 1 s engine checks) and asserts the verdict; none may blame the
// healthcheck's command.

// notTheCommand fails the test when dive blamed the healthcheck's command.
func notTheCommand(t *testing.T, r *result) {
	t.Helper()
	out := r.output()
	for _, bad := range []string{"healthcheck command", "cannot be executed (probe exit", "not found in the image (probe exit", "healthcheck's command is not in the image"} {
		if strings.Contains(out, bad) {
			t.Errorf("dive blamed the healthcheck's command (%q) for a container that was not running steadily", bad)
		}
	}
}

// A container in a crash loop, probed densely all along (its probes run
// into a restarting container: "cannot exec in a stopped state", setns
// failures), is a crash loop, never a broken healthcheck command.
func TestCrashLoopNeverBlamesTheCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "crash-loop-probe")
	f.slot()
	f.write(`services:
  loop:
` + image + `    restart: always
    labels:
      dive.health.probe-interval: 50ms
    environment:
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 100ms
` + slowHealthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ loop (core) failed", "crash loop", "restart policy always")
	notTheCommand(t, r)
	within(t, "whole deploy (hang guard)", r.elapsed, 90*time.Second, 1)
	t.Logf("left: %s", describe(f.containers()))
}

// A container that exits while dive probes it is an exit with its code.
func TestExitDuringProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "exit-probe")
	f.slot()
	f.write(`services:
  db:
` + image + `    restart: "no"
    labels:
      dive.health.probe-interval: 50ms
    environment:
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 700ms
      STANDIN_EXIT_CODE: "42"
` + slowHealthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ db (core) failed", "exited with code 42")
	notTheCommand(t, r)
	within(t, "whole deploy (hang guard)", r.elapsed, 90*time.Second, 1)
}

// A container restarted by its policy while dive probes it (it crashes in
// its first run only) is not a failure: the restart is tolerated and the
// service turns ready in its second run.
func TestRestartDuringProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "restart-probe")
	f.slot()
	f.write(`services:
  api:
` + image + `    restart: on-failure
    labels:
      dive.health.probe-interval: 50ms
    environment:
      STANDIN_MODE: crash
      STANDIN_CRASH_RUNS: "1"
      STANDIN_READY_AFTER: 1500ms
      STANDIN_CRASH_AFTER: 500ms
` + healthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 0)
	wantOutput(t, r, "restart policy on-failure restarts it")
	notTheCommand(t, r)
	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	if c := cs["api"]; c.State == nil || !c.State.Running || c.RestartCount < 1 {
		t.Errorf("api should be running after at least one restart (state %s, restarts %d)", describe(cs), c.RestartCount)
	}
}

// A container killed for running out of memory after dive's probe found it
// ready — while another core service still starts, so the deploy has not
// ended — fails the deploy as an OOM kill.
func TestOOMAfterProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "oom-probe")
	f.slot()
	f.write(`services:
  hog:
` + image + `    restart: "no"
    environment:
      STANDIN_MODE: oom
    deploy:
      resources:
        limits:
          memory: 24M
` + healthcheck + `  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 20s
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 5s
      retries: 10
      start_period: 60s
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ hog (core) failed")
	notTheCommand(t, r)
	if !strings.Contains(r.output(), "out of memory") && !strings.Contains(r.output(), "exited with code 137") {
		t.Errorf("the verdict should be the OOM kill (or, when the engine misses the OOM flag under load, exit 137)")
	}
	within(t, "whole deploy (hang guard)", r.elapsed, 90*time.Second, 1)
	t.Logf("left: %s", describe(f.containers()))
}

// A core service without a healthcheck whose command exits 100 ms after
// its start is not ready: the deploy fails naming its exit code (it used to
// exit 0, "every service is ready").
func TestNoHealthcheckEarlyExit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "nohc-exit")
	f.slot()
	f.write(`services:
  svc:
` + image + `    restart: "no"
    environment:
      STANDIN_MODE: crash
      STANDIN_CRASH_AFTER: 100ms
      STANDIN_EXIT_CODE: "7"
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ svc (core) failed", "exited with code 7")
	within(t, "whole deploy (hang guard)", r.elapsed, 90*time.Second, 1)
}

// midDeploy deploys a ready core service and a slow one, and does what to
// the ready one's container once it is ready; it returns dive's result and
// when the container died.
func midDeploy(t *testing.T, scenario string, what func(ctx context.Context, id string) error) (*fixture, *result, time.Time) {
	f := newFixture(t, scenario)
	f.slot()
	f.write(`services:
  db:
` + image + healthcheck + `  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 30s
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 5s
      retries: 10
      start_period: 60s
`)
	p := f.start(nil, f.hub("deploy")...)
	if !p.waitState(60*time.Second, "db", "healthy") {
		p.wait()
		t.Fatal("db never became healthy")
	}
	var id string
	for svc, c := range f.containers() {
		if svc == "db" {
			id = c.ID
		}
	}
	if id == "" {
		p.wait()
		t.Fatal("no db container")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	died := time.Now()
	if err := what(ctx, id); err != nil {
		t.Fatalf("%s db: %v", scenario, err)
	}
	return f, p.wait(), died
}

// A core dependency killed mid-deploy fails the deploy within 2 s, naming it.
func TestCoreKilledMidDeploy(t *testing.T) {
	t.Parallel()
	f, r, died := midDeploy(t, "core-killed", func(ctx context.Context, id string) error {
		_, err := docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"})
		return err
	})
	wantCode(t, r, 1)
	wantOutput(t, r, "db (core) failed", "after it was ready", "stopped from outside dive")
	within(t, "exit after the kill", r.end.Sub(died), 2*time.Second, 2)
	t.Logf("left: %s", describe(f.containers()))
}

// A container removed mid-deploy (docker rm -f) is reported removed, not
// "exited with code 137".
func TestCoreRemovedMidDeploy(t *testing.T) {
	t.Parallel()
	_, r, died := midDeploy(t, "core-removed", func(ctx context.Context, id string) error {
		_, err := docker.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		return err
	})
	wantCode(t, r, 1)
	wantOutput(t, r, "db (core) failed", "removed during the deploy")
	if regexp.MustCompile(`db.*exited with code 137`).MatchString(r.output()) {
		t.Errorf("a removed container must not be reported as exited 137")
	}
	within(t, "exit after the removal", r.end.Sub(died), 2*time.Second, 2)
}
