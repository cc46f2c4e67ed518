package standin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/testutil"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerClient returns a client for the local daemon, or skips the test when
// none answers within 2s.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	return testutil.Docker(t)
}

// buildStandinBinary builds a static linux build of this package's test
// binary, whose TestMain plays `dive standin` (cmd/dive is another package's
// job), and appends a random trailer so its hash, hence its image tag, is new
// to the daemon. The trailer pads it to the size of a real dive build, so the
// timings measured below are the real ones.
func buildStandinBinary(t *testing.T, arch string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "dive")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, b)
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	pad := make([]byte, max(0, realDiveSize-st.Size()))
	_, _ = rand.Read(pad)
	_, err = f.Write(append(pad, "standintest-trailer-"+rand.Text()...))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return out
}

// realDiveSize is about the size of a linux dive build with all its libraries.
const realDiveSize = 24 << 20

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func TestEnsureImageIntegration(t *testing.T) {
	cli := dockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sv, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	require.NoError(t, err)
	bin := buildStandinBinary(t, sv.Arch)

	// The hash cache goes to os.UserCacheDir(): keep this test's apart.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	// DIVE_STANDIN_BINARY is how a dive that cannot run FROM scratch is pointed at one.
	t.Setenv(EnvBinary, bin)
	got, err := LinuxBinary(sv.Arch, os.Getenv(EnvBinary))
	require.NoError(t, err)
	require.Equal(t, bin, got)

	buildStart := time.Now()
	ref, built, err := EnsureImage(ctx, cli, bin)
	require.NoError(t, err)
	t.Logf("built %s in %s", ref, time.Since(buildStart).Round(time.Millisecond))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		assert.NoError(t, err, "remove %s", ref)
	})
	require.True(t, built, "a binary with a fresh hash must be built")

	img, err := cli.ImageInspect(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, "true", img.Config.Labels[LabelManaged])
	assert.Equal(t, "standin", img.Config.Labels[LabelRole])
	assert.Equal(t, []string{"/dive", "standin"}, img.Config.Entrypoint)
	assert.Nil(t, img.Config.Healthcheck, "no image healthcheck: services without one (otel-collector) must have none")

	// An existing image costs one stat (the hash is cached) and one inspect:
	// the no-op path of every deploy.
	var took []time.Duration
	for range 5 {
		start := time.Now()
		again, built, err := EnsureImage(ctx, cli, bin)
		took = append(took, time.Since(start))
		require.NoError(t, err)
		require.False(t, built)
		require.Equal(t, ref, again)
	}
	slices.Sort(took)
	st, err := os.Stat(bin)
	require.NoError(t, err)
	hashStart := time.Now()
	_, err = fileSHA256(bin)
	require.NoError(t, err)
	hashTook := time.Since(hashStart)
	t.Logf("EnsureImage on an existing image (%d MiB binary): min %s, median %s, max %s; hashing it without the cache: %s",
		st.Size()>>20, took[0].Round(time.Millisecond), took[2].Round(time.Millisecond), took[4].Round(time.Millisecond),
		hashTook.Round(time.Millisecond))
	assert.Less(t, took[2], 100*time.Millisecond, "the no-op path must stay cheap")

	t.Run("healthy", func(t *testing.T) { runHealthyContainer(t, cli, ref) })
	t.Run("oom", func(t *testing.T) { runOOMContainer(t, cli, ref) })
}

// createContainer creates a standintest-* container, removed at cleanup.
func createContainer(t *testing.T, cli *client.Client, opts client.ContainerCreateOptions) string {
	t.Helper()
	opts.Name = uniqueName("standintest-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := cli.ContainerRemove(ctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		assert.NoError(t, err)
	})
	return created.ID
}

func containerLogs(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	require.NoError(t, err)
	defer rc.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, rc)
	require.NoError(t, err)
	return out.String()
}

func runHealthyContainer(t *testing.T, cli *client.Client, ref string) {
	id := createContainer(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:  ref,
			Env:    []string{"STANDIN_NAME=standintest", "STANDIN_READY_AFTER=500ms"},
			Labels: map[string]string{"io.dive.test": "standintest"},
			Healthcheck: &container.HealthConfig{
				Test:     []string{"CMD", "/dive", "standin", "probe"},
				Interval: 200 * time.Millisecond,
				Timeout:  2 * time.Second,
				Retries:  3,
			},
		},
		HostConfig: &container.HostConfig{},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := cli.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("container", id).Add("event", "health_status")})
	startedAt := time.Now()
	_, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	require.NoError(t, err)
wait:
	for {
		select {
		case m := <-ev.Messages:
			switch m.Action {
			case "health_status: healthy":
				break wait
			case "health_status: unhealthy":
				t.Fatalf("container turned unhealthy; logs:\n%s", containerLogs(t, cli, id))
			}
		case err := <-ev.Err:
			t.Fatalf("events: %v; logs:\n%s", err, containerLogs(t, cli, id))
		}
	}
	healthyAfter := time.Since(startedAt)
	t.Logf("healthy %s after start (READY_AFTER 500ms, interval 200ms)", healthyAfter.Round(time.Millisecond))
	assert.GreaterOrEqual(t, healthyAfter, 500*time.Millisecond)

	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	require.NoError(t, err)
	health := insp.Container.State.Health
	require.NotNil(t, health)
	require.NotEmpty(t, health.Log)
	last := health.Log[len(health.Log)-1]
	assert.Equal(t, 0, last.ExitCode)
	assert.Equal(t, "healthz: 200 ok\n", last.Output)
	if len(health.Log) > 1 {
		assert.Contains(t, health.Log[0].Output, "healthz: 503 not ready (ready in ")
	}

	// docker stop sends SIGTERM to PID 1, which must exit 0 promptly.
	stopAt := time.Now()
	timeout := 10
	_, err = cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout})
	require.NoError(t, err)
	stopTook := time.Since(stopAt)
	insp, err = cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, insp.Container.State.ExitCode)
	assert.Less(t, stopTook, 3*time.Second, "SIGTERM must stop the stand-in long before docker's SIGKILL")

	logs := containerLogs(t, cli, id)
	for _, want := range []string{"standin standintest: listening on :8080", ": READY ", ": HEALTHZ-FIRST-200 ", ": stopping"} {
		assert.Contains(t, logs, want)
	}
	t.Logf("stopped in %s; logs:\n%s", stopTook.Round(time.Millisecond), logs)
}

func runOOMContainer(t *testing.T, cli *client.Client, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := cli.Info(ctx, client.InfoOptions{})
	require.NoError(t, err)
	if !info.Info.MemoryLimit {
		t.Skip("the daemon does not support memory limits")
	}
	const limit = 48 << 20
	id := createContainer(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: ref,
			// The cap keeps the host safe should the limit not hold.
			Env: []string{"STANDIN_NAME=standintest-oom", "STANDIN_MODE=oom", "STANDIN_OOM_MAX_MIB=256"},
		},
		HostConfig: &container.HostConfig{Resources: container.Resources{Memory: limit, MemorySwap: limit}},
	})
	wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	_, err = cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	require.NoError(t, err)
	select {
	case res := <-wait.Result:
		assert.Equal(t, int64(137), res.StatusCode)
	case err := <-wait.Error:
		t.Fatalf("waiting for the OOM kill: %v; logs:\n%s", err, containerLogs(t, cli, id))
	}
	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	require.NoError(t, err)
	logs := containerLogs(t, cli, id)
	assert.True(t, insp.Container.State.OOMKilled, "logs:\n%s", logs)
	assert.Contains(t, logs, "oom: holding 16 MiB")
	assert.NotContains(t, logs, "reached the")
	t.Logf("OOM-killed as expected; last lines: %s", strings.Join(lastLines(logs, 2), " | "))
}

func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[max(0, len(lines)-n):]
}
