// Package fleet runs `dive fleet` against real Docker engines: three extra
// dockerd instances started by scripts/engines.sh (one reached over ssh),
// never the main dockerd. The tests skip, saying why, when not root or when
// the engines cannot start, and always stop the engines they started.
package fleet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// engineSet is the test's three engines: one and two over their unix
// sockets, three over ssh.
type engineSet struct {
	names      [3]string // engines.sh names
	hosts      [3]string // unix:// of each
	sshURL     string    // ssh:// of the third
	sshKey     string
	knownHosts string
}

var (
	diveBin string
	repo    string
	engines engineSet
	skipWhy string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Join(filepath.Dir(file), "..", "..")
	switch {
	case testing.Short():
		skipWhy = "short mode"
	case os.Geteuid() != 0:
		skipWhy = "the fleet tests start extra dockerd instances and an sshd: they need root"
	}
	if skipWhy != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "dive-fleet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	diveBin = filepath.Join(dir, "dive")
	build := exec.Command("go", "build", "-o", diveBin, "./cmd/dive")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dive: %v\n%s", err, out)
		return 1
	}
	stop, err := startEngines()
	defer stop()
	if err != nil {
		skipWhy = "extra engines could not start: " + err.Error()
	}
	return m.Run()
}

func engineScript(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", "engines.sh"), args...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("engines.sh %s: %v %s", strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

// startEngines starts three engines and the third's sshd. The returned stop
// removes whatever was started, also after a partial failure.
func startEngines() (func(), error) {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	for i := range engines.names {
		engines.names[i] = fmt.Sprintf("flt%s-%d", tag, i+1)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := engineScript(ctx, append([]string{"down"}, engines.names[:]...)...); err != nil {
			fmt.Fprintln(os.Stderr, "fleet tests: removing the engines:", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := engineScript(ctx, append([]string{"up"}, engines.names[:]...)...)
	if err != nil {
		return stop, err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i, n := range engines.names {
			if len(f) == 2 && f[0] == n {
				engines.hosts[i] = f[1]
			}
		}
	}
	port, err := freePort()
	if err != nil {
		return stop, err
	}
	out, err = engineScript(ctx, "ssh", engines.names[2], fmt.Sprint(port))
	if err != nil {
		return stop, err
	}
	f := strings.Fields(strings.TrimSpace(out))
	if len(f) != 4 {
		return stop, fmt.Errorf("engines.sh ssh printed %q", out)
	}
	engines.sshURL, engines.sshKey, engines.knownHosts = f[1], f[2], f[3]
	return stop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func needEngines(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

// fleetArgs point the demo fleet's engines at the test's.
func fleetArgs(stateDir string) []string {
	return []string{"--demo", "--state-dir", stateDir,
		"--engine", "one=" + engines.hosts[0], "--engine", "two=" + engines.hosts[1], "--engine", "three=" + engines.sshURL,
		"--ssh-key", "three=" + engines.sshKey, "--ssh-known-hosts", "three=" + engines.knownHosts}
}

// demoEnv gives the hub and the spokes free host ports (the extra engines
// share the host's ports with every other test) and a private state home.
func demoEnv(t *testing.T) []string {
	t.Helper()
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	for _, v := range []string{"REDIS_HOST_PORT", "BACKEND_HOST_PORT", "FRONTEND_HOST_PORT", "KEYCLOAK_HTTP_PORT",
		"DEMO_SPOKE_FRA_PORT", "DEMO_SPOKE_GBR_PORT", "DEMO_SPOKE_DEU_PORT"} {
		p, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, fmt.Sprintf("%s=%d", v, p))
	}
	return env
}
