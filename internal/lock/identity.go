package lock

import (
	"fmt"
	"strings"
	"time"
)

// identityFields parses a procIdentity string into its fields.
func identityFields(id string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(id) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// holderGone judges a holder on this host by its recorded identity
// (LabelProcess) against what has that pid now. It returns true with the
// reason when the holder is surely gone: the host rebooted since, or the
// pid now belongs to another process. It returns false when the holder
// may be alive, or when the holder ran in another pid namespace (its pid
// means nothing here: only its hold's expiry can free the lock).
func (l *Lock) holderGone(m markerInfo) (bool, string) {
	rec := identityFields(m.process)
	if len(rec) == 0 {
		return false, ""
	}
	mine := identityFields(l.o.ProcID(l.o.PID))
	if rec["boot"] != "" && mine["boot"] != "" && rec["boot"] != mine["boot"] {
		return true, fmt.Sprintf("previous holder pid %d on host %s (deploy %s) ran before this host rebooted", m.pid, m.host, m.deployID)
	}
	if rec["pidns"] != mine["pidns"] {
		// Another pid namespace (or one not known): its pid means
		// nothing here.
		return false, ""
	}
	now := identityFields(l.o.ProcID(m.pid))
	if now["start"] != "" && rec["start"] != "" && now["start"] != rec["start"] {
		return true, fmt.Sprintf("previous holder pid %d on host %s (deploy %s) is gone; pid %d now belongs to another process", m.pid, m.host, m.deployID, m.pid)
	}
	return false, ""
}

// unlabelledHold is how long a marker whose labels are lost (a create
// interrupted by the engine's death, a hand-made volume) counts as held,
// from its creation: the longest hold a deploy takes by default. After it
// the marker is stale and taken over.
const unlabelledHold = DefaultHold + HoldSlack

// unlabelledStale judges a marker without holder labels by its age.
func (l *Lock) unlabelledStale(m markerInfo) (bool, string) {
	if m.created.IsZero() || !l.o.Now().After(m.created.Add(unlabelledHold)) {
		return false, ""
	}
	return true, fmt.Sprintf("it has no holder label and was created at %s, more than %s ago", m.created.UTC().Format(time.RFC3339), unlabelledHold)
}
