package cli

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
)

// readyBefore reads the project's latest earlier deploy's events: which
// container of each service it saw ready, and when. A no-op redeploy then
// reuses such a container, still in the same run, without a probe even
// before the engine's own check has run (deploy.Options.ReadyBefore).
func readyBefore(stateDir, project, currentID string) map[string]deploy.ReadyRecord {
	dirs, _ := filepath.Glob(filepath.Join(report.DeploysDir(stateDir, project), "*", "events.jsonl"))
	sort.Strings(dirs) // deploy ids start with their UTC start time
	for i := len(dirs) - 1; i >= 0; i-- {
		if filepath.Base(filepath.Dir(dirs[i])) == currentID {
			continue
		}
		f, err := os.Open(dirs[i])
		if err != nil {
			continue
		}
		evs, _ := events.ReadJSONL(f)
		f.Close()
		return readyIn(evs)
	}
	return nil
}

// readyIn maps each service seen ready (or reused) in evs to its container.
func readyIn(evs []events.Event) map[string]deploy.ReadyRecord {
	ids := map[string]string{}
	out := map[string]deploy.ReadyRecord{}
	for _, e := range evs {
		switch at := e.Attrs.(type) {
		case events.ServiceStartedAttrs:
			ids[e.Service] = at.ContainerID
		case events.ServiceReadyAttrs:
			if ids[e.Service] != "" {
				out[e.Service] = deploy.ReadyRecord{ContainerID: ids[e.Service], At: e.Time}
			}
		case events.ServiceReusedAttrs:
			if at.ContainerID != "" {
				out[e.Service] = deploy.ReadyRecord{ContainerID: at.ContainerID, At: e.Time}
			}
		}
		if e.Kind == events.ServiceFailed {
			delete(out, e.Service)
		}
	}
	return out
}
