// Package conformance deploys each compose file of its corpus twice — with
// docker compose (v2.40.3) and with dive, under two project names — and
// diffs `docker inspect` of the containers, networks and volumes field by
// field after normalizing project names, IDs, addresses and timestamps.
// Any difference not on the short list of intentional ones
// (docs/compatibility.md) fails the test.
package conformance

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/standin"
	"github.com/moby/moby/client"
)

// suite is what every case needs; set once by TestMain.
type suite struct {
	dive    string // the dive binary
	image   string // the stand-in image
	docker  *client.Client
	skipWhy string
}

var env suite

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	if testing.Short() {
		env.skipWhy = "short mode"
		return m.Run()
	}
	out, err := exec.Command("docker", "compose", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v2.") {
		env.skipWhy = "docker compose v2 is not installed (scripts/install-compose.sh installs v2.40.3): " + strings.TrimSpace(string(out))
		return m.Run()
	}
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
	}
	if err != nil {
		env.skipWhy = "no Docker daemon answers: " + err.Error()
		return m.Run()
	}
	env.docker = cli
	dir, err := os.MkdirTemp("", "dive-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env.dive = filepath.Join(dir, "dive")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", env.dive, "./cmd/dive")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dive: %v\n%s", err, out)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env.image, _, err = standin.EnsureImage(ctx, cli, env.dive)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stand-in image: %v\n", err)
		return 1
	}
	return m.Run()
}

func needSuite(t *testing.T) {
	t.Helper()
	if env.skipWhy != "" {
		t.Skip("conformance suite skipped: " + env.skipWhy)
	}
}
