package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveEnv(t *testing.T) {
	env := map[string]string{"DIVE_STATE_DIR": "/s", "DIVE_PROBE_CONCURRENCY": "3", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x", "COMPOSE_REMOVE_ORPHANS": "1"}
	c := resolveEnv(func(k string) string { return env[k] }, []string{"A=1"})
	assert.Equal(t, "/s", c.StateDir)
	assert.True(t, c.RemoveOrphans)
	assert.Equal(t, 3, c.ProbeConcurrency)
	assert.True(t, c.OTLP)
	assert.Equal(t, []string{"A=1"}, c.Environ)

	c = resolveEnv(func(string) string { return "" }, nil)
	assert.Zero(t, c.ProbeConcurrency, "default: deploy.Run's, from the engine's CPUs")
	assert.False(t, c.OTLP)
	assert.False(t, c.RemoveOrphans)
	assert.Equal(t, 8, deploy.DefaultOpConcurrency(2))
	assert.Equal(t, 64, deploy.DefaultOpConcurrency(16))
}

// TestLibrariesReadNoEnvironment: only cli reads the environment (and the
// stand-in program's own entry point, standin.Main, configured by its
// container's environment).
func TestLibrariesReadNoEnvironment(t *testing.T) {
	read := regexp.MustCompile(`os\.(Getenv|LookupEnv|Environ)\(`)
	allowed := map[string]bool{filepath.Join("standin", "standin.go"): true}
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "cli"+string(filepath.Separator)) || allowed[rel] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.False(t, read.Match(b), "%s reads the environment: take the value from cli's envConfig instead", rel)
		return nil
	})
	require.NoError(t, err)
}

// TestPruneRecords: DIVE_KEEP_DEPLOYS bounds a project's records, oldest
// first, but never removes the deploy running now, a later one, nor the two
// newest that kept their configuration (rollback's targets); a bad value
// warns and keeps the default.
func TestPruneRecords(t *testing.T) {
	state := t.TempDir()
	root := filepath.Join(state, "p", "deploys")
	var ids []string
	for i := range 8 {
		id := "20261201T10000" + string(rune('0'+i)) + "Z-abcdef"
		ids = append(ids, id)
		require.NoError(t, os.MkdirAll(filepath.Join(root, id), 0o755))
	}
	for _, i := range []int{0, 1, 2} { // kept configurations: 1 and 2 are the newest
		require.NoError(t, os.WriteFile(filepath.Join(root, ids[i], imagesRecord), []byte("{}"), 0o644))
	}
	var stderr strings.Builder
	a := &app{stderr: &stderr, env: envConfig{KeepDeploys: "3"}}
	a.pruneRecords(state, "p", ids[6]) // ids[7]: a deploy that started later, waiting for the lock
	left, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{ids[1], ids[2], ids[6], ids[7]}, names, "the two newest kept configurations, the current deploy and the later one")
	assert.Empty(t, stderr.String())

	a.env.KeepDeploys = "many"
	assert.Equal(t, defaultKeepDeploys, a.keepDeploys())
	assert.Contains(t, stderr.String(), "DIVE_KEEP_DEPLOYS=\"many\"")
	a.env.KeepDeploys = "0"
	assert.Zero(t, a.keepDeploys())
	a.env.KeepDeploys = ""
	assert.Equal(t, defaultKeepDeploys, a.keepDeploys())
}

// TestFleetDeployOptions: a fleet deploy's flags reach every stack's deploy
// as they reach a hub deploy's.
func TestFleetDeployOptions(t *testing.T) {
	var o deploy.Options
	stackDeployOptions(deployFlags{forceRecreate: true, removeOrphans: true, renewAnon: true, waitAll: true}, 3)(nil, &o)
	assert.True(t, o.ForceRecreate)
	assert.True(t, o.RemoveOrphans)
	assert.True(t, o.RenewAnonVolumes)
	assert.True(t, o.WaitAll)
	assert.Equal(t, 3, o.ProbeConcurrency)

	a := &app{env: envConfig{RemoveOrphans: true}}
	for _, c := range []*cobra.Command{a.fleetDeployCmd(&fleetFlags{}), a.deployCmd()} {
		for _, name := range []string{"remove-orphans", "renew-anon-volumes", "force-recreate", "wait-all"} {
			assert.NotNil(t, c.Flags().Lookup(name), "%s --%s", c.Name(), name)
		}
		// COMPOSE_REMOVE_ORPHANS=1 is the default; the flag given wins.
		var f deployFlags
		require.NoError(t, c.ParseFlags(nil))
		a.orphansDefault(c, &f)
		assert.True(t, f.removeOrphans, "%s: COMPOSE_REMOVE_ORPHANS", c.Name())
		require.NoError(t, c.ParseFlags([]string{"--remove-orphans=false"}))
		f = deployFlags{}
		a.orphansDefault(c, &f)
		assert.False(t, f.removeOrphans, "%s: --remove-orphans=false wins", c.Name())
	}
}

// TestFleetPrinterLines: the fleet's terminal shows what the hub's does
// about a stack's services: rollback steps, warnings, removed orphans.
func TestFleetPrinterLines(t *testing.T) {
	var buf strings.Builder
	t0 := time.Now()
	p := &fleetPrinter{w: &buf, t0: t0}
	ev := func(svc string, level events.Level, at events.Attributes) {
		p.Handle(events.Event{Time: t0.Add(time.Second), Stack: "spoke-fra", Engine: "two", Service: svc, Level: level, Attrs: at})
	}
	ev("db", events.LevelInfo, events.RolledBackAttrs{Action: deploy.RollbackRestored, ContainerID: "abc123", Cause: "api", SinceFailureMS: 2500})
	ev("api", events.LevelError, events.RollbackFailedAttrs{Reason: "start of the previous container failed", Runs: "nothing"})
	ev("", events.LevelWarn, events.WarningAttrs{Note: events.Note{Message: deploy.OrphanWarning("spoke-fra-old-1")}})
	ev("", events.LevelInfo, events.InfoAttrs{Note: events.Note{Message: deploy.OrphanRemoved + " spoke-fra-old-1"}})
	ev("", events.LevelInfo, events.InfoAttrs{Note: events.Note{Message: "something else"}})
	out := buf.String()
	assert.Contains(t, out, "spoke-fra.db")
	assert.Contains(t, out, "rolled back: previous container abc123 ready again 2.5s after api failed")
	assert.Contains(t, out, "✘ rollback failed: start of the previous container failed; runs nothing")
	assert.Contains(t, out, "warning: Found orphan containers (spoke-fra-old-1)")
	assert.Contains(t, out, deploy.OrphanRemoved+" spoke-fra-old-1")
	assert.NotContains(t, out, "something else")
	assert.Equal(t, 4, strings.Count(out, "@two"), out)
}
