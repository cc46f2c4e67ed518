package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFiles writes name → content into a fresh temp folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// load writes compose (as compose.yml) and loads it.
func load(t *testing.T, compose string, o Options) (*Stack, error) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"compose.yml": compose})
	o.Files = []string{filepath.Join(dir, "compose.yml")}
	return Load(context.Background(), o)
}

func mustLoad(t *testing.T, compose string, o Options) *Stack {
	t.Helper()
	st, err := load(t, compose, o)
	require.NoError(t, err)
	return st
}

// requireConfigError asserts err is a *ConfigError whose text holds every want.
func requireConfigError(t *testing.T, err error, want ...string) *ConfigError {
	t.Helper()
	require.Error(t, err)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce, "want a *ConfigError, got %T: %v", err, err)
	assert.True(t, IsConfigError(err))
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	return ce
}

func TestClassLabel(t *testing.T) {
	tests := []struct {
		name    string
		labels  string
		want    Class
		wantErr []string
	}{
		{name: "missing is core", labels: "", want: Core},
		{name: "core", labels: "labels: {dive.service.class: core}", want: Core},
		{name: "optional", labels: "labels: {dive.service.class: optional}", want: Optional},
		{name: "stretch", labels: "labels: {dive.service.class: stretch}", want: Stretch},
		{name: "case and spaces", labels: `labels: {dive.service.class: " Optional "}`, want: Optional},
		{name: "list form", labels: "labels: [dive.service.class=stretch]", want: Stretch},
		{name: "invalid", labels: "labels: {dive.service.class: critical}", wantErr: []string{`service "web"`, LabelClass, "critical"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := load(t, "services:\n  web:\n    image: nginx\n    "+tt.labels+"\n", Options{})
			if tt.wantErr != nil {
				requireConfigError(t, err, tt.wantErr...)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, st.Service("web").Class)
		})
	}
}

func TestBudget(t *testing.T) {
	tests := []struct {
		name       string
		svc        string
		want       time.Duration
		wantSource string
	}{
		{
			name:       "label wins over healthcheck",
			svc:        "labels: {dive.service.timeout: 45s}\n    healthcheck: {test: [CMD, x], interval: 5s, timeout: 3s, retries: 10, start_period: 15s}",
			want:       45 * time.Second,
			wantSource: "label",
		},
		{
			// postgres of the hub: 15s + 10 × (5s + 3s)
			name:       "healthcheck all fields",
			svc:        "healthcheck: {test: [CMD-SHELL, pg_isready], interval: 5s, timeout: 3s, retries: 10, start_period: 15s}",
			want:       95 * time.Second,
			wantSource: "healthcheck",
		},
		{
			// keycloak: 1m30s + 10 × (10s + 10s)
			name:       "keycloak",
			svc:        "healthcheck: {test: [CMD-SHELL, curl], interval: 10s, timeout: 10s, retries: 10, start_period: 1m30s}",
			want:       290 * time.Second,
			wantSource: "healthcheck",
		},
		{
			name:       "docker defaults for missing fields",
			svc:        "healthcheck: {test: [CMD, x]}",
			want:       3 * (30*time.Second + 30*time.Second),
			wantSource: "healthcheck",
		},
		{
			name:       "only interval set",
			svc:        "healthcheck: {test: [CMD, x], interval: 2s}",
			want:       3 * (2*time.Second + 30*time.Second),
			wantSource: "healthcheck",
		},
		{
			name:       "only retries and start_period",
			svc:        "healthcheck: {test: [CMD, x], retries: 2, start_period: 7s}",
			want:       7*time.Second + 2*(60*time.Second),
			wantSource: "healthcheck",
		},
		{
			name:       "no healthcheck",
			svc:        "command: [sleep, infinity]",
			want:       DefaultBudgetNoHealthcheck,
			wantSource: "default",
		},
		{
			name:       "disabled healthcheck",
			svc:        "healthcheck: {disable: true}",
			want:       DefaultBudgetNoHealthcheck,
			wantSource: "default",
		},
		{
			name:       "test NONE",
			svc:        "healthcheck: {test: [NONE]}",
			want:       DefaultBudgetNoHealthcheck,
			wantSource: "default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustLoad(t, "services:\n  web:\n    image: nginx\n    "+tt.svc+"\n", Options{})
			s := st.Service("web")
			assert.Equal(t, tt.want, s.Budget)
			assert.Equal(t, tt.wantSource, s.BudgetSource)
		})
	}
}

func TestHealthcheckBudgetDirect(t *testing.T) {
	d := func(x time.Duration) *types.Duration { v := types.Duration(x); return &v }
	u := func(x uint64) *uint64 { return &x }
	tests := []struct {
		name string
		hc   types.HealthCheckConfig
		want time.Duration
	}{
		{"empty: docker defaults", types.HealthCheckConfig{}, 180 * time.Second},
		{"zero durations count as unset", types.HealthCheckConfig{Interval: d(0), Timeout: d(0), Retries: u(0)}, 180 * time.Second},
		{"mongodb", types.HealthCheckConfig{Interval: d(3 * time.Second), Timeout: d(5 * time.Second), Retries: u(15), StartPeriod: d(20 * time.Second)}, 140 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, HealthcheckBudget(&tt.hc))
		})
	}
}

func TestLabelValues(t *testing.T) {
	tests := []struct {
		name    string
		labels  string
		check   func(t *testing.T, s *Service)
		wantErr []string
	}{
		{name: "defaults", labels: "{}", check: func(t *testing.T, s *Service) {
			assert.Equal(t, DefaultRetries, s.Retries)
			assert.Equal(t, DefaultMaxRestarts, s.MaxRestarts)
			assert.Zero(t, s.ProbeInterval)
			assert.False(t, s.ProbeOff)
			assert.Zero(t, s.TCPPort)
		}},
		{name: "valid values", labels: `{dive.service.retries: "4", dive.service.max-restarts: "0", dive.health.probe-interval: 250ms, dive.health.tcp: "8080", dive.service.description: "the web"}`,
			check: func(t *testing.T, s *Service) {
				assert.Equal(t, 4, s.Retries)
				assert.Equal(t, 0, s.MaxRestarts)
				assert.Equal(t, 250*time.Millisecond, s.ProbeInterval)
				assert.Equal(t, 8080, s.TCPPort)
				assert.Equal(t, "the web", s.Description)
			}},
		{name: "probe off", labels: `{dive.health.probe-interval: "OFF"}`, check: func(t *testing.T, s *Service) { assert.True(t, s.ProbeOff) }},
		{name: "timeout not a duration", labels: `{dive.service.timeout: "90"}`, wantErr: []string{`service "web"`, LabelTimeout, `"90"`}},
		{name: "timeout negative", labels: `{dive.service.timeout: "-5s"}`, wantErr: []string{`service "web"`, LabelTimeout}},
		{name: "timeout zero", labels: `{dive.service.timeout: "0s"}`, wantErr: []string{`service "web"`, LabelTimeout}},
		{name: "retries not a number", labels: `{dive.service.retries: "many"}`, wantErr: []string{`service "web"`, LabelRetries, "many"}},
		{name: "retries too large", labels: `{dive.service.retries: "11"}`, wantErr: []string{`service "web"`, LabelRetries}},
		{name: "retries negative", labels: `{dive.service.retries: "-1"}`, wantErr: []string{`service "web"`, LabelRetries}},
		{name: "max-restarts invalid", labels: `{dive.service.max-restarts: "x"}`, wantErr: []string{`service "web"`, LabelMaxRestarts}},
		{name: "probe interval invalid", labels: `{dive.health.probe-interval: "fast"}`, wantErr: []string{`service "web"`, LabelProbeInterval, "fast"}},
		{name: "probe interval too small", labels: `{dive.health.probe-interval: "1ms"}`, wantErr: []string{`service "web"`, LabelProbeInterval}},
		{name: "tcp not a port", labels: `{dive.health.tcp: "http"}`, wantErr: []string{`service "web"`, LabelTCP, "http"}},
		{name: "tcp out of range", labels: `{dive.health.tcp: "70000"}`, wantErr: []string{`service "web"`, LabelTCP}},
		{name: "tcp zero", labels: `{dive.health.tcp: "0"}`, wantErr: []string{`service "web"`, LabelTCP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := load(t, "services:\n  web:\n    image: nginx\n    labels: "+tt.labels+"\n", Options{})
			if tt.wantErr != nil {
				ce := requireConfigError(t, err, tt.wantErr...)
				assert.NotEmpty(t, ce.Fix)
				return
			}
			require.NoError(t, err)
			tt.check(t, st.Service("web"))
		})
	}
}

func TestLabelErrorsListEveryService(t *testing.T) {
	_, err := load(t, `
services:
  a:
    image: x
    labels: {dive.service.class: bogus}
  b:
    image: x
    labels: {dive.service.timeout: soon}
`, Options{})
	requireConfigError(t, err, `service "a"`, `service "b"`, LabelClass, LabelTimeout)
}

// Every bad label of a service is reported, one line each, not only the first.
func TestLabelErrorsListEveryProblem(t *testing.T) {
	_, err := load(t, `
services:
  a:
    image: x
    labels:
      dive.service.class: critical
      dive.service.timeout: -5s
      dive.service.retries: "99"
      dive.service.max-restarts: "-1"
      dive.health.probe-interval: 1ms
      dive.health.tcp: "70000"
`, Options{})
	ce := requireConfigError(t, err, LabelClass, LabelTimeout, LabelRetries, LabelMaxRestarts, LabelProbeInterval, LabelTCP)
	assert.Equal(t, 6, strings.Count(ce.Msg, "\n  service \"a\""), ce.Msg)
	for _, l := range []string{LabelRetries, LabelMaxRestarts, LabelTCP} {
		assert.Contains(t, ce.Fix, l)
	}
}

func TestRequiredVariable(t *testing.T) {
	_, err := load(t, `
services:
  keycloak:
    image: kc
    environment:
      KEYCLOAK_CLIENT_SECRET: ${DIVE_TEST_KC_SECRET:?set the client secret}
`, Options{})
	ce := requireConfigError(t, err, "DIVE_TEST_KC_SECRET", "set the client secret")
	assert.Contains(t, ce.Fix, "DIVE_TEST_KC_SECRET")
	assert.Contains(t, ce.Fix, "env file")
}

func TestEnvFiles(t *testing.T) {
	compose := `
name: envtest
services:
  web:
    image: nginx:${DIVE_TEST_TAG}
    environment:
      SECRET: ${DIVE_TEST_SECRET:?missing}
      PORT: ${DIVE_TEST_PORT}
`
	t.Run("values interpolated and recorded", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"compose.yml": compose,
			"hub.env":     "DIVE_TEST_TAG=1.27\nDIVE_TEST_SECRET=s3cr3t\nDIVE_TEST_PORT=18080\n",
		})
		st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}, EnvFiles: []string{filepath.Join(dir, "hub.env")}})
		require.NoError(t, err)
		web := st.Service("web").Config
		assert.Equal(t, "nginx:1.27", web.Image)
		assert.Equal(t, "s3cr3t", *web.Environment["SECRET"])
		assert.Equal(t, "18080", *web.Environment["PORT"])
		assert.Equal(t, map[string]string{"DIVE_TEST_TAG": "1.27", "DIVE_TEST_SECRET": "s3cr3t", "DIVE_TEST_PORT": "18080"}, st.EnvFileValues)
		assert.Equal(t, []string{filepath.Join(dir, "hub.env")}, st.EnvFile)
		assert.Equal(t, []string{filepath.Join(dir, "hub.env")}, st.GivenEnvFiles, "--env-file: compose's environment_file label")
		assert.Equal(t, "s3cr3t", st.Environment["DIVE_TEST_SECRET"])
	})
	t.Run("OS env beats env file", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"compose.yml": compose,
			"hub.env":     "DIVE_TEST_TAG=1.27\nDIVE_TEST_SECRET=s3cr3t\nDIVE_TEST_PORT=18080\n",
		})
		st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}, EnvFiles: []string{filepath.Join(dir, "hub.env")},
			Environ: []string{"DIVE_TEST_PORT=28080"}})
		require.NoError(t, err)
		assert.Equal(t, "28080", *st.Service("web").Config.Environment["PORT"])
	})
	t.Run("Options.Env is below the OS env and above the env file", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"compose.yml": compose,
			"hub.env":     "DIVE_TEST_TAG=file\nDIVE_TEST_SECRET=file\nDIVE_TEST_PORT=file\n",
		})
		st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}, EnvFiles: []string{filepath.Join(dir, "hub.env")},
			Env: map[string]string{"DIVE_TEST_TAG": "extra", "DIVE_TEST_PORT": "extra"}, Environ: []string{"DIVE_TEST_TAG=os"}})
		require.NoError(t, err)
		web := st.Service("web").Config
		assert.Equal(t, "nginx:os", web.Image)
		assert.Equal(t, "extra", *web.Environment["PORT"])
		assert.Equal(t, "file", *web.Environment["SECRET"])
	})
	t.Run("--env-file missing", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"compose.yml": compose})
		missing := filepath.Join(dir, "nope.env")
		_, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}, EnvFiles: []string{missing}})
		ce := requireConfigError(t, err, missing, "not found")
		assert.Contains(t, ce.Fix, "--env-file")
	})
	t.Run("service env_file missing", func(t *testing.T) {
		_, err := load(t, "services:\n  web:\n    image: nginx\n    env_file: [svc.env]\n", Options{})
		requireConfigError(t, err, "svc.env")
	})
	t.Run("service env_file optional and missing", func(t *testing.T) {
		st := mustLoad(t, "services:\n  web:\n    image: nginx\n    env_file: [{path: svc.env, required: false}]\n", Options{})
		assert.Contains(t, st.Names, "web")
	})
	t.Run("service env_file merged into environment", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"compose.yml": "services:\n  web:\n    image: nginx\n    env_file: [svc.env]\n    environment: {A: fromyaml}\n",
			"svc.env":     "A=fromfile\nB=fromfile\n",
		})
		st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}})
		require.NoError(t, err)
		env := st.Service("web").Config.Environment
		assert.Equal(t, "fromyaml", *env["A"])
		assert.Equal(t, "fromfile", *env["B"])
	})
}

func TestProfiles(t *testing.T) {
	compose := `
services:
  web:
    image: nginx
  authzforce:
    image: authzforce
    profiles: [xacml]
  debug:
    image: busybox
    profiles: [debug]
`
	t.Run("excluded without profile", func(t *testing.T) {
		st := mustLoad(t, compose, Options{})
		assert.Equal(t, []string{"web"}, st.Names)
		assert.Equal(t, []string{"authzforce", "debug"}, st.Disabled)
		assert.Nil(t, st.Service("authzforce"))
		// Still declared: their containers are not orphans (as compose).
		assert.True(t, st.Declares("authzforce"))
		assert.True(t, st.Declares("web"))
		assert.False(t, st.Declares("oldname"))
	})
	t.Run("a service selection declares the others still", func(t *testing.T) {
		st := mustLoad(t, compose+"  zero: {image: busybox, scale: 0}\n", Options{Services: []string{"web"}})
		assert.Equal(t, []string{"web"}, st.Names)
		for _, n := range []string{"web", "authzforce", "debug", "zero"} {
			assert.True(t, st.Declares(n), n)
		}
	})
	t.Run("active with profile", func(t *testing.T) {
		st := mustLoad(t, compose, Options{Profiles: []string{"xacml"}})
		assert.Equal(t, []string{"authzforce", "web"}, st.Names)
		assert.Equal(t, []string{"debug"}, st.Disabled)
	})
	t.Run("star enables all", func(t *testing.T) {
		st := mustLoad(t, compose, Options{Profiles: []string{"*"}})
		assert.Equal(t, []string{"authzforce", "debug", "web"}, st.Names)
		assert.Empty(t, st.Disabled)
	})
	t.Run("COMPOSE_PROFILES", func(t *testing.T) {
		st := mustLoad(t, compose, Options{Environ: []string{"COMPOSE_PROFILES=debug"}})
		assert.Equal(t, []string{"debug", "web"}, st.Names)
	})
	t.Run("unknown profile", func(t *testing.T) {
		_, err := load(t, compose, Options{Profiles: []string{"xacm"}})
		ce := requireConfigError(t, err, `"xacm"`)
		assert.Contains(t, ce.Fix, "debug, xacml")
	})
	t.Run("unknown profile, none defined", func(t *testing.T) {
		_, err := load(t, "services:\n  web:\n    image: nginx\n", Options{Profiles: []string{"x"}})
		ce := requireConfigError(t, err, `"x"`)
		assert.Contains(t, ce.Fix, "(none)")
	})
}

func TestSelectedServices(t *testing.T) {
	compose := `
services:
  postgres:
    image: postgres
  keycloak:
    image: kc
    depends_on: [postgres]
  redis:
    image: redis
`
	t.Run("keeps dependencies", func(t *testing.T) {
		st := mustLoad(t, compose, Options{Services: []string{"keycloak"}})
		assert.Equal(t, []string{"keycloak", "postgres"}, st.Names)
		assert.Equal(t, []string{"redis"}, st.Disabled)
	})
	t.Run("unknown service", func(t *testing.T) {
		_, err := load(t, compose, Options{Services: []string{"keycloack"}})
		ce := requireConfigError(t, err, `"keycloack"`)
		assert.Contains(t, ce.Fix, "keycloak, postgres, redis")
	})
}

func TestDependsOn(t *testing.T) {
	t.Run("list and map forms", func(t *testing.T) {
		st := mustLoad(t, `
services:
  db:
    image: postgres
    healthcheck: {test: [CMD, pg_isready]}
  cache:
    image: redis
  init:
    image: busybox
    restart: "no"
  api:
    image: api
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
      init: {condition: service_completed_successfully}
  web:
    image: web
    depends_on: [api, cache]
`, Options{})
		api := st.Service("api").Config.DependsOn
		assert.Equal(t, types.ServiceDependency{Condition: types.ServiceConditionHealthy, Required: true, Restart: true}, api["db"])
		assert.Equal(t, types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: false}, api["cache"])
		assert.Equal(t, types.ServiceConditionCompletedSuccessfully, api["init"].Condition)
		web := st.Service("web").Config.DependsOn
		for _, dep := range []string{"api", "cache"} {
			assert.Equal(t, types.ServiceConditionStarted, web[dep].Condition, dep)
			assert.True(t, web[dep].Required, dep)
		}
		assert.True(t, st.Service("init").OneShot)
		for _, n := range []string{"db", "cache", "api", "web"} {
			assert.False(t, st.Service(n).OneShot, n)
		}
	})
	t.Run("required false on a disabled service passes", func(t *testing.T) {
		st := mustLoad(t, `
services:
  web:
    image: web
    depends_on:
      authzforce: {condition: service_healthy, required: false}
  authzforce:
    image: authzforce
    profiles: [xacml]
`, Options{})
		assert.Equal(t, []string{"web"}, st.Names)
		assert.Equal(t, []string{"authzforce"}, st.Disabled)
		g, err := st.Graph()
		require.NoError(t, err)
		assert.Empty(t, g.Deps("web"))
	})
	t.Run("required dependency on a disabled service fails", func(t *testing.T) {
		_, err := load(t, `
services:
  web:
    image: web
    depends_on: [authzforce]
  authzforce:
    image: authzforce
    profiles: [xacml]
`, Options{})
		requireConfigError(t, err, "authzforce")
	})
	t.Run("service_healthy on a service whose image may have the healthcheck", func(t *testing.T) {
		// As compose: the image's HEALTHCHECK counts; the deploy reads it.
		st, err := load(t, `
services:
  otel:
    image: otel
  timings:
    image: otel
    healthcheck: {interval: 1s}
  backend:
    image: backend
    depends_on:
      otel: {condition: service_healthy}
      timings: {condition: service_healthy}
`, Options{})
		require.NoError(t, err)
		for _, n := range []string{"otel", "timings"} {
			assert.False(t, st.Services[n].HasHealthcheck(), n)
			assert.True(t, st.Services[n].ImageHealthcheckMatters(), n)
		}
	})
	t.Run("service_healthy on a disabled healthcheck", func(t *testing.T) {
		_, err := load(t, `
services:
  otel:
    image: otel
    healthcheck: {disable: true}
  backend:
    image: backend
    depends_on:
      otel: {condition: service_healthy}
`, Options{})
		ce := requireConfigError(t, err, `"backend"`, `"otel"`, "disables its healthcheck")
		assert.Contains(t, ce.Fix, "service_started")
	})
	t.Run("cycle", func(t *testing.T) {
		_, err := load(t, `
services:
  a:
    image: x
    depends_on: [b]
  b:
    image: x
    depends_on: [c]
  c:
    image: x
    depends_on: [a]
  d:
    image: x
`, Options{})
		ce := requireConfigError(t, err, "dependency cycle")
		// compose-go names the cycle; where it starts depends on its walk.
		assert.Regexp(t, `(a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)`, err.Error())
		assert.NotContains(t, err.Error(), "d ->")
		assert.NotEmpty(t, ce.Fix)
	})
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		svc  string
		top  string
		want []string // unsupported keys
	}{
		{name: "plain service", svc: "restart: always", want: nil},
		{name: "secrets applied", svc: "secrets: [token]", top: "secrets:\n  token:\n    environment: DIVE_TEST_TOKEN\n", want: nil},
		{name: "configs applied", svc: "configs: [cfg]", top: "configs:\n  cfg:\n    content: hi\n", want: nil},
		{name: "engine keys applied", svc: "platform: linux/amd64\n    links: [db]\n    pid: host\n    ipc: shareable\n    mac_address: 02:42:ac:11:00:99\n    devices: [/dev/null:/dev/xnull]\n    runtime: runc\n    cgroup: private\n    mem_swappiness: 10\n    cpu_count: 1\n    device_cgroup_rules: ['c 1:3 mr']\n    annotations: {a: b}\n    blkio_config: {weight: 300}", want: nil},
		{name: "pre_start hook", svc: "pre_start:\n      - image: busybox\n        command: [\"true\"]", want: []string{"pre_start"}},
		{name: "post_start hook applied", svc: "post_start:\n      - command: [\"true\"]", want: nil},
		{name: "develop", svc: "develop: {watch: [{path: ., action: rebuild}]}", want: []string{"develop"}},
		{name: "scale 1 is fine", svc: "scale: 1", want: nil},
		{name: "scale 2 applied", svc: "scale: 2", want: nil},
		{name: "deploy.replicas 3 applied", svc: "deploy: {replicas: 3}", want: nil},
		{name: "build secrets: an error at build time, not a warning", svc: "build: {context: ., secrets: [token]}", top: "secrets:\n  token:\n    environment: DIVE_TEST_TOKEN\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustLoad(t, "services:\n  web:\n    image: nginx\n    "+tt.svc+"\n  db:\n    image: postgres\n"+tt.top, Options{})
			var want []string
			for _, k := range tt.want {
				want = append(want, `service "web": `+k+" is not supported by dive and is ignored")
			}
			if want == nil {
				assert.Empty(t, st.Warnings)
			} else {
				assert.Equal(t, want, st.Warnings)
			}
		})
	}
}

func TestProjectName(t *testing.T) {
	compose := "name: from-yaml\nservices:\n  web:\n    image: nginx\n"
	tests := []struct {
		name    string
		opt     string
		envFile string
		osEnv   string
		want    string
	}{
		{name: "name key", want: "from-yaml"},
		{name: "-p beats name", opt: "from-flag", want: "from-flag"},
		{name: "-p beats env file and OS env", opt: "from-flag", envFile: "from-envfile", osEnv: "from-os", want: "from-flag"},
		{name: "env file beats name", envFile: "from-envfile", want: "from-envfile"},
		{name: "OS env beats name", osEnv: "from-os", want: "from-os"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"compose.yml": compose}
			var envFiles []string
			if tt.envFile != "" {
				files["p.env"] = "COMPOSE_PROJECT_NAME=" + tt.envFile + "\n"
			}
			var environ []string
			if tt.osEnv != "" {
				environ = []string{"COMPOSE_PROJECT_NAME=" + tt.osEnv}
			}
			dir := writeFiles(t, files)
			if tt.envFile != "" {
				envFiles = []string{filepath.Join(dir, "p.env")}
			}
			st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}, ProjectName: tt.opt, EnvFiles: envFiles, Environ: environ})
			require.NoError(t, err)
			assert.Equal(t, tt.want, st.Project.Name)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Run("no file", func(t *testing.T) {
		_, err := Load(context.Background(), Options{})
		requireConfigError(t, err, "no compose file")
	})
	t.Run("file missing", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "docker-compose.hub.yml")
		_, err := Load(context.Background(), Options{Files: []string{p}})
		requireConfigError(t, err, p, "not found")
	})
	t.Run("schema typo", func(t *testing.T) {
		_, err := load(t, "services:\n  web:\n    image: nginx\n    helthcheck: {test: [CMD, x]}\n", Options{})
		ce := requireConfigError(t, err, "not a valid compose file", "helthcheck")
		assert.NotEmpty(t, ce.Fix)
	})
	t.Run("undefined network", func(t *testing.T) {
		_, err := load(t, "services:\n  web:\n    image: nginx\n    networks: [nope]\n", Options{})
		requireConfigError(t, err, "nope")
	})
}

func TestStackGraphFromDependsOn(t *testing.T) {
	st := mustLoad(t, `
services:
  postgres:
    image: postgres
    healthcheck: {test: [CMD, pg_isready]}
  keycloak:
    image: kc
    depends_on: {postgres: {condition: service_healthy}}
  otel:
    image: otel
    depends_on: [keycloak]
`, Options{})
	g, err := st.Graph()
	require.NoError(t, err)
	assert.Equal(t, []string{"postgres", "keycloak", "otel"}, g.Order())
	require.Len(t, g.Deps("keycloak"), 1)
	assert.Equal(t, "service_healthy", string(g.Deps("keycloak")[0].Condition))
	assert.True(t, g.Deps("keycloak")[0].Required)
	assert.Equal(t, "service_started", string(g.Deps("otel")[0].Condition))
}

func TestDefaultDotEnv(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"compose.yml": "services:\n  web:\n    image: nginx\n    environment: {SECRET: \"${DIVE_TEST_DOTENV_SECRET:?missing}\"}\n",
		".env":        "DIVE_TEST_DOTENV_SECRET=hunter2\n",
	})
	st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "compose.yml")}})
	require.NoError(t, err)
	assert.Equal(t, "hunter2", *st.Service("web").Config.Environment["SECRET"])
	// Values of the default .env are secrets like any other: they must be masked.
	assert.Equal(t, "hunter2", st.EnvFileValues["DIVE_TEST_DOTENV_SECRET"])
	assert.Equal(t, []string{filepath.Join(dir, ".env")}, st.EnvFile)
	// compose sets its environment_file label only for --env-file
	assert.Empty(t, st.GivenEnvFiles)
}

// A port out of range is a configuration error that says where it is and
// how to write a port.
func TestBadPortNamesWhere(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(f, []byte("services:\n  db:\n    image: x\n  web:\n    image: x\n    ports: [\"127.0.0.1:99999:8080\"]\n"), 0o644))
	_, err := Load(context.Background(), Options{Files: []string{f}})
	require.Error(t, err)
	assert.True(t, IsConfigError(err))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Msg, f+":6 (service web): ports: invalid hostPort: 99999")
	assert.Contains(t, ce.Fix, "a port is 1-65535")
}
