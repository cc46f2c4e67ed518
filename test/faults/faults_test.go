package faults

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/moby/moby/api/types/container"
)

// The stand-in's own healthcheck, as every demo service has it: exec form,
// no shell (the image is FROM scratch). Short interval: dive's own probe
// runs earlier still. The start period and the generous timeout keep the
// engine from calling a slow service unhealthy, and the derived budget
// (30s + 3 × (1s + 5s) = 48s) from running out, on a loaded 2-core machine:
// only the scenario's own fault may fail a deploy.
const healthcheck = `    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 1s
      timeout: 5s
      retries: 3
      start_period: 30s
`

// slowHealthcheck is the check of a service that takes 5s or more to
// become ready (the same check; the name says why it matters there).
const slowHealthcheck = healthcheck

// image is every service's image: the stand-in, from TestMain's environment.
const image = "    image: ${DIVE_STANDIN_IMAGE}\n"

// An optional service that never becomes ready does not hold the deploy:
// dive exits 0 as soon as the core is ready and reports it pending.
func TestOptionalNeverReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "optional-never-ready")
	f.slot()
	f.write(`services:
  api:
` + image + `    environment:
      STANDIN_READY_AFTER: 1s
` + healthcheck + `  extra:
` + image + `    labels:
      dive.service.class: optional
    environment:
      STANDIN_MODE: never-ready
` + healthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 0)
	wantOutput(t, r, "degraded", "extra (optional) pending")

	recs := f.lastDeployEvents()
	ready := eventTime(recs, events.ServiceReady, "api")
	if ready.IsZero() {
		t.Fatal("no service_ready event for api")
	}
	// The scheduler's part ends with the deploy's first event after it:
	// the post-deploy validation's, or deploy_finished. The validation that
	// follows (one exec of the pending service's healthcheck among others)
	// is part of the exit time but not of the scheduling.
	done := validationStart(recs)
	if done.IsZero() {
		done = eventTime(recs, events.DeployFinished, "")
	}
	within(t, "core ready → scheduler done", done.Sub(ready), time.Second, 2)
	within(t, "core ready → dive exit (with the post-deploy validation)", r.end.Sub(ready), 10*time.Second, 1)
	within(t, "whole deploy (hang guard)", r.elapsed, 60*time.Second, 1)

	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	if c, ok := cs["api"]; !ok || c.State == nil || !c.State.Running {
		t.Errorf("api should be left running")
	}
	if c, ok := cs["extra"]; !ok || c.State == nil || !c.State.Running {
		t.Errorf("extra should be left running (still starting, not waited on)")
	}
}

// validationStart is when the post-deploy validation began: its events come
// at its end, the summary with its duration; zero when there is none.
func validationStart(recs []events.Record) time.Time {
	for _, r := range recs {
		if r.Phase != events.PhaseValidate {
			continue
		}
		if ev, err := events.FromRecord(r); err != nil {
			continue
		} else if n, _ := events.NoteOf(ev.Attrs); n.Verdict == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, r.TS); err == nil {
			return t.Add(-time.Duration(r.DurationMS * float64(time.Millisecond)))
		}
	}
	return time.Time{}
}

// A stretch service that crashes is reported, and the deploy succeeds
// (degraded) once the core is ready.
func TestStretchCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "stretch-crash")
	f.slot()
	f.write(`services:
  api:
` + image + `    environment:
      STANDIN_READY_AFTER: 2s
` + healthcheck + `  flaky:
` + image + `    restart: "no"
    labels:
      dive.service.class: stretch
    environment:
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 300ms
` + slowHealthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 0)
	wantOutput(t, r, "flaky (stretch) failed", "exit code 1", "degraded")
	within(t, "whole deploy (hang guard)", r.elapsed, 60*time.Second, 1)

	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	if c := cs["api"]; c.State == nil || !c.State.Running {
		t.Errorf("api should be left running")
	}
	if c := cs["flaky"]; c.State == nil || c.State.Status != "exited" || c.State.ExitCode != 1 {
		t.Errorf("flaky should be left exited with code 1")
	}
}

// A core service that crashes fails the deploy within 2s of the crash,
// naming the service and its exit code; what depends on it is skipped and
// never started.
func TestCoreCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "core-crash")
	f.slot()
	f.write(`services:
  db:
` + image + `    restart: "no"
    environment:
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 1s
      STANDIN_EXIT_CODE: "42"
` + slowHealthcheck + `  api:
` + image + `    depends_on:
      db:
        condition: service_healthy
` + healthcheck + `  web:
` + image + `    depends_on:
      api:
        condition: service_healthy
` + healthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ db (core) failed", "exit code 42", "deploy failed")
	if !regexp.MustCompile(`(?m)^- api \(core\) skipped: .*db`).MatchString(r.stdout) {
		t.Errorf("api (depends on db) should be reported skipped because of db; summary:\n%s", summary(r.stdout))
	}
	if !regexp.MustCompile(`(?m)^- web \(core\) skipped: .*api`).MatchString(r.stdout) {
		t.Errorf("web (depends on api) should be reported skipped because of api; summary:\n%s", summary(r.stdout))
	}

	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	db, ok := cs["db"]
	if !ok || db.State == nil {
		t.Fatal("db's container is gone")
	}
	crashed := parseDockerTime(db.State.FinishedAt)
	if crashed.IsZero() {
		t.Fatalf("db has not finished (state %s)", db.State.Status)
	}
	within(t, "exit after the crash (db FinishedAt → dive exit)", r.end.Sub(crashed), 2*time.Second, 2)
	for _, n := range []string{"api", "web"} {
		c, ok := cs[n]
		if !ok {
			continue // never created: fine too
		}
		if c.State != nil && (c.State.Running || !parseDockerTime(c.State.StartedAt).IsZero()) {
			t.Errorf("%s was started (state %s, started at %s); it depends on the crashed db", n, c.State.Status, c.State.StartedAt)
		}
	}
}

// A core service past its dive.service.timeout fails the deploy within 1s
// past the budget, naming the service and the budget.
func TestCoreTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "core-timeout")
	f.slot()
	// interval 5s: the engine's own healthcheck must not call it unhealthy
	// before the 3s budget runs out.
	f.write(`services:
  slow:
` + image + `    labels:
      dive.service.timeout: 3s
    environment:
      STANDIN_MODE: never-ready
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 2s
      retries: 3
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ slow (core) failed", "did not become ready within its budget of 3s", "dive.service.timeout")

	recs := f.lastDeployEvents()
	started := eventTime(recs, events.ServiceStarted, "slow")
	if started.IsZero() {
		t.Fatal("no service_started event for slow")
	}
	within(t, "exit past the 3s budget (service_started + 3s → dive exit)", r.end.Sub(started.Add(3*time.Second)), time.Second, 2)
	t.Logf("left: %s", describe(f.containers()))
}

// A core service in a crash loop (restart: always) fails the deploy once it
// exhausted dive.service.max-restarts (default 3), saying "crash loop".
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "crash-loop")
	f.slot()
	f.write(`services:
  loop:
` + image + `    restart: always
    environment:
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 200ms
` + slowHealthcheck)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ loop (core) failed", "crash loop", "restart policy always")
	within(t, "whole deploy (hang guard)", r.elapsed, 90*time.Second, 1)
	t.Logf("left: %s", describe(f.containers()))
}

// A service killed for running out of memory is diagnosed as OOM.
func TestOOM(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "oom")
	f.slot()
	// The stand-in answers 200 before it starts eating memory: dive's probe
	// is off and the engine's first check comes after the kill, so the
	// service cannot pass for ready first.
	f.write(`services:
  hog:
` + image + `    restart: "no"
    labels:
      dive.health.probe-interval: "off"
    environment:
      STANDIN_MODE: oom
    deploy:
      resources:
        limits:
          memory: 24M
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 2s
      retries: 3
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ hog (core) failed", "out of memory (OOM)", "OOM killed: true", "deploy.resources.limits.memory")
	within(t, "whole deploy (hang guard)", r.elapsed, 60*time.Second, 1)
	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	if c := cs["hog"]; c.State == nil || !c.State.OOMKilled {
		// Seen on this 2-core machine under heavy load (load average 60+):
		// the kernel kills the process (exit 137) but Docker misses the OOM
		// notification, so State.OOMKilled is false and no "oom" event
		// comes; dive, which reads only those two, then says "exited with
		// code 137 (SIGKILL)". See moby/moby#15621.
		t.Errorf("the engine does not flag hog as OOM-killed (state %s); dive's diagnosis relies on that flag and the oom event", describe(map[string]container.InspectResponse{"hog": c}))
	}
}

// A healthcheck whose command is not in the image fails fast, long before
// the budget, naming the command. The engine's own check is slow here (5s
// interval, 10s timeout) so that it is dive's probe that finds the missing
// command, even on a loaded machine where execs take seconds: otherwise the
// engine's third failure ("turned unhealthy") can come first.
func TestHealthcheckCommandMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "hc-missing")
	f.slot()
	f.write(`services:
  web:
` + image + `    labels:
      dive.service.timeout: 60s
    healthcheck:
      test: ["CMD", "/bin/curl", "-f", "http://localhost:8080"]
      interval: 5s
      timeout: 10s
      retries: 3
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ web (core) failed", "/bin/curl")
	// dive's probe finds it, or — when a loaded engine makes probes slower
	// than its own checks, so dive leaves the checking to the engine — the
	// engine's health log shows it.
	if !regexp.MustCompile(`(not found in the image|cannot be executed) \((probe exit 12[67]|the engine's checks: exit -?\d+)`).MatchString(r.stdout) {
		t.Errorf("the diagnosis should say the command is missing/not executable, from dive's probes (exit 126/127) or the engine's health log")
	}
	within(t, "fail fast (well before the 60s budget)", r.elapsed, 10*time.Second, 2)
	t.Logf("left: %s", describe(f.containers()))
}

// configFailure runs a deploy that must stop at the configuration: exit 2,
// quickly, and nothing created on the engine.
func configFailure(t *testing.T, f *fixture, env []string, args []string, want ...string) *result {
	t.Helper()
	r := f.dive(env, args...)
	wantCode(t, r, 2)
	wantOutput(t, r, want...)
	within(t, "config error (hang guard)", r.elapsed, 10*time.Second, 1)
	f.wantNoResources()
	return r
}

// A dependency cycle is a configuration error: exit 2 before any container,
// network or volume exists.
func TestDependencyCycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "cycle")
	f.write(`services:
  a:
` + image + `    depends_on: [b]
  b:
` + image + `    depends_on: [c]
  c:
` + image + `    depends_on: [a]
    volumes:
      - data:/data
volumes:
  data: {}
`)
	configFailure(t, f, nil, f.hub("deploy"), "dependency cycle", f.file)
}

// An invalid compose file (a misspelt key; a YAML syntax error) exits 2
// naming the file.
func TestInvalidComposeFile(t *testing.T) {
	t.Parallel()
	t.Run("typo-key", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, "typo-key")
		f.write(`services:
  web:
` + image + `    helthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
`)
		configFailure(t, f, nil, f.hub("deploy"), f.file, "not a valid compose file", "helthcheck")
	})
	t.Run("yaml-syntax", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, "yaml-syntax")
		f.write(`services:
  web:
` + image + `   environment: [
`)
		configFailure(t, f, nil, f.hub("deploy"), f.file, "not a valid compose file", "yaml")
	})
}

// A missing required variable (${VAR:?msg}) exits 2 naming the variable.
func TestMissingRequiredVariable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "missing-var")
	f.write(`services:
  web:
` + image + `    environment:
      TOKEN: ${FAULT_TOKEN:?set FAULT_TOKEN to the API token}
`)
	configFailure(t, f, []string{"FAULT_TOKEN="}, f.hub("deploy"), "FAULT_TOKEN", "set FAULT_TOKEN to the API token")
}

// A missing --env-file exits 2 naming the file.
func TestMissingEnvFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "missing-env-file")
	f.write("services:\n  web:\n" + image)
	configFailure(t, f, nil, f.hub("deploy", "--env-file", "nope.env"), filepath.Join(f.dir, "nope.env"), "not found")
}

// Deploying a service the file does not have exits 2.
func TestUnknownService(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "unknown-service")
	f.write("services:\n  web:\n" + image)
	configFailure(t, f, nil, f.hub("deploy", "nosuch"), `service "nosuch" is not in`, "services: web")
}

// Enabling a profile no service uses exits 2.
func TestUnknownProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "unknown-profile")
	f.write("services:\n  web:\n" + image + "  tools:\n" + image + "    profiles: [debug]\n")
	configFailure(t, f, nil, f.hub("deploy", "--profile", "nosuch"), `profile "nosuch"`, "known profiles: debug")
}

// An invalid DIVE_MIN_FREE_DISK (the preflight's disk threshold) is a usage
// error like --min-disk's: exit 2 naming the variable, nothing created.
func TestInvalidMinFreeDisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "min-disk")
	f.write("services:\n  web:\n" + image + healthcheck)
	configFailure(t, f, []string{"DIVE_MIN_FREE_DISK=lots"}, f.hub("deploy"), "DIVE_MIN_FREE_DISK", `"lots" is not a size`)
}

// An invalid dive.service.class exits 2 naming the service.
func TestInvalidClassLabel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "invalid-class")
	f.write("services:\n  web:\n" + image + "    labels:\n      dive.service.class: critical\n")
	configFailure(t, f, nil, f.hub("deploy"), `service "web"`, "dive.service.class", "critical")
}

// An image that is not present and has no build: section fails the deploy
// naming the image; with no registry here the pull fails fast.
func TestImageMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "image-missing")
	f.slot()
	ref := "dive-fault-nosuch-" + randHex(4) + ":v1"
	f.write(`services:
  web:
    image: ` + ref + `
`)
	r := f.dive(nil, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "✘ web (core) failed", ref, "could not be pulled")
	within(t, "missing image (pull fails fast)", r.elapsed, 15*time.Second, 2)
	t.Logf("left: %s", describe(f.containers()))

	// Nothing may appear after dive has exited: an engine call still in
	// flight at exit (the project network's create, which runs in parallel
	// with the image) would leave an object dive never reported.
	c0, n0, v0 := f.resourceCounts()
	time.Sleep(2 * time.Second)
	c1, n1, v1 := f.resourceCounts()
	if c1 != c0 || n1 != n0 || v1 != v0 {
		t.Errorf("objects appeared after dive exited: containers %d→%d, networks %d→%d, volumes %d→%d (dive exited with an engine call in flight)", c0, c1, n0, n1, v0, v1)
	}
	if n1 > 0 && !strings.Contains(r.stdout, "network "+f.project+"_default created") {
		t.Errorf("network %s_default exists but dive's output never reported it created: it was created by a call still in flight when dive exited", f.project)
	}
}

// A published host port that another process holds fails the deploy naming
// the port: by preflight (then nothing is created) once it has landed;
// with --skip-preflight (or before preflight landed) by the container's
// start, which is a definite failure and is not retried.
func TestHostPortTaken(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for _, skip := range []bool{false, true} {
		name := "preflight"
		if skip {
			name = "skip-preflight"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "port-taken")
			f.slot()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			f.write(fmt.Sprintf(`services:
  web:
`+image+`    ports:
      - "127.0.0.1:%d:8080"
`+healthcheck, port))
			args := f.hub("deploy")
			if skip {
				args = append(args, "--skip-preflight")
			}
			r := f.dive(nil, args...)
			wantCode(t, r, 1)
			wantOutput(t, r, fmt.Sprint(port))
			within(t, "port taken (hang guard)", r.elapsed, 15*time.Second, 2)
			cs := f.containers()
			t.Logf("left: %s", describe(cs))
			if !skip {
				wantOutput(t, r, "preflight failed", "in use by another process", "created nothing")
				if len(cs) != 0 {
					t.Errorf("preflight should refuse before any container is created; found %s", describe(cs))
				}
				return
			}
			wantOutput(t, r, "✘ web (core) failed", "address already in use", "a published host port is taken")
			if n := strings.Count(r.stdout, "web                starting"); n != 1 {
				t.Errorf("web was started %d times; a definite start failure (port taken) must not be retried", n)
			}
		})
	}
}

// An engine that does not answer: exit 1 within a few seconds, saying it
// is not reachable and how to fix it.
func TestDaemonUnreachable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "unreachable")
	f.write("services:\n  web:\n" + image + healthcheck)
	r := f.dive([]string{"DOCKER_HOST=unix:///nonexistent.sock"}, f.hub("deploy")...)
	wantCode(t, r, 1)
	wantOutput(t, r, "unix:///nonexistent.sock", "is not reachable", "fix:", "DOCKER_HOST")
	within(t, "unreachable engine", r.elapsed, 3*time.Second, 2)
	f.wantNoResources()
}

// The engine goes away in the middle of a deploy (a proxy in front of the
// daemon's socket is killed): dive exits 1 promptly, saying the engine was
// lost.
func TestDaemonLostMidDeploy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "engine-lost")
	f.slot()
	sock := filepath.Join(f.dir, "docker.sock")
	proxy := startProxy(t, sock, dockerSocket)
	f.write(`services:
  first:
` + image + healthcheck + `  slow:
` + image + `    depends_on:
      first:
        condition: service_healthy
    environment:
      STANDIN_READY_AFTER: 10s
` + slowHealthcheck)
	p := f.start([]string{"DOCKER_HOST=unix://" + sock}, f.hub("deploy")...)
	if !p.waitState(60*time.Second, "first", "healthy") {
		p.wait()
		t.Fatal("first never became healthy")
	}
	if !p.waitState(20*time.Second, "slow", "starting") {
		t.Log("slow was not seen starting before the kill")
	}
	killed := time.Now()
	proxy.kill()
	t.Logf("proxy killed after %d connections", proxy.connections())
	r := p.wait()
	wantCode(t, r, 1)
	out := r.output()
	if !strings.Contains(out, "engine was lost") && !strings.Contains(out, "not reachable") {
		t.Errorf("dive's output should say the engine was lost / is not reachable")
	}
	within(t, "exit after the engine was lost", r.end.Sub(killed), 10*time.Second, 1)
	t.Logf("left: %s", describe(f.containers()))
}

// A second deploy of a project being deployed is refused at once, naming
// the holder.
func TestConcurrentDeployRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "lock")
	f.slot()
	f.write(`services:
  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 5s
` + slowHealthcheck)
	first := f.start(nil, f.hub("deploy")...)
	if !first.waitState(60*time.Second, "slow", "starting") {
		first.wait()
		t.Fatal("the first deploy never started its service")
	}
	second := f.dive(nil, f.hub("deploy")...)
	wantCode(t, second, 1)
	wantOutput(t, second, "project "+f.project+" is locked", fmt.Sprintf("pid %d on host %s", first.cmd.Process.Pid, hostname))
	within(t, "refusal of the second deploy", second.elapsed, time.Second, 2)
	if strings.Contains(second.stdout, "slow ") {
		t.Errorf("the refused deploy must not touch the services:\n%s", second.stdout)
	}
	r := first.wait()
	wantCode(t, r, 0)
}

// Ctrl-C while waiting for the lock (--wait-lock) is an interrupt like any
// other: exit 130 within 2s, and the holder's deploy goes on undisturbed.
func TestInterruptWhileWaitingForLock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "lock-wait-int")
	f.slot()
	f.write(`services:
  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 6s
` + slowHealthcheck)
	holder := f.start(nil, f.hub("deploy")...)
	if !holder.waitState(60*time.Second, "slow", "starting") {
		holder.wait()
		t.Fatal("the first deploy never started its service")
	}
	waiter := f.start(nil, f.hub("deploy", "--wait-lock", "60s")...)
	if !waiter.waitStderr(20*time.Second, "waiting up to") {
		waiter.wait()
		t.Fatal("the second deploy does not say it waits for the lock")
	}
	sent := time.Now()
	if err := waiter.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := waiter.wait()
	wantCode(t, r, 130)
	within(t, "exit after SIGINT while waiting for the lock", r.end.Sub(sent), 2*time.Second, 2)
	h := holder.wait()
	wantCode(t, h, 0)
	// The waiter's record: interrupted, not a failure blamed on the engine
	// or the lock. Found by the deploy ID the waiter printed (both deploys
	// may start within one second, and IDs of one second sort at random).
	all := f.deployEvents()
	if len(all) != 2 {
		t.Fatalf("%d deploy records; want the holder's and the waiter's", len(all))
	}
	m := regexp.MustCompile(`deploy ([0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the waiter printed no deploy ID:\n%s", r.stdout)
	}
	var recs []events.Record
	for _, rs := range all {
		if len(rs) > 0 && rs[0].DeployID == m[1] {
			recs = rs
		}
	}
	if len(recs) == 0 {
		t.Fatalf("no records of the waiter's deploy %s", m[1])
	}
	last := recs[len(recs)-1]
	ev, _ := events.FromRecord(last)
	if fin, ok := ev.Attrs.(events.DeployFinishedAttrs); !ok || fin.Outcome != "interrupted" || !strings.Contains(fin.Error, "interrupted during the deployment lock") {
		t.Errorf("the waiter's events.jsonl ends with %s %s; want deploy_finished outcome interrupted, interrupted during the deployment lock", last.Event, last.Attributes)
	}
}

// Ctrl-C during a deploy: exit 130 within 2s, the summary printed, the
// process gone, the containers in a known state and the records closed with
// outcome interrupted.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "interrupt")
	f.slot()
	f.write(`services:
  first:
` + image + healthcheck + `  slow:
` + image + `    depends_on:
      first:
        condition: service_healthy
    environment:
      STANDIN_READY_AFTER: 15s
` + slowHealthcheck + `  last:
` + image + `    depends_on:
      slow:
        condition: service_healthy
` + healthcheck)
	p := f.start(nil, f.hub("deploy")...)
	if !p.waitState(60*time.Second, "first", "healthy") {
		p.wait()
		t.Fatal("first never became healthy")
	}
	p.waitState(20*time.Second, "slow", "starting")
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := p.wait()
	wantCode(t, r, 130)
	within(t, "exit after SIGINT", r.end.Sub(sent), 2*time.Second, 2)
	wantOutput(t, r, "✘ deploy interrupted", "records:")
	if !processGone(r.pid) {
		t.Errorf("dive (pid %d) is still there", r.pid)
	}
	if kids := childrenOf(r.pid); len(kids) > 0 {
		t.Errorf("processes left with dive (pid %d) as parent: %v", r.pid, kids)
	}

	cs := f.containers()
	t.Logf("left: %s", describe(cs))
	for n, c := range cs {
		if c.State == nil {
			continue
		}
		switch c.State.Status {
		case "running", "created", "exited":
		default:
			t.Errorf("%s is %s; want running, created or exited", n, c.State.Status)
		}
	}
	recs := f.lastDeployEvents()
	last := recs[len(recs)-1]
	ev, _ := events.FromRecord(last)
	if fin, ok := ev.Attrs.(events.DeployFinishedAttrs); !ok || fin.Outcome != "interrupted" {
		t.Errorf("events.jsonl ends with %s %s; want deploy_finished outcome interrupted", last.Event, last.Attributes)
	}
}

// summary is the part of dive's stdout after the progress lines.
func summary(stdout string) string {
	lines := strings.Split(stdout, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "✘ ") || strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "✔ ") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return stdout
}
