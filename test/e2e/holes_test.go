package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/standin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// standinImage makes sure the stand-in image of the dive under test exists,
// the way deploy builds it (from the static linux binary), without a deploy.
func standinImage(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx, engine.Options{})
	require.NoError(t, err)
	defer eng.Close()
	ref, _, err := standin.EnsureImage(ctx, eng, diveBin)
	require.NoError(t, err)
	return ref
}

// historyJSON runs `dive hub history --json` and decodes it.
func historyJSON(t *testing.T, env []string, file, project string) report.Summary {
	t.Helper()
	h := dive(t, env, "hub", "history", "-f", file, "-p", project, "--json")
	require.Equal(t, 0, h.code, h.stderr)
	var s report.Summary
	require.NoError(t, json.Unmarshal([]byte(h.stdout), &s), h.stdout)
	return s
}

func twoServices(img string) string {
	return `
services:
  a:
    image: ` + img + `
    environment: {STANDIN_NAME: a}
  b:
    image: ` + img + `
    environment: {STANDIN_NAME: b}
    depends_on: [a]
`
}

// TestRecordsOnFullDisk: the state directory is a small tmpfs that fills up
// during the deploy. The deploy still succeeds (exit 0: the stack is up),
// says that its records could not be written, and the history lists it as
// incomplete, with a start time.
func TestRecordsOnFullDisk(t *testing.T) {
	needDocker(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	img := standinImage(t)
	project := uniqueProject("e2e-full")
	t.Cleanup(func() { sweep(t, project, "") })
	dir, state := t.TempDir(), t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", state).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("umount", "-l", state).Run() })
	// Leave four pages free: the lock record (and its temporary twin) and the
	// deploy's first lines fit; the events of eight services do not.
	filler := filepath.Join(state, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, 48*1024), 0o644))
	var compose strings.Builder
	compose.WriteString("services:\n")
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
		compose.WriteString("  " + n + ":\n    image: " + img + "\n    environment: {STANDIN_NAME: " + n + "}\n")
	}
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(compose.String()), 0o644))
	env := []string{"DIVE_STATE_DIR=" + state}

	r := dive(t, env, "hub", "deploy", "-f", file, "-p", project, "--timeout", "3m")
	require.Equal(t, 0, r.code, "the stack is up: the deploy succeeds\n%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "this deploy's records could not be written")
	assert.Contains(t, r.stderr, "no space left on device")

	require.NoError(t, os.Remove(filler))
	s := historyJSON(t, env, file, project)
	require.Len(t, s.History, 1, "the deploy is in the history")
	d := s.History[0]
	assert.NotEmpty(t, d.RecordsError)
	assert.False(t, d.StartedAt.IsZero())
	rep := dive(t, env, "hub", "report", "-f", file, "-p", project, "--last")
	require.Equal(t, 0, rep.code, rep.stderr)
	assert.NotContains(t, rep.stdout, "0001-01-01")
	assert.Contains(t, rep.stdout, "Incomplete records")
}

// TestRecordsOfKilledDeploy: a deploy SIGKILLed mid-way is in the history as
// incomplete, and its report has a start time.
func TestRecordsOfKilledDeploy(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("e2e-kill")
	t.Cleanup(func() { sweep(t, project, "") })
	dir, state := t.TempDir(), t.TempDir()
	compose := twoServices(img) + `
  slow:
    image: ` + img + `
    environment: {STANDIN_NAME: slow, STANDIN_READY_AFTER: 10m}
    healthcheck: {test: ["CMD", "/dive", "standin", "probe"], interval: 1s, timeout: 5s, retries: 3}
    labels: {dive.service.timeout: 10m}
`
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(compose), 0o644))
	env := []string{"DIVE_STATE_DIR=" + state}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, diveBin, "hub", "deploy", "-f", file, "-p", project, "--timeout", "15m")
	cmd.Env = append(os.Environ(), env...)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill it once slow has been started: the deploy is well under way.
	for {
		evs, _ := filepath.Glob(filepath.Join(state, project, "deploys", "*", "events.jsonl"))
		if len(evs) == 1 {
			if b, _ := os.ReadFile(evs[0]); strings.Contains(string(b), `"service":"slow","event":"service_started"`) {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the deploy ended before it could be killed: %v", err)
		case <-ctx.Done():
			t.Fatal("slow was never started")
		case <-time.After(100 * time.Millisecond):
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done

	s := historyJSON(t, env, file, project)
	require.Len(t, s.History, 1, "the killed deploy is in the history")
	d := s.History[0]
	assert.Equal(t, report.DeployIncomplete, d.Outcome)
	assert.Contains(t, d.RecordsError, "dive was killed")
	assert.False(t, d.StartedAt.IsZero())
	rep := dive(t, env, "hub", "report", "-f", file, "-p", project, "--last")
	require.Equal(t, 0, rep.code, rep.stderr)
	assert.NotContains(t, rep.stdout, "0001-01-01")
	assert.Contains(t, rep.stdout, "incomplete")
}
