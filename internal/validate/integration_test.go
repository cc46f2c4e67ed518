package validate_test

// Integration tests against the real Docker daemon: they build a tiny
// FROM scratch image (testdata/valtestapp) once in TestMain, bring small
// stacks up with the same conversion deploy uses (stack.Load, engine.Spec,
// eng.Create, eng.Start), and remove everything they created. They skip when
// no daemon answers, or with -short.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/preflight"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/validate"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	testEng   *engine.Engine
	testImage string
	skipWhy   string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if testing.Short() {
		skipWhy = "integration test skipped with -short"
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx, engine.Options{PingTimeout: 2 * time.Second})
	if err != nil {
		skipWhy = fmt.Sprintf("no Docker daemon answers: %v", err)
		return m.Run()
	}
	defer eng.Close()
	img, err := buildTestImage(ctx, eng)
	if err != nil {
		fmt.Fprintf(os.Stderr, "build the test image: %v\n", err)
		return 1
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		if err := eng.RemoveImage(rctx, img); err != nil {
			fmt.Fprintf(os.Stderr, "remove %s: %v\n", img, err)
		}
	}()
	testEng, testImage = eng, img
	return m.Run()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// buildTestImage compiles testdata/valtestapp statically for the engine's
// architecture and builds valtest-img:<random> FROM scratch around it.
func buildTestImage(ctx context.Context, eng *engine.Engine) (string, error) {
	dir, err := os.MkdirTemp("", "valtest-img-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "app"), "./testdata/valtestapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+eng.Arch())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	tag := "valtest-img:" + randHex(6)
	if err := eng.Build(ctx, engine.BuildSpec{Tag: tag, Context: dir}, nil); err != nil {
		return "", err
	}
	return tag, nil
}

func needDaemon(t *testing.T) *engine.Engine {
	t.Helper()
	if testEng == nil {
		t.Skip(skipWhy)
	}
	return testEng
}

// checker is the engine as the CLI's adapter passes it.
type checker struct{ *engine.Engine }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// up loads compose (with IMG set to the test image) under a unique project
// name and brings it up level by level: create and start every service of a
// level, then wait until each is healthy (healthcheck), exited 0 (one-shot
// job) or running. Everything is removed in t.Cleanup, even on failure.
func up(t *testing.T, compose string, env map[string]string) (*stack.Stack, map[string]string) {
	t.Helper()
	eng := needDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	project := "valtest-" + randHex(4)
	dir := t.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(compose), 0o644))
	if env == nil {
		env = map[string]string{}
	}
	env["IMG"] = testImage
	st, err := stack.Load(ctx, stack.Options{Files: []string{file}, ProjectName: project, Env: env})
	require.NoError(t, err)
	t.Cleanup(func() { down(t, eng, project) })

	keys := make([]string, 0, len(st.Project.Networks))
	for k := range st.Project.Networks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := st.Project.Networks[k]
		_, err := eng.EnsureNetwork(ctx, engine.NetworkSpec{Name: n.Name, Key: k, Project: project, Driver: n.Driver, External: bool(n.External)})
		require.NoError(t, err)
	}
	for k, v := range st.Project.Volumes {
		_, err := eng.EnsureVolume(ctx, engine.VolumeSpec{Name: v.Name, Key: k, Project: project, External: bool(v.External)})
		require.NoError(t, err)
	}
	imageID, err := eng.ImageID(ctx, testImage)
	require.NoError(t, err)
	require.NotEmpty(t, imageID)

	g, err := st.Graph()
	require.NoError(t, err)
	ids := map[string]string{}
	var mu sync.Mutex
	for _, level := range g.Levels() {
		var wg sync.WaitGroup
		errs := make([]error, len(level))
		for i, name := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := st.Services[name]
				spec, err := engine.Spec(s.Config, engine.BuildOptions{Project: st.Project, ImageID: imageID, Class: string(s.Class), APIVersion: eng.APIVersion(), DiveVersion: "valtest"})
				if err != nil {
					errs[i] = err
					return
				}
				id, err := eng.Create(ctx, spec)
				if id != "" {
					mu.Lock()
					ids[name] = id
					mu.Unlock()
				}
				if err != nil {
					errs[i] = err
					return
				}
				if err := eng.Start(ctx, id); err != nil {
					errs[i] = err
					return
				}
				errs[i] = waitReady(ctx, eng, s, id)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "service %s", level[i])
		}
	}
	return st, ids
}

// waitReady polls Inspect every 100ms until the service is ready.
func waitReady(ctx context.Context, eng *engine.Engine, s *stack.Service, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ins, err := eng.Inspect(ctx, id)
		if err != nil {
			return err
		}
		st := ins.State
		switch {
		case s.OneShot && st.Status == container.StateExited:
			if st.ExitCode != 0 {
				return fmt.Errorf("job %s exited %d", s.Name, st.ExitCode)
			}
			return nil
		case !s.OneShot && st.Status == container.StateExited:
			logs, _ := eng.Logs(ctx, id, 20)
			return fmt.Errorf("%s exited %d: %s", s.Name, st.ExitCode, strings.Join(logs, "\n"))
		case s.HasHealthcheck() && !s.OneShot:
			if st.Health != nil && st.Health.Status == container.Healthy {
				return nil
			}
			if st.Health != nil && st.Health.Status == container.Unhealthy {
				return fmt.Errorf("%s turned unhealthy", s.Name)
			}
		case !s.OneShot && st.Running:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within 30s (state %s)", s.Name, st.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// down removes a project's containers, networks (its own and the external
// ones created for it) and volumes.
func down(t *testing.T, eng *engine.Engine, project string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := eng.ListContainers(ctx, project)
	if err != nil {
		t.Errorf("cleanup %s: %v", project, err)
	}
	for _, c := range cs {
		if err := eng.Remove(ctx, c.ID, true); err != nil {
			t.Errorf("cleanup: remove %s: %v", c.Name, err)
		}
	}
	for _, label := range []string{engine.LabelProject + "=" + project, engine.LabelCreatedFor + "=" + project} {
		nets, _ := eng.ListNetworks(ctx, label)
		for _, n := range nets {
			if err := eng.RemoveNetwork(ctx, n.ID); err != nil {
				t.Errorf("cleanup: remove network %s: %v", n.Name, err)
			}
		}
	}
	vols, _ := eng.ListVolumes(ctx, engine.LabelProject+"="+project)
	for _, v := range vols {
		if err := eng.RemoveVolume(ctx, v.Name); err != nil {
			t.Errorf("cleanup: remove volume %s: %v", v.Name, err)
		}
	}
}

const hubLike = `
services:
  db:
    image: ${IMG}
    healthcheck: {test: ["CMD", "/app", "-probe", "http://127.0.0.1:8080/"], interval: 300ms, timeout: 2s, retries: 3}
    volumes: [data:/data]
    restart: unless-stopped
    labels: {dive.service.class: core}
  init:
    image: ${IMG}
    command: ["-exit", "0", "-delay", "200ms"]
    restart: "no"
    depends_on: {db: {condition: service_healthy}}
  api:
    image: ${IMG}
    ports: ["127.0.0.1:${API_PORT}:8080"]
    networks: [front, back, shared]
    restart: unless-stopped
    healthcheck: {test: ["CMD", "/app", "-probe", "http://127.0.0.1:8080/"], interval: 300ms, timeout: 2s, retries: 3}
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
  extra:
    image: ${IMG}
    ports: ["127.0.0.1:${EXTRA_PORT}:8080"]
    restart: unless-stopped
    labels: {dive.service.class: optional}
    depends_on: [api]
networks:
  front: {}
  back: {}
  shared: {external: true, name: "${EXTNET}"}
volumes:
  data: {}
`

func statusOf(rep validate.Report, name, service string) []validate.Check {
	var out []validate.Check
	for _, c := range rep.Checks {
		if c.Name == name && c.Service == service {
			out = append(out, c)
		}
	}
	return out
}

func report(t *testing.T, rep *validate.Report) string {
	var b bytes.Buffer
	require.NoError(t, validate.WriteText(&b, rep))
	return b.String()
}

func TestValidateIntegration(t *testing.T) {
	apiPort, extraPort := freePort(t), freePort(t)
	st, ids := up(t, hubLike, map[string]string{
		"API_PORT": strconv.Itoa(apiPort), "EXTRA_PORT": strconv.Itoa(extraPort), "EXTNET": "valtest-ext-" + randHex(4),
	})
	eng := checker{testEng}
	ctx := context.Background()

	t.Run("healthy stack passes", func(t *testing.T) {
		rep := validate.Run(ctx, st, eng, validate.Options{Window: time.Second})
		out := report(t, &rep)
		t.Log("\n" + out)
		require.True(t, rep.OK, out)
		require.Equal(t, validate.Pass, rep.Verdict, out)
		for _, name := range []string{"container", "health", "job", "port", "network", "volume", "order", "restarts"} {
			found := false
			for _, c := range rep.Checks {
				found = found || c.Name == name
			}
			assert.True(t, found, "no %s check", name)
		}
		assert.Len(t, statusOf(rep, "port", "api"), 1)
		assert.Contains(t, statusOf(rep, "port", "api")[0].Detail, fmt.Sprintf("127.0.0.1:%d", apiPort))
		assert.GreaterOrEqual(t, rep.Duration, time.Second, "the restart window is 1s")
	})

	t.Run("post-deploy validation is fast", func(t *testing.T) {
		var durs []time.Duration
		for range 5 {
			rep := validate.Run(ctx, st, eng, validate.Options{})
			require.True(t, rep.OK, report(t, &rep))
			durs = append(durs, rep.Duration)
		}
		slices.Sort(durs)
		t.Logf("validate without window, 5 runs: min %s, median %s, max %s", durs[0], durs[2], durs[4])
		// Typically 20-70 ms here; the bound is loose so a loaded CI machine
		// does not flake, yet catches sequential calls or stray waits.
		assert.Less(t, durs[2], 2*time.Second)
	})

	t.Run("preflight passes on the running stack", func(t *testing.T) {
		var durs []time.Duration
		var rep validate.Report
		for range 5 {
			rep = preflight.Run(ctx, st, eng, preflight.Options{})
			durs = append(durs, rep.Duration)
		}
		slices.Sort(durs)
		t.Logf("preflight, 5 runs: min %s, median %s, max %s", durs[0], durs[2], durs[4])
		out := report(t, &rep)
		t.Log("\n" + out)
		assert.Less(t, durs[2], 5*time.Second, "target < 1s; loose for loaded machines")
		for _, svc := range []string{"api", "extra"} {
			c := statusOf(rep, "port", svc)
			require.Len(t, c, 1, out)
			assert.Equal(t, validate.Pass, c[0].Status, c[0].Detail)
			assert.Contains(t, c[0].Detail, "held by this project's container")
		}
		img := statusOf(rep, "image", "")
		require.Len(t, img, 1, out)
		assert.Equal(t, validate.Pass, img[0].Status)
		net := statusOf(rep, "network", "")
		require.Len(t, net, 1, out)
		assert.Equal(t, validate.Pass, net[0].Status, "the external network exists")
	})

	t.Run("stopped optional service warns", func(t *testing.T) {
		require.NoError(t, testEng.Stop(ctx, ids["extra"], time.Second))
		rep := validate.Run(ctx, st, eng, validate.Options{Window: 200 * time.Millisecond})
		out := report(t, &rep)
		t.Log("\n" + out)
		assert.True(t, rep.OK, out)
		assert.Equal(t, validate.Warn, rep.Verdict, out)
		c := statusOf(rep, "container", "extra")
		require.Len(t, c, 1)
		assert.Equal(t, validate.Warn, c[0].Status)
		assert.Contains(t, c[0].Detail, "exited")
	})

	t.Run("stopped core service fails", func(t *testing.T) {
		require.NoError(t, testEng.Stop(ctx, ids["api"], time.Second))
		rep := validate.Run(ctx, st, eng, validate.Options{Window: 200 * time.Millisecond})
		out := report(t, &rep)
		t.Log("\n" + out)
		assert.False(t, rep.OK, out)
		assert.Equal(t, validate.Fail, rep.Verdict)
		var failed []string
		for _, c := range rep.Problems() {
			if c.Status == validate.Fail {
				failed = append(failed, c.Service)
			}
		}
		assert.Equal(t, []string{"api"}, failed, out)
		assert.Contains(t, out, "container "+engine.ContainerName(st.Project.Name, st.Services["api"].Config)+" is exited")
	})
}

func TestResourceLimitsReachTheEngine(t *testing.T) {
	st, ids := up(t, `
services:
  deployed:
    image: ${IMG}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 96M, pids: 50}
        reservations: {memory: 32M}
  legacy:
    image: ${IMG}
    mem_limit: 48m
    mem_reservation: 24m
    cpus: 0.3
`, nil)
	ctx := context.Background()
	ins, err := testEng.Inspect(ctx, ids["deployed"])
	require.NoError(t, err)
	r := ins.HostConfig.Resources
	assert.Equal(t, int64(96<<20), r.Memory)
	assert.Equal(t, int64(500_000_000), r.NanoCPUs)
	assert.Equal(t, int64(32<<20), r.MemoryReservation)
	require.NotNil(t, r.PidsLimit)
	assert.Equal(t, int64(50), *r.PidsLimit)

	ins, err = testEng.Inspect(ctx, ids["legacy"])
	require.NoError(t, err)
	r = ins.HostConfig.Resources
	assert.Equal(t, int64(48<<20), r.Memory)
	assert.Equal(t, int64(24<<20), r.MemoryReservation)
	assert.Equal(t, int64(300_000_000), r.NanoCPUs, "cpus: 0.3 must be exactly 0.3 CPUs")

	// preflight sums the effective limits: 96M + 48M.
	assert.Equal(t, int64(96<<20), preflight.MemoryLimit(st.Services["deployed"].Config))
	assert.Equal(t, int64(48<<20), preflight.MemoryLimit(st.Services["legacy"].Config))
}
