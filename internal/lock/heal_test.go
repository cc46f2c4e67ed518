package lock

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forgetfulVolumes answers the create of an existing volume without its
// labels, as a restarted daemon does; inspect still has them.
type forgetfulVolumes struct{ *fakeVolumes }

func (f forgetfulVolumes) VolumeCreate(ctx context.Context, o client.VolumeCreateOptions) (client.VolumeCreateResult, error) {
	existed := f.labels(o.Name) != nil
	res, err := f.fakeVolumes.VolumeCreate(ctx, o)
	if existed {
		res.Volume.Labels = nil
	}
	return res, err
}

// After an engine restart the marker's labels come from an inspect: a
// dead holder is taken over, a live one still refuses with its name.
func TestCreateWithoutLabelsAfterRestartIsJudgedByInspect(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", foreignMarker("me", 999999, "OLD", t0, t0.Add(11*time.Minute)))
	var warns []string
	o := opts(t.TempDir(), forgetfulVolumes{fake}, "me", 100, "D1", &warns)
	o.Now = func() time.Time { return t0.Add(time.Minute) }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, "me:100:D1", fake.labels("dive-lock_dive-hub")[LabelHolder])
	require.NoError(t, l.Release())

	fake.put("dive-lock_dive-hub", foreignMarker("me", 4242, "LIVE", t0, t0.Add(11*time.Minute)))
	o = opts(t.TempDir(), forgetfulVolumes{fake}, "me", 100, "D2", nil)
	o.Now = func() time.Time { return t0.Add(time.Minute) }
	_, err = Acquire(context.Background(), o)
	require.True(t, IsHeld(err), "%v", err)
	assert.Contains(t, err.Error(), "pid 4242 on host me")
	assert.NotContains(t, err.Error(), "not recorded yet")
}

// A marker whose labels are really gone counts as held for
// unlabelledHold from its creation, then is taken over.
func TestUnlabelledMarkerExpires(t *testing.T) {
	fake := newFake()
	fake.put("dive-lock_dive-hub", map[string]string{})
	fake.created = t0
	o := opts(t.TempDir(), fake, "me", 100, "D1", nil)
	o.Now = func() time.Time { return t0.Add(time.Minute) }
	_, err := Acquire(context.Background(), o)
	require.True(t, IsHeld(err), "%v", err)
	assert.Contains(t, err.Error(), "counts as held until 11m0s after its creation")

	o = opts(t.TempDir(), fake, "me", 100, "D2", nil)
	o.Now = func() time.Time { return t0.Add(unlabelledHold + time.Second) }
	l, err := Acquire(context.Background(), o)
	require.NoError(t, err)
	require.NoError(t, l.Release())
}

// A holder whose pid now belongs to another process (same boot, same pid
// namespace, another start time) is gone; one in another pid namespace
// is judged by its expiry only.
func TestReusedPidIsStale(t *testing.T) {
	ids := map[int]string{100: "boot=B pidns=1 start=500", 4242: "boot=B pidns=1 start=900"}
	marker := func(process string) map[string]string {
		m := foreignMarker("me", 4242, "OLD", t0, t0.Add(11*time.Minute))
		m[LabelProcess] = process
		return m
	}
	tests := []struct {
		name, process string
		stale         bool
	}{
		{"same process", "boot=B pidns=1 start=900", false},
		{"pid reused", "boot=B pidns=1 start=123", true},
		{"before a reboot", "boot=A pidns=1 start=900", true},
		{"other pid namespace", "boot=B pidns=7 start=123", false},
		{"no record (older dive)", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			fake.put("dive-lock_dive-hub", marker(tt.process))
			o := opts(t.TempDir(), fake, "me", 100, "D1", nil)
			o.Now = func() time.Time { return t0.Add(time.Minute) }
			o.ProcID = func(pid int) string { return ids[pid] }
			l, err := Acquire(context.Background(), o)
			if !tt.stale {
				require.True(t, IsHeld(err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, l.Release())
		})
	}
}
