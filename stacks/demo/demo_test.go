package demo

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testImage = "dive-standin:0123456789ab"

// load materializes the demo and loads it the way `docker compose -f F
// --env-file E --profile P` would.
func load(t *testing.T, profiles ...string) (*types.Project, error) {
	t.Helper()
	dir := t.TempDir()
	composePath, envPath, err := Materialize(dir)
	require.NoError(t, err)
	opts, err := cli.NewProjectOptions([]string{composePath},
		cli.WithWorkingDirectory(dir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envPath),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func envFileValues(t *testing.T) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, line := range strings.Split(string(Files()[EnvFile]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			values[k] = v
		}
	}
	return values
}

type wantService struct {
	class string
	// healthcheck interval/timeout/retries/start_period of the real hub; zero: none
	interval, timeout time.Duration
	retries           uint64
	startPeriod       time.Duration
	dependsOn         map[string]string // service -> condition
	restart           string
}

// The real hub's topology (dive-hub-topology.md), plus the rs-init job.
var hub = map[string]wantService{
	"postgres":        {"core", 5 * time.Second, 3 * time.Second, 10, 15 * time.Second, nil, "unless-stopped"},
	"mongodb":         {"core", 3 * time.Second, 5 * time.Second, 15, 20 * time.Second, nil, "unless-stopped"},
	"redis":           {"core", 3 * time.Second, 3 * time.Second, 5, 5 * time.Second, nil, "unless-stopped"},
	"redis-blacklist": {"core", 3 * time.Second, 3 * time.Second, 5, 5 * time.Second, nil, "unless-stopped"},
	"opa":             {"core", 3 * time.Second, 3 * time.Second, 5, 5 * time.Second, nil, "unless-stopped"},
	"keycloak": {"core", 10 * time.Second, 10 * time.Second, 10, 90 * time.Second,
		map[string]string{"postgres": types.ServiceConditionHealthy}, "unless-stopped"},
	"mongodb-rs-init": {"core", 0, 0, 0, 0, map[string]string{"mongodb": types.ServiceConditionHealthy}, "no"},
	"backend": {"core", 5 * time.Second, 10 * time.Second, 10, 45 * time.Second, map[string]string{
		"keycloak": types.ServiceConditionHealthy, "mongodb": types.ServiceConditionHealthy,
		"redis": types.ServiceConditionHealthy, "redis-blacklist": types.ServiceConditionHealthy,
		"opa": types.ServiceConditionHealthy, "mongodb-rs-init": types.ServiceConditionCompletedSuccessfully,
	}, "unless-stopped"},
	"frontend": {"core", 10 * time.Second, 10 * time.Second, 12, 90 * time.Second, map[string]string{
		"keycloak": types.ServiceConditionHealthy, "backend": types.ServiceConditionHealthy,
	}, "unless-stopped"},
	"kas": {"stretch", 5 * time.Second, 8 * time.Second, 8, 20 * time.Second, map[string]string{
		"opa": types.ServiceConditionStarted, "mongodb": types.ServiceConditionStarted,
	}, "unless-stopped"},
	"opal-server": {"stretch", 5 * time.Second, 8 * time.Second, 10, 30 * time.Second, map[string]string{
		"opa": types.ServiceConditionStarted, "backend": types.ServiceConditionStarted,
	}, "unless-stopped"},
	"otel-collector": {"optional", 0, 0, 0, 0, map[string]string{
		"keycloak": types.ServiceConditionStarted, "backend": types.ServiceConditionStarted,
	}, "unless-stopped"},
	"authzforce": {"stretch", 10 * time.Second, 8 * time.Second, 8, 45 * time.Second, nil, "unless-stopped"},
}

func TestDemoHubLoads(t *testing.T) {
	t.Setenv("DIVE_STANDIN_IMAGE", testImage)
	p, err := load(t)
	require.NoError(t, err)

	assert.Equal(t, "dive-hub", p.Name)
	assert.Len(t, p.Services, 12)
	assert.ElementsMatch(t, []string{"postgres", "mongodb", "redis", "redis-blacklist", "opa", "keycloak",
		"mongodb-rs-init", "backend", "frontend", "kas", "opal-server", "otel-collector"}, p.ServiceNames())
	assert.Equal(t, []string{"authzforce"}, p.DisabledServiceNames())

	secrets := envFileValues(t)
	require.NotEmpty(t, secrets["POSTGRES_PASSWORD"])
	require.NoError(t, p.CheckContainerNameUnicity())

	for name, s := range p.Services {
		want, ok := hub[name]
		require.True(t, ok, name)
		t.Run(name, func(t *testing.T) {
			checkService(t, s, want)
			// No value of the env file reaches a field that is printed as
			// configuration without masking: only environment may hold them.
			for k, v := range s.Labels {
				for _, secret := range secrets {
					assert.NotContains(t, v, secret, "label %s", k)
				}
			}
		})
	}

	// Secrets come from .env.hub, also inside larger strings.
	assert.Equal(t, secrets["POSTGRES_PASSWORD"], *p.Services["postgres"].Environment["POSTGRES_PASSWORD"])
	assert.Equal(t, secrets["POSTGRES_PASSWORD"], *p.Services["keycloak"].Environment["KC_DB_PASSWORD"])
	assert.Contains(t, *p.Services["backend"].Environment["MONGODB_URL"], ":"+secrets["MONGO_PASSWORD"]+"@mongodb:27017")
	require.Len(t, p.Services["postgres"].EnvFiles, 1)
	assert.Equal(t, filepath.Join(p.WorkingDir, EnvFile), p.Services["postgres"].EnvFiles[0].Path)

	// Networks: hub-internal is the project's, dive-shared is external and keeps its name.
	assert.Equal(t, "dive-hub_hub-internal", p.Networks["hub-internal"].Name)
	assert.Equal(t, "dive-shared", p.Networks["dive-shared"].Name)
	assert.True(t, bool(p.Networks["dive-shared"].External))
	for _, name := range []string{"backend", "frontend"} {
		assert.Contains(t, p.Services[name].Networks, "dive-shared", name)
		assert.Contains(t, p.Services[name].Networks, "hub-internal", name)
	}
	assert.Equal(t, []string{"db"}, p.Services["postgres"].Networks["hub-internal"].Aliases)
	assert.Len(t, p.Volumes, 3)
	assert.Equal(t, "dive-hub_postgres_data", p.Volumes["postgres_data"].Name)
	assert.Equal(t, "/data", p.Services["postgres"].Volumes[0].Target)

	// Published ports: 127.0.0.1 only.
	published := map[string]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			assert.Equal(t, "127.0.0.1", port.HostIP, name)
			assert.Equal(t, uint32(8080), port.Target, name)
			published[name] = port.Published
		}
	}
	assert.Equal(t, map[string]string{"redis": "6380", "backend": "4000", "frontend": "3000", "keycloak": "8081"}, published)
}

func checkService(t *testing.T, s types.ServiceConfig, want wantService) {
	t.Helper()
	assert.Equal(t, testImage, s.Image)
	assert.Equal(t, "dive-hub-"+s.Name, s.ContainerName)
	assert.Equal(t, want.class, s.Labels["dive.service.class"])
	assert.Contains(t, []string{"core", "optional", "stretch"}, s.Labels["dive.service.class"])
	assert.NotEmpty(t, s.Labels["dive.service.description"])
	assert.Equal(t, want.restart, s.Restart)
	require.NotNil(t, s.StopGracePeriod)
	assert.Equal(t, 2*time.Second, time.Duration(*s.StopGracePeriod))
	require.NotNil(t, s.Deploy)
	require.NotNil(t, s.Deploy.Resources.Limits)
	assert.Equal(t, types.UnitBytes(64<<20), s.Deploy.Resources.Limits.MemoryBytes)
	assert.InDelta(t, 0.5, float64(s.Deploy.Resources.Limits.NanoCPUs), 1e-9)
	assert.Contains(t, s.Networks, "hub-internal")
	assert.Equal(t, s.Name, *s.Environment["STANDIN_NAME"])

	if want.interval == 0 {
		assert.Nil(t, s.HealthCheck, "no healthcheck")
	} else {
		hc := s.HealthCheck
		require.NotNil(t, hc)
		assert.Equal(t, types.HealthCheckTest{"CMD", "/dive", "standin", "probe"}, hc.Test, "exec form: scratch has no shell")
		assert.Equal(t, want.interval, time.Duration(*hc.Interval))
		assert.Equal(t, want.timeout, time.Duration(*hc.Timeout))
		assert.Equal(t, want.retries, *hc.Retries)
		assert.Equal(t, want.startPeriod, time.Duration(*hc.StartPeriod))
	}

	deps := map[string]string{}
	for dep, d := range s.DependsOn {
		deps[dep] = d.Condition
		assert.True(t, d.Required)
	}
	if want.dependsOn == nil {
		assert.Empty(t, deps)
	} else {
		assert.Equal(t, want.dependsOn, deps)
	}

	// STANDIN_REQUIRES names only dependencies, and every dependency the
	// service waits to be healthy for: a wrong order then shows as a crash.
	var requires []string
	if v := s.Environment["STANDIN_REQUIRES"]; v != nil {
		for _, hp := range strings.Split(*v, ",") {
			host, port, ok := strings.Cut(hp, ":")
			require.True(t, ok, hp)
			assert.Equal(t, "8080", port)
			assert.Contains(t, deps, host, "STANDIN_REQUIRES names a service that is not a dependency")
			requires = append(requires, host)
		}
	}
	for dep, cond := range deps {
		if cond == types.ServiceConditionHealthy {
			assert.Contains(t, requires, dep, "healthy dependency missing from STANDIN_REQUIRES")
		}
	}

	mode := *s.Environment["STANDIN_MODE"]
	assert.Contains(t, []string{"serve", "job", "never-ready"}, mode)
	if s.Name == "mongodb-rs-init" {
		assert.Equal(t, "job", mode)
	}
	ready, err := time.ParseDuration(*s.Environment["STANDIN_READY_AFTER"])
	require.NoError(t, err)
	assert.Less(t, ready, 3*time.Second, "demo delays stay short")
}

func TestDemoHubProfileXACML(t *testing.T) {
	t.Setenv("DIVE_STANDIN_IMAGE", testImage)
	p, err := load(t, "xacml")
	require.NoError(t, err)
	assert.Len(t, p.Services, 13)
	a := p.Services["authzforce"]
	checkService(t, a, hub["authzforce"])
	assert.Equal(t, "never-ready", *a.Environment["STANDIN_MODE"])
	assert.Equal(t, "20s", a.Labels["dive.service.timeout"])
	assert.Equal(t, []string{"xacml"}, a.Profiles)
}

func TestDemoHubEnvironmentOverrides(t *testing.T) {
	t.Setenv("DIVE_STANDIN_IMAGE", testImage)
	t.Setenv("COMPOSE_PROJECT_NAME", "standintest-hub")
	t.Setenv("REDIS_HOST_PORT", "16380")
	t.Setenv("DIVE_SHARED_NETWORK", "standintest-shared")
	t.Setenv("DEMO_KEYCLOAK_READY_AFTER", "7s")
	t.Setenv("DEMO_BACKEND_MODE", "crash")
	t.Setenv("DEMO_MONGODB_RS_INIT_EXIT_CODE", "1")
	p, err := load(t)
	require.NoError(t, err)
	assert.Equal(t, "standintest-hub", p.Name)
	assert.Equal(t, "standintest-hub-postgres", p.Services["postgres"].ContainerName)
	assert.Equal(t, "16380", p.Services["redis"].Ports[0].Published)
	assert.Equal(t, "standintest-shared", p.Networks["dive-shared"].Name)
	assert.Equal(t, "7s", *p.Services["keycloak"].Environment["STANDIN_READY_AFTER"])
	assert.Equal(t, "crash", *p.Services["backend"].Environment["STANDIN_MODE"])
	assert.Equal(t, "1", *p.Services["mongodb-rs-init"].Environment["STANDIN_EXIT_CODE"])
}

func TestDemoHubNeedsTheStandinImage(t *testing.T) {
	t.Setenv("DIVE_STANDIN_IMAGE", "")
	_, err := load(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the stand-in image; dive sets it for --demo")
}

func TestMaterialize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	composePath, envPath, err := Materialize(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, ComposeFile), composePath)
	assert.Equal(t, filepath.Join(dir, EnvFile), envPath)
	assert.True(t, filepath.IsAbs(composePath))
	for name, want := range Files() {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	st, err := os.Stat(envPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the env file holds secrets")

	// Unchanged content is not rewritten.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(composePath, old, old))
	require.NoError(t, os.Chtimes(envPath, old, old))
	require.NoError(t, os.Chmod(envPath, 0o644))
	_, _, err = Materialize(dir)
	require.NoError(t, err)
	for _, p := range []string{composePath, envPath} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.True(t, st.ModTime().Equal(old), "%s rewritten although unchanged", p)
	}
	st, err = os.Stat(envPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a widened env file is narrowed back")

	// Changed content is replaced, and no temporary file is left behind.
	require.NoError(t, os.WriteFile(composePath, []byte("edited"), 0o644))
	_, _, err = Materialize(dir)
	require.NoError(t, err)
	got, err := os.ReadFile(composePath)
	require.NoError(t, err)
	assert.Equal(t, Files()[ComposeFile], got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	assert.Equal(t, []string{EnvFile, ComposeFile}, names)
}

func TestFilesAreCopies(t *testing.T) {
	t.Parallel()
	a := Files()
	require.Len(t, a, 2)
	require.NotEmpty(t, a[ComposeFile])
	a[ComposeFile][0] = 'X'
	assert.NotEqual(t, byte('X'), Files()[ComposeFile][0])
}
