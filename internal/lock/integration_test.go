package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/testutil"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// daemon returns a client to the local engine, or skips the test when no
// daemon answers within 2s.
func daemon(t *testing.T) *client.Client {
	t.Helper()
	return testutil.Docker(t)
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func removeVolumes(t *testing.T, cli *client.Client, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			_, _ = cli.VolumeRemove(context.Background(), n, client.VolumeRemoveOptions{Force: true})
		}
	})
}

// TestDaemonVolumeCreateIsCompareAndSet is the experiment the engine marker
// rests on (see marker.go): concurrent creates of one name with different
// labels all succeed and all return the labels of the one that created it.
func TestDaemonVolumeCreateIsCompareAndSet(t *testing.T) {
	cli := daemon(t)
	ctx := context.Background()
	const rounds, n = 10, 6
	for r := range rounds {
		name := randomName("locktest-cas-")
		removeVolumes(t, cli, name)
		seen := make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				res, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: map[string]string{LabelHolder: fmt.Sprint(i)}})
				if assert.NoError(t, err) {
					seen[i] = res.Volume.Labels[LabelHolder]
				}
			})
		}
		close(start)
		wg.Wait()
		ins, err := cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		require.NoError(t, err)
		stored := ins.Volume.Labels[LabelHolder]
		winners := 0
		for i, s := range seen {
			assert.Equal(t, stored, s, "round %d: create %d saw other labels than the stored ones", r, i)
			if s == fmt.Sprint(i) {
				winners++
			}
		}
		assert.Equal(t, 1, winners, "round %d: exactly one create must see its own labels (seen %v)", r, seen)
		_, err = cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
		require.NoError(t, err)
	}
}

// Two machines (two state dirs) driving one engine.
func TestDaemonTwoMachinesOneEngine(t *testing.T) {
	cli := daemon(t)
	project := randomName("locktest-")
	removeVolumes(t, cli, MarkerName(project), MarkerName(project)+takeoverAffix)
	host, _ := os.Hostname()
	mk := func(dir, id string) Options {
		return Options{Dir: dir, Project: project, DeployID: id, Command: "deploy", Hold: time.Minute, Engine: cli, Version: "test"}
	}
	ctx := context.Background()

	a, err := Acquire(ctx, mk(t.TempDir(), "20261129T130211Z-aaaaaa"))
	require.NoError(t, err)
	ins, err := cli.VolumeInspect(ctx, MarkerName(project), client.VolumeInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "true", ins.Volume.Labels[LabelManaged])
	assert.Equal(t, project, ins.Volume.Labels[LabelProject])
	assert.Equal(t, a.Holder(), ins.Volume.Labels[LabelHolder])

	bOpts := mk(t.TempDir(), "20261129T130212Z-bbbbbb")
	start := time.Now()
	_, err = Acquire(ctx, bOpts)
	refusedIn := time.Since(start)
	assert.Less(t, refusedIn, time.Second)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, os.Getpid(), he.PID)
	assert.Equal(t, host, he.Host)
	assert.Equal(t, "20261129T130211Z-aaaaaa", he.DeployID)
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d on host %s", os.Getpid(), host))
	t.Logf("refused in %s: %v", refusedIn, err)

	require.NoError(t, a.Release())
	require.NoError(t, a.Release(), "twice is fine")
	b, err := Acquire(ctx, bOpts)
	require.NoError(t, err)
	ins, err = cli.VolumeInspect(ctx, MarkerName(project), client.VolumeInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, b.Holder(), ins.Volume.Labels[LabelHolder])
	require.NoError(t, b.Release())
	_, err = cli.VolumeInspect(ctx, MarkerName(project), client.VolumeInspectOptions{})
	assert.Error(t, err, "released: the marker is gone")
}

// A marker left by a dead process on this host is taken over on the real engine.
func TestDaemonStaleMarkerTakeover(t *testing.T) {
	cli := daemon(t)
	project := randomName("locktest-")
	removeVolumes(t, cli, MarkerName(project), MarkerName(project)+takeoverAffix)
	host, _ := os.Hostname()
	now := time.Now().UTC()
	_, err := cli.VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: MarkerName(project), Labels: map[string]string{
		LabelManaged: "true", LabelRole: RoleLock, LabelProject: project,
		LabelHolder: host + ":999999:DEAD", LabelStarted: now.Format(time.RFC3339), LabelExpires: now.Add(time.Hour).Format(time.RFC3339),
	}})
	require.NoError(t, err)
	var warns []string
	l, err := Acquire(context.Background(), Options{Dir: t.TempDir(), Project: project, DeployID: "NEW", Engine: cli,
		Alive: func(pid int) bool { return pid != 999999 }, Warn: func(s string) { warns = append(warns, s) }})
	require.NoError(t, err)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "previous holder pid 999999 on host "+host+" is gone")
	_, err = cli.VolumeInspect(context.Background(), MarkerName(project)+takeoverAffix, client.VolumeInspectOptions{})
	assert.Error(t, err, "the takeover guard is gone")
	require.NoError(t, l.Release())
}
