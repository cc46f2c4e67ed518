package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeVolumes behaves like the daemon's volume store: a create of an
// existing name returns the existing volume with its own labels.
type fakeVolumes struct {
	mu      sync.Mutex
	vols    map[string]map[string]string
	creates int
	removes []string
	created time.Time // every volume's CreatedAt
}

func newFake() *fakeVolumes { return &fakeVolumes{vols: map[string]map[string]string{}} }

func (f *fakeVolumes) VolumeCreate(_ context.Context, o client.VolumeCreateOptions) (client.VolumeCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if _, ok := f.vols[o.Name]; !ok {
		labels := map[string]string{}
		for k, v := range o.Labels {
			labels[k] = v
		}
		f.vols[o.Name] = labels
	}
	return client.VolumeCreateResult{Volume: volume.Volume{Name: o.Name, Driver: "local", Labels: f.copy(o.Name), CreatedAt: f.createdAt()}}, nil
}

func (f *fakeVolumes) VolumeInspect(_ context.Context, name string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[name]; !ok {
		return client.VolumeInspectResult{}, fmt.Errorf("get %s: %w", name, cerrdefs.ErrNotFound)
	}
	return client.VolumeInspectResult{Volume: volume.Volume{Name: name, Labels: f.copy(name), CreatedAt: f.createdAt()}}, nil
}

func (f *fakeVolumes) VolumeRemove(_ context.Context, name string, _ client.VolumeRemoveOptions) (client.VolumeRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[name]; !ok {
		return client.VolumeRemoveResult{}, fmt.Errorf("remove %s: %w", name, cerrdefs.ErrNotFound)
	}
	delete(f.vols, name)
	f.removes = append(f.removes, name)
	return client.VolumeRemoveResult{}, nil
}

func (f *fakeVolumes) createdAt() string {
	if f.created.IsZero() {
		return ""
	}
	return f.created.Format(time.RFC3339)
}

func (f *fakeVolumes) copy(name string) map[string]string {
	out := map[string]string{}
	for k, v := range f.vols[name] {
		out[k] = v
	}
	return out
}

func (f *fakeVolumes) labels(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[name]; !ok {
		return nil
	}
	return f.copy(name)
}

func (f *fakeVolumes) put(name string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vols[name] = labels
}

var t0 = time.Date(2026, 11, 29, 13, 2, 11, 0, time.UTC)

// opts are the options of a process "pid on host" using dir.
func opts(dir string, eng VolumeAPI, host string, pid int, deployID string, warn *[]string) Options {
	return Options{
		Dir: dir, Project: "dive-hub", DeployID: deployID, Command: "deploy", Hold: 10 * time.Minute,
		Engine: eng, Version: "test", Host: host, PID: pid, User: "root",
		Alive: func(p int) bool { return p != 999999 },
		Warn: func(s string) {
			if warn != nil {
				*warn = append(*warn, s)
			}
		},
		Poll: 10 * time.Millisecond,
	}
}

func foreignMarker(host string, pid int, deployID string, started, expires time.Time) map[string]string {
	return map[string]string{
		LabelManaged: "true", LabelRole: RoleLock, LabelProject: "dive-hub",
		LabelHolder:  fmt.Sprintf("%s:%d:%s", host, pid, deployID),
		LabelStarted: started.Format(time.RFC3339), LabelExpires: expires.Format(time.RFC3339),
		LabelUser: "root", LabelCommand: "deploy",
	}
}

func TestAcquireWritesRecordAndMarkerAndReleaseRemovesThem(t *testing.T) {
	dir, fake := t.TempDir(), newFake()
	o := opts(dir, fake, "me", 100, "D1", nil)
	o.Now = func() time.Time { return t0 }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)

	m := fake.labels("dive-lock_dive-hub")
	require.NotNil(t, m)
	assert.Equal(t, "me:100:D1", m[LabelHolder])
	assert.Equal(t, "true", m[LabelManaged])
	assert.Equal(t, RoleLock, m[LabelRole])
	assert.Equal(t, "dive-hub", m[LabelProject])
	assert.Equal(t, "2026-11-29T13:02:11Z", m[LabelStarted])
	assert.Equal(t, "2026-11-29T13:13:11Z", m[LabelExpires], "start + hold 10m + 1m")
	for k := range m {
		assert.False(t, strings.HasPrefix(k, "com.docker.compose."), "the marker must not carry compose labels: %s", k)
	}

	b, err := os.ReadFile(filepath.Join(dir, "dive-hub", "deploy.lock.json"))
	require.NoError(t, err)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(b, &rec))
	assert.EqualValues(t, 100, rec["pid"])
	assert.Equal(t, "me", rec["host"])
	assert.Equal(t, "root", rec["user"])
	assert.Equal(t, "2026-11-29T13:02:11Z", rec["started"])
	assert.Equal(t, "D1", rec["deploy_id"])
	assert.Equal(t, "deploy", rec["command"])
	assert.Equal(t, "test", rec["dive_version"])
	assert.Equal(t, "2026-11-29T13:13:11Z", rec["hold_deadline"])

	require.NoError(t, l.Release())
	assert.Nil(t, fake.labels("dive-lock_dive-hub"))
	assert.NoFileExists(t, filepath.Join(dir, "dive-hub", "deploy.lock.json"))
	assert.FileExists(t, filepath.Join(dir, "dive-hub", "deploy.lock"), "the lock file stays: unlinking a flock file races")

	l2, err := Acquire(context.Background(), opts(dir, fake, "me", 101, "D2", nil))
	require.NoError(t, err, "free again after release")
	require.NoError(t, l2.Release())
}

func TestHolderMismatchIsRefusedQuickly(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("hub-1", 4242, "20261129T130211Z-ab12cd", t0, t0.Add(11*time.Minute)))
	dir := t.TempDir()
	o := opts(dir, fake, "me", 100, "D1", nil)
	o.Now = func() time.Time { return t0.Add(3 * time.Minute) }
	start := time.Now()
	_, err := Acquire(context.Background(), o)
	assert.Less(t, time.Since(start), time.Second)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	assert.True(t, IsHeld(err))
	assert.Equal(t, 4242, he.PID)
	assert.Equal(t, "hub-1", he.Host)
	assert.Equal(t, "root", he.User)
	assert.Equal(t, "20261129T130211Z-ab12cd", he.DeployID)
	assert.Contains(t, err.Error(), "project dive-hub is locked by another deploy: pid 4242 on host hub-1 (user root), started 2026-11-29T13:02:11Z (3m ago), deploy 20261129T130211Z-ab12cd; wait for it, or pass --wait-lock 8m")
	assert.Contains(t, err.Error(), "engine volume dive-lock_dive-hub")
	assert.Equal(t, "hub-1:4242:20261129T130211Z-ab12cd", fake.labels("dive-lock_dive-hub")[LabelHolder], "someone else's marker is left alone")
	// The refused attempt let go of the file lock and its record.
	assert.NoFileExists(t, filepath.Join(dir, "dive-hub", "deploy.lock.json"))
	l, err := Acquire(context.Background(), opts(dir, nil, "me", 101, "D2", nil))
	require.NoError(t, err)
	require.NoError(t, l.Release())
}

func TestHeldErrorMessage(t *testing.T) {
	he := &HeldError{Project: "dive-hub", Command: "deploy", PID: 4242, Host: "hub-1", User: "root",
		DeployID: "20261129T130211Z-ab12cd", Started: t0, Now: t0.Add(3*time.Minute + 20*time.Second)}
	assert.Equal(t, "project dive-hub is locked by another deploy: pid 4242 on host hub-1 (user root), started 2026-11-29T13:02:11Z (3m ago), deploy 20261129T130211Z-ab12cd; wait for it, or pass --wait-lock 5m", he.Error())
	he.Command, he.DeployID = "down", "down"
	assert.Equal(t, "project dive-hub is locked by a running 'dive hub down': pid 4242 on host hub-1 (user root), started 2026-11-29T13:02:11Z (3m ago); wait for it, or pass --wait-lock 5m", he.Error())
	assert.Equal(t, "42s", Ago(42*time.Second))
	assert.Equal(t, "1h05m", Ago(65*time.Minute))
}

func TestStaleMarkerOfDeadLocalPidIsTakenOver(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("me", 999999, "OLD", t0, t0.Add(11*time.Minute)))
	var warns []string
	o := opts(t.TempDir(), fake, "me", 100, "D1", &warns)
	o.Now = func() time.Time { return t0.Add(time.Minute) }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, "me:100:D1", fake.labels("dive-lock_dive-hub")[LabelHolder])
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "previous holder pid 999999 on host me is gone")
	assert.Contains(t, warns[0], "taking over")
	assert.Nil(t, fake.labels("dive-lock_dive-hub.takeover"), "the takeover guard is removed")
	require.NoError(t, l.Release())
}

func TestLiveLocalPidIsNotStale(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("me", 4242, "OTHER", t0, t0.Add(11*time.Minute)))
	o := opts(t.TempDir(), fake, "me", 100, "D1", nil)
	o.Now = func() time.Time { return t0.Add(time.Minute) }
	_, err := Acquire(context.Background(), o)
	require.True(t, IsHeld(err), "%v", err)
}

func TestExpiredMarkerIsTakenOver(t *testing.T) {
	fake := newFake()
	// Another host: its pid cannot be checked, only its expiry.
	fake.put("dive-lock_dive-hub", foreignMarker("hub-2", 4242, "OLD", t0, t0.Add(11*time.Minute)))
	var warns []string
	o := opts(t.TempDir(), fake, "me", 100, "D1", &warns)
	o.Now = func() time.Time { return t0.Add(12 * time.Minute) }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, "me:100:D1", fake.labels("dive-lock_dive-hub")[LabelHolder])
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "expired at 2026-11-29T13:13:11Z")
	require.NoError(t, l.Release())
}

func TestTakeoverGuardHeldByLiveTakerRefuses(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("hub-2", 4242, "OLD", t0, t0.Add(11*time.Minute)))
	guard := foreignMarker("hub-3", 77, "TAKER", t0.Add(12*time.Minute), t0.Add(12*time.Minute+takeoverTTL))
	guard[LabelRole] = RoleTakeover
	fake.put("dive-lock_dive-hub.takeover", guard)
	o := opts(t.TempDir(), fake, "me", 100, "D1", nil)
	o.Now = func() time.Time { return t0.Add(12 * time.Minute) }
	_, err := Acquire(context.Background(), o)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 77, he.PID)
	assert.Equal(t, "hub-3", he.Host)
	assert.Contains(t, err.Error(), "taking over a stale lock")
	assert.Equal(t, "hub-2:4242:OLD", fake.labels("dive-lock_dive-hub")[LabelHolder], "only the guard's holder may replace the marker")
}

func TestTakeoverGuardLeftByDeadTakerIsRemoved(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("hub-2", 4242, "OLD", t0, t0.Add(11*time.Minute)))
	guard := foreignMarker("hub-3", 77, "TAKER", t0, t0.Add(takeoverTTL))
	guard[LabelRole] = RoleTakeover
	fake.put("dive-lock_dive-hub.takeover", guard)
	var warns []string
	o := opts(t.TempDir(), fake, "me", 100, "D1", &warns)
	o.Now = func() time.Time { return t0.Add(12 * time.Minute) }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, "me:100:D1", fake.labels("dive-lock_dive-hub")[LabelHolder])
	assert.Nil(t, fake.labels("dive-lock_dive-hub.takeover"))
	assert.Len(t, warns, 2)
	require.NoError(t, l.Release())
}

func TestStaleFileRecordIsOverwrittenWithWarning(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dive-hub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dive-hub", "deploy.lock.json"),
		[]byte(`{"pid":31337,"host":"hub-1","started":"2026-11-29T13:02:11Z","deploy_id":"OLD","command":"deploy"}`), 0o644))
	var warns []string
	l, err := Acquire(context.Background(), opts(dir, nil, "me", 100, "D1", &warns))
	require.NoError(t, err)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "previous holder pid 31337 on host hub-1 is gone")
	assert.Contains(t, warns[0], "taking over")
	r, err := readRecord(filepath.Join(dir, "dive-hub", "deploy.lock.json"))
	require.NoError(t, err)
	assert.Equal(t, 100, r.PID)
	require.NoError(t, l.Release())
}

func TestFileLockRefusesSecondLocalHolder(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(context.Background(), opts(dir, nil, "me", 100, "D1", nil))
	require.NoError(t, err)
	start := time.Now()
	_, err = Acquire(context.Background(), opts(dir, nil, "me", 101, "D2", nil))
	assert.Less(t, time.Since(start), time.Second)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 100, he.PID)
	assert.Equal(t, "me", he.Host)
	assert.Equal(t, "D1", he.DeployID)
	assert.Contains(t, he.Via, "deploy.lock")
	require.NoError(t, a.Release())
}

func TestReleaseIsIdempotentAndLeavesOthersMarker(t *testing.T) {
	fake := newFake()
	l, err := Acquire(context.Background(), opts(t.TempDir(), fake, "me", 100, "D1", nil))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, l.Release()) })
	}
	wg.Wait()
	assert.NoError(t, l.Release())
	assert.Equal(t, []string{"dive-lock_dive-hub"}, fake.removes, "removed exactly once")

	// A marker that is no longer ours (taken over after our hold expired) is left alone.
	l2, err := Acquire(context.Background(), opts(t.TempDir(), fake, "me", 100, "D2", nil))
	require.NoError(t, err)
	fake.put("dive-lock_dive-hub", foreignMarker("hub-2", 5, "NEW", t0, t0.Add(time.Hour)))
	require.NoError(t, l2.Release())
	assert.Equal(t, "hub-2:5:NEW", fake.labels("dive-lock_dive-hub")[LabelHolder])
	var nilLock *Lock
	assert.NoError(t, nilLock.Release())
}

func TestWaitLockWaitsThenAcquires(t *testing.T) {
	fake := newFake()
	a, err := Acquire(context.Background(), opts(t.TempDir(), fake, "hub-1", 100, "D1", nil))
	require.NoError(t, err)
	go func() {
		time.Sleep(150 * time.Millisecond)
		_ = a.Release()
	}()
	var warns []string
	o := opts(t.TempDir(), fake, "hub-2", 200, "D2", &warns)
	o.Wait = 5 * time.Second
	start := time.Now()
	b, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	waited := time.Since(start)
	assert.GreaterOrEqual(t, waited, 150*time.Millisecond)
	assert.Less(t, waited, 2*time.Second)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "waiting up to 5s")
	assert.Equal(t, "hub-2:200:D2", fake.labels("dive-lock_dive-hub")[LabelHolder])
	require.NoError(t, b.Release())
}

func TestWaitLockGivesUp(t *testing.T) {
	fake := newFake()
	a, err := Acquire(context.Background(), opts(t.TempDir(), fake, "hub-1", 100, "D1", nil))
	require.NoError(t, err)
	defer a.Release()
	o := opts(t.TempDir(), fake, "hub-2", 200, "D2", nil)
	o.Wait = 100 * time.Millisecond
	start := time.Now()
	_, err = Acquire(context.Background(), o)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 100*time.Millisecond, he.Waited)
	assert.Contains(t, err.Error(), "still held after waiting 100ms")
}

func TestWaitLockEndsWithContext(t *testing.T) {
	fake := newFake()
	a, err := Acquire(context.Background(), opts(t.TempDir(), fake, "hub-1", 100, "D1", nil))
	require.NoError(t, err)
	defer a.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := opts(t.TempDir(), fake, "hub-2", 200, "D2", nil)
	o.Wait = time.Minute
	_, err = Acquire(ctx, o)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}

// The fake must race like the daemon: many concurrent acquirers, exactly one wins.
func TestConcurrentAcquireOneWinner(t *testing.T) {
	fake := newFake()
	var mu sync.Mutex
	var won []*Lock
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l, err := Acquire(context.Background(), opts(t.TempDir(), fake, fmt.Sprintf("h%d", i), 100+i, "D", nil))
			if err == nil {
				mu.Lock()
				won = append(won, l)
				mu.Unlock()
			} else {
				assert.True(t, IsHeld(err), "%v", err)
			}
		})
	}
	wg.Wait()
	require.Len(t, won, 1)
	require.NoError(t, won[0].Release())
}
