// Package e2e runs the dive binary against the real Docker daemon: deploy,
// status and down of the demo hub and of an arbitrary compose file.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/testutil"
	"github.com/moby/moby/client"
)

var (
	diveBin string
	docker  *client.Client
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		skipWhy = "short mode"
		return m.Run()
	}
	cli, err := testutil.PingDocker()
	if err != nil {
		skipWhy = err.Error()
		return m.Run()
	}
	docker = cli
	dir, err := os.MkdirTemp("", "dive-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	diveBin = filepath.Join(dir, "dive")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", diveBin, "./cmd/dive")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dive: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func needDocker(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

func uniqueProject(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// result of one dive run.
type result struct {
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
}

// dive runs the binary with env added to the environment.
func dive(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return diveWithin(t, 3*time.Minute, env, args...)
}

// diveWithin is dive with its own hang guard, for big stacks on a busy engine.
func diveWithin(t *testing.T, guard time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	cmd := exec.CommandContext(ctx, diveBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(t0)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run dive %v: %v", args, err)
	}
	t.Logf("dive %s -> exit %d in %s", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

// sweep removes every container, network and volume of a project, whatever
// state dive left them in: the test's own cleanup.
func sweep(t *testing.T, project string, sharedNet string) {
	sweepWithin(t, 60*time.Second, project, sharedNet)
}

// sweepWithin is sweep with its own deadline, for big stacks on a busy engine.
func sweepWithin(t *testing.T, d time.Duration, project string, sharedNet string) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var nets []string
	if sharedNet != "" {
		nets = append(nets, sharedNet)
	}
	if left := testutil.Sweep(ctx, docker, project, nets...); len(left) > 0 {
		t.Logf("sweep of %s left: %v", project, left)
	}
}

// readyTime parses "standin <name>: READY <unix-ns>" from a container's logs:
// when the app became ready.
func readyTime(t *testing.T, container string) (time.Time, bool) {
	return logTime(t, container, ": READY ")
}

// firstHealthy parses "HEALTHZ-FIRST-200 <unix-ns>": when a health check
// first succeeded.
func firstHealthy(t *testing.T, container string) (time.Time, bool) {
	return logTime(t, container, ": HEALTHZ-FIRST-200 ")
}

func logTime(t *testing.T, container, marker string) (time.Time, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := docker.ContainerLogs(ctx, container, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs %s: %v", container, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(rc)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, marker); i >= 0 {
			var ns int64
			if _, err := fmt.Sscan(line[i+len(marker):], &ns); err == nil {
				return time.Unix(0, ns), true
			}
		}
	}
	return time.Time{}, false
}
