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
		id, _ := e.Attrs["container_id"].(string)
		switch e.Kind {
		case events.ServiceStarted:
			ids[e.Service] = id
		case events.ServiceReady:
			if ids[e.Service] != "" {
				out[e.Service] = deploy.ReadyRecord{ContainerID: ids[e.Service], At: e.Time}
			}
		case events.ServiceReused:
			if id != "" {
				out[e.Service] = deploy.ReadyRecord{ContainerID: id, At: e.Time}
			}
		case events.ServiceFailed:
			delete(out, e.Service)
		}
	}
	return out
}
