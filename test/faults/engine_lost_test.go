package faults

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/standin"
	"github.com/moby/moby/client"
)

// ownEngine starts a test-owned dockerd (scripts/engines.sh) with the
// stand-in image, and removes it with everything on it when the test ends.
// It skips when the machine cannot run one (not root, no dockerd).
func ownEngine(t *testing.T, name string) (host string, engines func(args ...string) error) {
	t.Helper()
	script := filepath.Join(moduleRoot, "scripts", "engines.sh")
	if _, err := os.Stat(script); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and scripts/engines.sh to run a test-owned dockerd")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("needs dockerd to run a test-owned engine")
	}
	engines = func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, args...)
		cmd.Env = append(os.Environ(), "ENGINE_UP_TIMEOUT=120")
		out, err := cmd.CombinedOutput()
		t.Logf("engines.sh %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		return err
	}
	t.Cleanup(func() {
		if err := engines("down", name); err != nil {
			t.Errorf("engines.sh down %s: %v", name, err)
		}
	})
	if err := engines("up", name); err != nil {
		t.Fatalf("engines.sh up %s: %v", name, err)
	}
	host = "unix:///run/dive-engines/" + name + "/docker.sock"
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, _, err := standin.EnsureImage(ctx, cli, diveBin); err != nil {
		t.Fatalf("stand-in image on the test engine: %v", err)
	}
	return host, engines
}

// dockerd stopping mid-deploy (it stops the containers on its way out) is
// reported as the engine lost, not as a service that exited on its own.
func TestEngineStoppedMidDeploy(t *testing.T) {
	f := newFixture(t, "engine-stopped")
	host, engines := ownEngine(t, "dive-lost-"+randHex(2))
	f.slot()
	f.write(`services:
  cache:
` + image + healthcheck + `  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 60s
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 5s
      retries: 20
      start_period: 90s
`)
	p := f.start([]string{"DOCKER_HOST=" + host}, f.hub("deploy")...)
	if !p.waitState(90*time.Second, "cache", "healthy") {
		p.wait()
		t.Fatal("cache never became healthy")
	}
	stopped := time.Now()
	if err := engines("stop", strings.TrimPrefix(strings.TrimSuffix(host, "/docker.sock"), "unix:///run/dive-engines/")); err != nil {
		t.Errorf("engines.sh stop: %v", err)
	}
	r := p.wait()
	wantCode(t, r, 1)
	wantOutput(t, r, "the engine was lost")
	within(t, "exit after the engine stopped (hang guard)", r.end.Sub(stopped), 40*time.Second, 1)
}
