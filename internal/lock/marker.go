package lock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// The engine marker.
//
// Why a volume works as a compare-and-set on the engine: POST /volumes/create
// with the name of an existing volume (same driver) does not fail; it returns
// the existing volume, with the labels it was created with, not the labels
// of the request. The daemon serializes creates (and removes) per volume name
// (the volume store takes a per-name lock around check-and-create). So after
// "create with my labels", the holder label in the answer says who won: mine
// means I created it and hold the lock; any other means someone else holds it.
//
// Checked on this daemon (Docker 20.10.24+dfsg1, API 1.41) with the
// experiment kept as TestDaemonVolumeCreateIsCompareAndSet: 40 rounds of 8
// goroutines creating the same fresh name at once, each with a different
// holder label. In all 40 rounds every one of the 8 creates succeeded and
// returned the same labels, those of exactly one of the 8 callers (the
// winner varied from round to round), and a later inspect showed the same
// labels. No create saw its own labels unless it was the one that created
// the volume. So no other marker (a created-not-started container would
// need an image, and the only local image, dive-standin:*, exists only for
// the demo) is needed.
//
// What a create cannot do is replace: taking over a stale marker is
// "remove, then create", and two takers racing could each remove the
// other's fresh marker. Takeovers are therefore serialized by a second
// marker of the same kind, dive-lock_<project>.takeover (short-lived; its
// own expiry is takeoverTTL): only the taker that wins it may remove the
// main marker, and only after checking, under it, that the marker still
// names a stale holder. One narrow race remains: a holder that outlived its
// hold (so it counts as stale) releasing in the milliseconds between the
// taker's check and its remove, and a new deploy creating the marker in the
// same window; the taker would then remove that fresh marker. It needs a
// deploy running a minute past its own timeout, and is accepted.

// VolumeAPI is the part of the moby client the lock needs; *client.Client
// implements it and unit tests fake it.
type VolumeAPI interface {
	VolumeCreate(ctx context.Context, options client.VolumeCreateOptions) (client.VolumeCreateResult, error)
	VolumeInspect(ctx context.Context, volumeID string, options client.VolumeInspectOptions) (client.VolumeInspectResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
}

var _ VolumeAPI = (*client.Client)(nil)

// Labels of the marker volume. It carries no com.docker.compose.* label,
// so `down -v` (which removes the project's volumes) never removes it.
const (
	LabelManaged  = "io.dive.managed"
	LabelRole     = "io.dive.role"
	LabelVersion  = "io.dive.version"
	LabelProject  = "io.dive.lock.project"
	LabelHolder   = "io.dive.lock.holder" // host:pid:deployid
	LabelStarted  = "io.dive.lock.started"
	LabelExpires  = "io.dive.lock.expires"
	LabelUser     = "io.dive.lock.user"
	LabelCommand  = "io.dive.lock.command"
	LabelProcess  = "io.dive.lock.process" // boot=… pidns=… start=… (see procIdentity)
	RoleLock      = "lock"
	RoleTakeover  = "lock-takeover"
	takeoverTTL   = 30 * time.Second
	takeoverAffix = ".takeover"
)

// markerInfo is a marker volume as read back.
type markerInfo struct {
	name             string
	holder           string
	host             string
	pid              int
	deployID         string
	user, command    string
	process          string
	started, expires time.Time
	created          time.Time // the volume's creation (the engine's clock)
}

func parseMarker(name string, labels map[string]string) markerInfo {
	m := markerInfo{name: name, holder: labels[LabelHolder], user: labels[LabelUser], command: labels[LabelCommand], process: labels[LabelProcess]}
	if parts := strings.SplitN(m.holder, ":", 3); len(parts) == 3 {
		m.host = parts[0]
		m.pid, _ = strconv.Atoi(parts[1])
		m.deployID = parts[2]
	}
	m.started, _ = time.Parse(time.RFC3339, labels[LabelStarted])
	m.expires, _ = time.Parse(time.RFC3339, labels[LabelExpires])
	return m
}

func (l *Lock) markerLabels(role string, expires time.Time) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelRole:    role,
		LabelVersion: l.o.Version,
		LabelProject: l.o.Project,
		LabelHolder:  l.holder,
		LabelStarted: l.started.UTC().Format(time.RFC3339),
		LabelExpires: expires.UTC().Format(time.RFC3339),
		LabelUser:    l.o.User,
		LabelCommand: l.o.Command,
		LabelProcess: l.o.ProcID(l.o.PID),
	}
}

func (l *Lock) create(ctx context.Context, name string, labels map[string]string) (markerInfo, error) {
	cctx, cancel := l.o.CallContext(ctx, l.o.CallTimeout)
	defer cancel()
	res, err := l.o.Engine.VolumeCreate(cctx, client.VolumeCreateOptions{Name: name, Driver: "local", Labels: labels})
	if err != nil {
		return markerInfo{}, fmt.Errorf("lock marker: create volume %s: %w", name, err)
	}
	if res.Volume.Labels[LabelHolder] == "" {
		// After a restart the engine answers the create of an existing
		// volume without its labels ("Labels": null) while an inspect
		// still shows them: ask again.
		m, found, err := l.inspect(ctx, name)
		if err != nil || !found {
			return markerInfo{}, fmt.Errorf("lock marker: volume %s: its create answered without labels and %w", name, errors.Join(err, errGoneMeanwhile(found)))
		}
		return m, nil
	}
	m := parseMarker(name, res.Volume.Labels)
	m.created = parseCreated(res.Volume.CreatedAt)
	return m, nil
}

// errGoneMeanwhile is the error of a marker that vanished between a create
// and an inspect (nil when it was found).
func errGoneMeanwhile(found bool) error {
	if found {
		return nil
	}
	return errors.New("it was removed meanwhile; try again")
}

func parseCreated(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func (l *Lock) inspect(ctx context.Context, name string) (markerInfo, bool, error) {
	ctx, cancel := l.o.CallContext(ctx, l.o.CallTimeout)
	defer cancel()
	res, err := l.o.Engine.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return markerInfo{}, false, nil
	}
	if err != nil {
		return markerInfo{}, false, fmt.Errorf("lock marker: inspect volume %s: %w", name, err)
	}
	m := parseMarker(name, res.Volume.Labels)
	m.created = parseCreated(res.Volume.CreatedAt)
	return m, true, nil
}

func (l *Lock) remove(ctx context.Context, name string) error {
	ctx, cancel := l.o.CallContext(ctx, l.o.CallTimeout)
	defer cancel()
	_, err := l.o.Engine.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("lock marker: remove volume %s: %w", name, err)
	}
	return nil
}

// removeIfHolder removes a marker only while it still names holder.
func (l *Lock) removeIfHolder(ctx context.Context, name, holder string) error {
	m, found, err := l.inspect(ctx, name)
	if err != nil || !found || m.holder != holder {
		return err
	}
	return l.remove(ctx, name)
}

// stale says whether a marker's holder is gone: its hold expired, or it ran
// on this host and its pid no longer exists.
func (l *Lock) stale(m markerInfo) (bool, string) {
	if m.holder == "" {
		return l.unlabelledStale(m)
	}
	if !m.expires.IsZero() && l.o.Now().After(m.expires) {
		return true, fmt.Sprintf("the hold of pid %d on host %s (deploy %s) expired at %s", m.pid, m.host, m.deployID, m.expires.UTC().Format(time.RFC3339))
	}
	if m.host != l.o.Host || m.pid <= 0 {
		return false, ""
	}
	if !l.o.Alive(m.pid) {
		return true, fmt.Sprintf("previous holder pid %d on host %s is gone (deploy %s)", m.pid, m.host, m.deployID)
	}
	return l.holderGone(m)
}

func (l *Lock) heldBy(m markerInfo) *HeldError {
	he := &HeldError{Project: l.o.Project, Command: m.command, PID: m.pid, Host: m.host, User: m.user, DeployID: m.deployID,
		Started: m.started, Expires: m.expires, Now: l.o.Now(), Via: "engine volume " + m.name}
	if strings.HasSuffix(m.name, takeoverAffix) {
		he.Via += " (it is taking over a stale lock)"
	}
	if m.holder == "" {
		he.Via += fmt.Sprintf(", which has no %s label: it counts as held until %s after its creation", LabelHolder, unlabelledHold)
		if !m.created.IsZero() {
			he.Expires = m.created.Add(unlabelledHold)
		}
		he.Via += fmt.Sprintf("; if no deploy is running, remove it now with 'docker volume rm %s'", m.name)
	}
	return he
}

// claimMarker takes the engine marker or says who holds it.
func (l *Lock) claimMarker(ctx context.Context) error {
	name := MarkerName(l.o.Project)
	m, err := l.create(ctx, name, l.markerLabels(RoleLock, l.expires))
	if err != nil {
		return err
	}
	if m.holder == l.holder {
		l.marker = true
		return nil
	}
	if ok, why := l.stale(m); ok {
		return l.takeOver(ctx, m, why)
	}
	return l.heldBy(m)
}

// takeOver replaces a stale marker under the takeover guard.
func (l *Lock) takeOver(ctx context.Context, old markerInfo, why string) error {
	name := MarkerName(l.o.Project)
	guard := name + takeoverAffix
	guardLabels := l.markerLabels(RoleTakeover, l.o.Now().Add(takeoverTTL))
	g, err := l.create(ctx, guard, guardLabels)
	if err != nil {
		return err
	}
	if g.holder != l.holder {
		ok, gwhy := l.stale(g)
		if !ok {
			return l.heldBy(g)
		}
		// A taker died mid-takeover.
		l.o.Warn(fmt.Sprintf("lock takeover marker %s: %s; removing it", guard, gwhy))
		if err := l.removeIfHolder(ctx, guard, g.holder); err != nil {
			return err
		}
		if g, err = l.create(ctx, guard, guardLabels); err != nil {
			return err
		}
		if g.holder != l.holder {
			return l.heldBy(g)
		}
	}
	defer func() {
		_ = l.removeIfHolder(context.WithoutCancel(ctx), guard, l.holder)
	}()
	cur, found, err := l.inspect(ctx, name)
	if err != nil {
		return err
	}
	if found {
		if cur.holder != old.holder {
			// Someone replaced it since we looked: judge the new holder.
			ok, w := l.stale(cur)
			if !ok {
				return l.heldBy(cur)
			}
			why = w
		}
		if err := l.remove(ctx, name); err != nil {
			return err
		}
		l.o.Warn(fmt.Sprintf("lock marker volume %s: %s; taking over", name, why))
	}
	m, err := l.create(ctx, name, l.markerLabels(RoleLock, l.expires))
	if err != nil {
		return err
	}
	if m.holder != l.holder {
		return l.heldBy(m)
	}
	l.marker = true
	return nil
}
