package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExecWithoutOwnConnection: on an engine where a connection is costly
// (ssh), probes run as detached execs read back by inspect, on pooled
// connections. What the prober classifies from must be what an attached
// exec gives: the exit code, the runtime's message for a command that could
// not start, an error for a container that is not running.
func TestExecWithoutOwnConnection(t *testing.T) {
	f := newFixture(t, "execmodes")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := f.project + "-probe"
	cr, err := docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   name,
		Config: &container.Config{Image: standinRef, Labels: map[string]string{labelProject: f.project}},
	})
	require.NoError(t, err)
	_, err = docker.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{})
	require.NoError(t, err)

	probe := []string{"/dive", "standin", "probe"}
	for _, costly := range []bool{false, true} {
		eng, err := engine.New(ctx, engine.Options{CostlyDial: costly})
		require.NoError(t, err)
		mode := map[bool]string{false: "attached", true: "detached"}[costly]

		// The stand-in answers 200 from its start (READY_AFTER 0), but it
		// may not listen yet: wait for the first pass.
		var res engine.ExecResult
		require.Eventually(t, func() bool {
			res, err = eng.Exec(ctx, cr.ID, probe, 10*time.Second)
			return err == nil && res.ExitCode == 0
		}, time.Minute, 100*time.Millisecond, "%s: the probe passes (last: %+v, %v)", mode, res, err)

		res, err = eng.Exec(ctx, cr.ID, []string{"/dive", "standin", "probe", "--url", "http://127.0.0.1:1/"}, 10*time.Second)
		require.NoError(t, err, mode)
		assert.Equal(t, 1, res.ExitCode, "%s: a probe that says no", mode)

		res, err = eng.Exec(ctx, cr.ID, []string{"/no-such-probe"}, 10*time.Second)
		require.NoError(t, err, mode)
		assert.Contains(t, []int{126, 127}, res.ExitCode, "%s: a command that cannot start", mode)
		assert.Contains(t, strings.ToLower(res.Output), "oci runtime exec failed", "%s: the runtime's message", mode)
		assert.Contains(t, res.Output, "/no-such-probe", mode)
		require.NoError(t, eng.Close())
	}

	_, err = docker.ContainerStop(ctx, cr.ID, client.ContainerStopOptions{})
	require.NoError(t, err)
	for _, costly := range []bool{false, true} {
		eng, err := engine.New(ctx, engine.Options{CostlyDial: costly})
		require.NoError(t, err)
		_, err = eng.Exec(ctx, cr.ID, probe, 10*time.Second)
		require.Error(t, err, "costly=%v: no exec in a stopped container", costly)
		assert.Contains(t, strings.ToLower(err.Error()), "is not running", "costly=%v", costly)
		require.NoError(t, eng.Close())
	}
}
