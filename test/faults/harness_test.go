package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/standin"
	"github.com/dive-hub/dive/internal/testutil"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// What TestMain prepares for every test.
var (
	// diveBin is the dive binary under test, built once from this module.
	diveBin string
	// moduleRoot is the folder holding go.mod.
	moduleRoot string
	// standinRef is the stand-in image, e.g. dive-standin:3fa9c1e2b7d4.
	standinRef string
	// docker talks to the real daemon (through DOCKER_HOST & co).
	docker *client.Client
	// dockerSocket is the daemon's unix socket (for the proxy of TestDaemonLostMidDeploy).
	dockerSocket string
	// skipReason, when set, skips every test (no daemon, -short).
	skipReason string
	// hostname as dive records it in the lock.
	hostname string
)

const (
	// hardTimeout bounds every dive subprocess: nothing may hang a test.
	hardTimeout = 3 * time.Minute
	// maxDeploys is how many deploys run at once: the machine has 2 cores.
	maxDeploys   = 3
	labelProject = "com.docker.compose.project"
)

var deploySlots = make(chan struct{}, maxDeploys)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(setupAndRun(m))
}

func setupAndRun(m *testing.M) int {
	if testing.Short() {
		skipReason = "-short: the fault tests deploy containers on the Docker daemon"
		return m.Run()
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		skipReason = fmt.Sprintf("fault tests skipped: no Docker client (%v)", err)
		return m.Run()
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		skipReason = fmt.Sprintf("fault tests skipped: no Docker daemon answers at %s within 2s (%v); start one (scripts/docker-up.sh) to run them", cli.DaemonHost(), err)
		fmt.Fprintln(os.Stderr, skipReason)
		return m.Run()
	}
	docker = cli
	dockerSocket = "/var/run/docker.sock"
	if h := cli.DaemonHost(); strings.HasPrefix(h, "unix://") {
		dockerSocket = strings.TrimPrefix(h, "unix://")
	}
	hostname, _ = os.Hostname()

	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		return 1
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "dive-faults-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// One build for every test. CGO_ENABLED=0: the same binary is the
	// stand-in inside a FROM scratch image.
	diveBin = filepath.Join(tmp, "dive")
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	// A version of its own makes the binary, hence the stand-in image's
	// tag (the binary's hash), this run's alone: other runs building the
	// same source at the same time get another image, so removing ours at
	// the end cannot pull one from under them.
	version := "faults-" + randHex(4)
	build := exec.CommandContext(bctx, "go", "build", "-ldflags", "-X github.com/dive-hub/dive/internal/cli.Version="+version, "-o", diveBin, "./cmd/dive")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: go build ./cmd/dive: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "faults: built %s (version %s) in %s\n", diveBin, version, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	ref, built, err := standin.EnsureImage(bctx, cli, diveBin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: stand-in image: %v\n", err)
		return 1
	}
	standinRef = ref
	fmt.Fprintf(os.Stderr, "faults: stand-in image %s (built: %t) in %s\n", ref, built, time.Since(t0).Round(time.Millisecond))
	os.Setenv("DIVE_STANDIN_IMAGE", ref)
	// Subprocesses must not pick up a state dir or lock wait from the caller.
	os.Unsetenv("DIVE_STATE_DIR")

	code := m.Run()

	if built {
		// Ours: built by this run for this run (see version above). Not
		// forced: a container still using it (a cleanup that failed) keeps
		// it, and the failure is reported.
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := cli.ImageRemove(rctx, ref, client.ImageRemoveOptions{}); err != nil {
			fmt.Fprintf(os.Stderr, "faults: could not remove the stand-in image %s: %v\n", ref, err)
		}
		cancel()
	}
	return code
}

func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is one scenario: a unique project, its compose file and state dir,
// and a cleanup that removes everything the project created.
type fixture struct {
	t        *testing.T
	project  string
	dir      string
	stateDir string
	file     string
}

// newFixture skips without a daemon and registers the cleanup, which runs
// even when the test fails.
func newFixture(t *testing.T, scenario string) *fixture {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	f := &fixture{t: t, project: "fault-" + scenario + "-" + randHex(4), dir: t.TempDir()}
	f.stateDir = filepath.Join(f.dir, "state")
	f.file = filepath.Join(f.dir, "compose.yml")
	t.Cleanup(f.cleanup)
	return f
}

// slot takes one of the maxDeploys deploy slots for the rest of the test.
func (f *fixture) slot() {
	f.t.Helper()
	t0 := time.Now()
	deploySlots <- struct{}{}
	if w := time.Since(t0); w > time.Second {
		f.t.Logf("waited %s for a deploy slot", w.Round(time.Millisecond))
	}
	f.t.Cleanup(func() { <-deploySlots })
}

// write writes the compose file.
func (f *fixture) write(yaml string) {
	f.t.Helper()
	if err := os.WriteFile(f.file, []byte(yaml), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// hub is "hub <cmd> -f F -p P --state-dir S <extra...>".
func (f *fixture) hub(cmd string, extra ...string) []string {
	return append([]string{"hub", cmd, "-f", f.file, "-p", f.project, "--state-dir", f.stateDir}, extra...)
}

func (f *fixture) cleanup() {
	t := f.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if docker == nil {
		return
	}
	if _, err := os.Stat(f.file); err == nil {
		// The real socket, whatever the test pointed DOCKER_HOST at.
		cmd := exec.CommandContext(ctx, diveBin, f.hub("down", "-v")...)
		cmd.Env = os.Environ()
		cmd.WaitDelay = 5 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("cleanup: dive hub down: %v\n%s", err, out)
		}
	}
	// The label sweep catches what down did not (or could not) remove. It
	// runs twice: an engine call dive left in flight when it exited (a
	// network create, seen in TestImageMissing) can complete after the
	// first sweep.
	if left := f.sweep(ctx); len(left) > 0 {
		t.Logf("cleanup: first sweep: %s", strings.Join(left, "; "))
	}
	time.Sleep(2 * time.Second)
	left := f.sweep(ctx)
	if c, n, v := f.resourceCounts(); c+n+v > 0 {
		left = append(left, fmt.Sprintf("%d containers, %d networks, %d volumes still labelled with the project", c, n, v))
	}
	if len(left) > 0 {
		t.Errorf("cleanup of project %s left:\n  %s", f.project, strings.Join(left, "\n  "))
	}
}

// sweep removes the project's containers, networks and volumes (and its
// lock markers) by label; it returns what it could not remove.
func (f *fixture) sweep(ctx context.Context) []string {
	return testutil.Sweep(ctx, docker, f.project)
}

// syncBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type syncBuffer = testutil.LockedBuffer

// result is a finished dive run.
type result struct {
	code           int
	stdout, stderr string
	start, end     time.Time
	elapsed        time.Duration
	pid            int
}

func (r *result) output() string { return r.stdout + r.stderr }

// proc is a running dive.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	start  time.Time
	done   chan struct{}
	res    *result
	cancel context.CancelFunc
}

// start runs dive with args; env entries override the environment.
func (f *fixture) start(env []string, args ...string) *proc {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	p := &proc{t: f.t, done: make(chan struct{}), cancel: cancel}
	p.cmd = exec.CommandContext(ctx, diveBin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Dir = f.dir
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		f.t.Fatalf("start dive: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		end := time.Now()
		code := 0
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode() // -1 when killed by a signal
		default:
			code = -2
		}
		if ctx.Err() != nil {
			f.t.Errorf("dive %s hit the test's hard timeout (%s) and was killed", strings.Join(args, " "), hardTimeout)
		}
		p.res = &result{code: code, stdout: p.stdout.String(), stderr: p.stderr.String(), start: p.start, end: end,
			elapsed: end.Sub(p.start), pid: p.cmd.Process.Pid}
		cancel()
		close(p.done)
	}()
	f.t.Cleanup(func() {
		// A test that failed half-way must not leave a dive running.
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for dive to exit and logs what it printed.
func (p *proc) wait() *result {
	p.t.Helper()
	<-p.done
	r := p.res
	p.t.Logf("dive exited %d after %s\n--- stdout\n%s--- stderr\n%s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
	return r
}

// waitState waits until dive's progress output shows service in state
// (a line "[  1.23s] <service> <state> ..."); false when dive exits or
// timeout passes first.
func (p *proc) waitState(timeout time.Duration, service, state string) bool {
	re := regexp.MustCompile(`(?m)^\[\s*[0-9.]+s\] ` + regexp.QuoteMeta(service) + `\s+` + regexp.QuoteMeta(state) + `\b`)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if re.MatchString(p.stdout.String()) {
			return true
		}
		select {
		case <-p.done:
			return re.MatchString(p.stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// waitStderr waits until dive's stderr contains sub; false when dive exits
// or timeout passes first.
func (p *proc) waitStderr(timeout time.Duration, sub string) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr.String(), sub) {
			return true
		}
		select {
		case <-p.done:
			return strings.Contains(p.stderr.String(), sub)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// dive runs dive to the end.
func (f *fixture) dive(env []string, args ...string) *result {
	f.t.Helper()
	return f.start(env, args...).wait()
}

// containers returns the project's containers, inspected, by service.
func (f *fixture) containers() map[string]container.InspectResponse {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pf := client.Filters{}.Add("label", labelProject+"="+f.project)
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: pf})
	if err != nil {
		f.t.Fatalf("list containers: %v", err)
	}
	out := map[string]container.InspectResponse{}
	for _, c := range cs.Items {
		ins, err := docker.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			f.t.Errorf("inspect %s: %v", c.ID[:12], err)
			continue
		}
		out[c.Labels["com.docker.compose.service"]] = ins.Container
	}
	return out
}

// describe renders container states for the log: service=status(exit, health).
func describe(cs map[string]container.InspectResponse) string {
	var parts []string
	for svc, c := range cs {
		s := "?"
		if c.State != nil {
			s = string(c.State.Status)
			if c.State.Status == "exited" {
				s += fmt.Sprintf("(%d)", c.State.ExitCode)
			}
			if c.State.Health != nil {
				s += "/" + string(c.State.Health.Status)
			}
			if c.State.OOMKilled {
				s += "/oom"
			}
		}
		parts = append(parts, svc+"="+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// resourceCounts counts the project's containers, networks and volumes.
func (f *fixture) resourceCounts() (containers, networks, volumes int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pf := client.Filters{}.Add("label", labelProject+"="+f.project)
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: pf})
	if err != nil {
		f.t.Fatalf("list containers: %v", err)
	}
	ns, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: pf})
	if err != nil {
		f.t.Fatalf("list networks: %v", err)
	}
	vs, err := docker.VolumeList(ctx, client.VolumeListOptions{Filters: pf})
	if err != nil {
		f.t.Fatalf("list volumes: %v", err)
	}
	return len(cs.Items), len(ns.Items), len(vs.Items)
}

// deployEvents returns the events.jsonl records of each deploy of the
// project, oldest deploy first.
func (f *fixture) deployEvents() [][]events.Record {
	f.t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.stateDir, f.project, "deploys", "*", "events.jsonl"))
	sort.Strings(files) // deploy ids start with their UTC start time
	var out [][]events.Record
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.t.Fatal(err)
		}
		var recs []events.Record
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var r events.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.t.Errorf("%s: bad line %q: %v", file, sc.Text(), err)
				continue
			}
			recs = append(recs, r)
		}
		out = append(out, recs)
	}
	return out
}

// lastDeployEvents is the events of the project's only (or last) deploy.
func (f *fixture) lastDeployEvents() []events.Record {
	f.t.Helper()
	all := f.deployEvents()
	if len(all) == 0 {
		f.t.Fatalf("no events.jsonl under %s", filepath.Join(f.stateDir, f.project, "deploys"))
	}
	return all[len(all)-1]
}

// eventTime is the time of the first record of kind (for service, when not
// empty); zero when there is none.
func eventTime(recs []events.Record, kind events.Kind, service string) time.Time {
	for _, r := range recs {
		if r.Event == kind && (service == "" || r.Service == service) {
			t, err := time.Parse(time.RFC3339Nano, r.TS)
			if err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 {
		return time.Time{}
	}
	return t
}

// within asserts a measured duration against the stated bound with slack
// (the machine has 2 cores and runs up to 3 deploys at once), and logs it.
func within(t *testing.T, what string, got, bound time.Duration, slack float64) {
	t.Helper()
	limit := time.Duration(float64(bound) * slack)
	t.Logf("timing: %s = %s (stated bound %s, asserted ≤ %s)", what, got.Round(time.Millisecond), bound, limit)
	if got > limit {
		t.Errorf("%s took %s, more than %s (the stated bound %s × %.1f slack)", what, got.Round(time.Millisecond), limit, bound, slack)
	}
}

func wantCode(t *testing.T, r *result, want int) {
	t.Helper()
	if r.code != want {
		t.Errorf("exit code %d, want %d", r.code, want)
	}
}

func wantOutput(t *testing.T, r *result, subs ...string) {
	t.Helper()
	out := r.output()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("dive's output lacks %q", s)
		}
	}
}

// wantNoResources asserts the project has no container, network or volume.
func (f *fixture) wantNoResources() {
	f.t.Helper()
	c, n, v := f.resourceCounts()
	if c+n+v != 0 {
		f.t.Errorf("project %s has %d containers, %d networks, %d volumes; want none", f.project, c, n, v)
	}
}

// processGone reports whether pid no longer exists (after it was reaped).
func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

// childrenOf lists the pids whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "PPid:"); ok {
				var ppid int
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &ppid); err == nil && ppid == pid {
					out = append(out, child)
				}
			}
		}
	}
	return out
}
