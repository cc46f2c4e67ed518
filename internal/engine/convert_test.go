package engine

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests convert compose services to container specs; none needs a daemon.

const convertCompose = `
name: convtest
services:
  api:
    image: example/api:1.2
    command: ["serve", "--port", "8080"]
    entrypoint: /entry.sh
    environment:
      A: "1"
      EMPTY: ""
    env_file: [api.env]
    ports:
      - "127.0.0.1:18080:8080"
      - "9000-9001:7000-7001"
      - "5353:53/udp"
      - target: 8443
        published: "18443"
        host_ip: 127.0.0.1
        protocol: tcp
    expose: ["9999", "7777/udp"]
    volumes:
      - ./data:/data:ro
      - appdata:/var/lib/app
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576}
    tmpfs: [/run, "/tmp:size=64m"]
    networks:
      front:
        aliases: [api-alias]
        priority: 10
      back:
    labels:
      my.label: x
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started}
    healthcheck:
      test: ["CMD", "/bin/check", "-q"]
      interval: 5s
      timeout: 3s
      retries: 4
      start_period: 15s
    restart: on-failure:3
    user: "1000:1000"
    working_dir: /srv
    extra_hosts: ["host.docker.internal:host-gateway", "db.local=10.0.0.5"]
    stop_grace_period: 1m30s
    deploy:
      resources:
        limits: {memory: 512M, cpus: "0.1", pids: 100}
        reservations: {memory: 128M, cpus: "0.25"}
    cap_add: [NET_ADMIN]
    init: true
  db:
    image: postgres:18
    container_name: my-db
    healthcheck:
      test: pg_isready -U postgres
    mem_limit: 1g
    cpus: 1.5
    restart: unless-stopped
  cache:
    image: redis
    restart: always
    healthcheck:
      disable: true
      interval: 7s
      retries: 2
  web:
    build: ./web
  tagged:
    build: ./web
    image: registry.local/tagged:2
volumes:
  appdata:
networks:
  front:
  back:
`

func loadConvert(t *testing.T, compose string) *stack.Stack {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "web"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web", "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "api.env"), []byte("FROM_FILE=yes\nA=from-file\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o644))
	// the tests set variables with t.Setenv: the process environment interpolates
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{filepath.Join(dir, "compose.yml")}, Environ: os.Environ()})
	require.NoError(t, err)
	return st
}

func specFor(t *testing.T, st *stack.Stack, name string) *ContainerSpec {
	t.Helper()
	sp, err := Spec(st.Service(name).Config, BuildOptions{Project: st.Project, ImageID: "sha256:img", Class: "core", DiveVersion: "0.0.0-test", APIVersion: "1.41", EnvFiles: []string{"/x/.env.hub"}})
	require.NoError(t, err)
	return sp
}

func TestSpecAPI(t *testing.T) {
	st := loadConvert(t, convertCompose)
	sp := specFor(t, st, "api")
	cfg, host := sp.Config, sp.Host
	dir := st.WorkDir

	assert.Equal(t, "api", sp.Service)
	assert.Equal(t, "convtest-api-1", sp.Name)
	assert.Equal(t, "example/api:1.2", sp.Image)
	assert.Equal(t, "example/api:1.2", cfg.Image)
	assert.Equal(t, []string{"serve", "--port", "8080"}, []string(cfg.Cmd))
	assert.Equal(t, []string{"/entry.sh"}, []string(cfg.Entrypoint))
	// environment: wins over env_file; sorted.
	assert.Equal(t, []string{"A=1", "EMPTY=", "FROM_FILE=yes"}, cfg.Env)
	assert.Equal(t, "1000:1000", cfg.User)
	assert.Equal(t, "/srv", cfg.WorkingDir)

	t.Run("ports", func(t *testing.T) {
		lo := netip.MustParseAddr("127.0.0.1")
		assert.Equal(t, network.PortMap{
			network.MustParsePort("8080/tcp"): {{HostIP: lo, HostPort: "18080"}},
			network.MustParsePort("8443/tcp"): {{HostIP: lo, HostPort: "18443"}},
			network.MustParsePort("7000/tcp"): {{HostPort: "9000"}},
			network.MustParsePort("7001/tcp"): {{HostPort: "9001"}},
			network.MustParsePort("53/udp"):   {{HostPort: "5353"}},
		}, host.PortBindings)
		assert.Equal(t, network.PortSet{
			network.MustParsePort("8080/tcp"): {}, network.MustParsePort("8443/tcp"): {},
			network.MustParsePort("7000/tcp"): {}, network.MustParsePort("7001/tcp"): {},
			network.MustParsePort("53/udp"): {}, network.MustParsePort("9999/tcp"): {},
			network.MustParsePort("7777/udp"): {},
		}, cfg.ExposedPorts)
	})

	t.Run("volumes", func(t *testing.T) {
		// as compose: binds and plain named volumes in Binds, the rest in Mounts
		assert.Equal(t, []string{filepath.Join(dir, "data") + ":/data:ro", "convtest_appdata:/var/lib/app:rw"}, host.Binds)
		require.Len(t, host.Mounts, 1)
		assert.Equal(t, mount.TypeTmpfs, host.Mounts[0].Type)
		assert.Equal(t, "/scratch", host.Mounts[0].Target)
		require.NotNil(t, host.Mounts[0].TmpfsOptions)
		assert.Equal(t, int64(1<<20), host.Mounts[0].TmpfsOptions.SizeBytes)
		assert.Equal(t, map[string]string{"/run": "", "/tmp": "size=64m"}, host.Tmpfs)
	})

	t.Run("networks", func(t *testing.T) {
		// front has the higher priority: it is the primary network.
		assert.Equal(t, container.NetworkMode("convtest_front"), host.NetworkMode)
		require.Len(t, sp.Networks, 2)
		assert.Equal(t, "convtest_front", sp.Networks[0].Name)
		assert.Equal(t, []string{"convtest-api-1", "api", "api-alias"}, sp.Networks[0].Endpoint.Aliases)
		assert.Equal(t, "convtest_back", sp.Networks[1].Name)
		assert.Equal(t, []string{"convtest-api-1", "api"}, sp.Networks[1].Endpoint.Aliases)
	})

	t.Run("labels", func(t *testing.T) {
		l := cfg.Labels
		assert.Equal(t, "convtest", l[LabelProject])
		assert.Equal(t, "api", l[LabelService])
		assert.Equal(t, "1", l[LabelNumber])
		assert.Equal(t, "False", l[LabelOneOff])
		assert.Equal(t, sp.Hash, l[LabelConfigHash])
		assert.Len(t, sp.Hash, 64)
		assert.Equal(t, "cache:service_started:false,db:service_healthy:true", l[LabelDependsOn])
		assert.Equal(t, "true", l[LabelManaged])
		assert.Equal(t, "service", l[LabelRole])
		assert.Equal(t, "core", l[LabelClass])
		assert.Equal(t, "0.0.0-test", l[LabelDiveVersion])
		assert.Equal(t, "sha256:img", l[LabelImage])
		assert.Equal(t, dir, l[LabelWorkingDir])
		assert.Equal(t, filepath.Join(dir, "compose.yml"), l[LabelConfigFiles])
		assert.Equal(t, "/x/.env.hub", l[LabelEnvFile])
		assert.Equal(t, ComposeVersion, l[LabelVersion])
		assert.Equal(t, "x", l["my.label"])
	})

	t.Run("healthcheck CMD", func(t *testing.T) {
		assert.Equal(t, &container.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}, Interval: 5 * time.Second, Timeout: 3 * time.Second, StartPeriod: 15 * time.Second, Retries: 4}, cfg.Healthcheck)
	})

	t.Run("host settings", func(t *testing.T) {
		assert.Equal(t, container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}, host.RestartPolicy)
		assert.Equal(t, []string{"db.local:10.0.0.5", "host.docker.internal:host-gateway"}, host.ExtraHosts)
		require.NotNil(t, cfg.StopTimeout)
		assert.Equal(t, 90, *cfg.StopTimeout)
		assert.Equal(t, 90*time.Second, sp.StopGrace)
		assert.Equal(t, int64(512<<20), host.Memory)
		assert.Equal(t, int64(128<<20), host.MemoryReservation)
		assert.Equal(t, int64(100_000_000), host.NanoCPUs, "cpus 0.1 is exactly 0.1 CPU, as docker compose and the CLI set it")
		require.NotNil(t, host.PidsLimit)
		assert.Equal(t, int64(100), *host.PidsLimit)
		assert.Equal(t, []string{"NET_ADMIN"}, host.CapAdd)
		require.NotNil(t, host.Init)
		assert.True(t, *host.Init)
	})
	assert.Empty(t, sp.Warnings)
}

func TestSpecOtherServices(t *testing.T) {
	st := loadConvert(t, convertCompose)

	db := specFor(t, st, "db")
	assert.Equal(t, "my-db", db.Name, "container_name wins")
	assert.Equal(t, &container.HealthConfig{Test: []string{"CMD-SHELL", "pg_isready -U postgres"}}, db.Config.Healthcheck)
	assert.Equal(t, int64(1<<30), db.Host.Memory)
	assert.Equal(t, int64(1_500_000_000), db.Host.NanoCPUs)
	assert.Equal(t, container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, db.Host.RestartPolicy)
	assert.Equal(t, container.NetworkMode("convtest_default"), db.Host.NetworkMode)
	require.Len(t, db.Networks, 1)
	assert.Equal(t, []string{"my-db", "db"}, db.Networks[0].Endpoint.Aliases)
	assert.Nil(t, db.Config.StopTimeout)
	assert.Equal(t, 10*time.Second, db.StopGrace)
	assert.Equal(t, "", db.Config.Labels[LabelDependsOn])

	cache := specFor(t, st, "cache")
	assert.Equal(t, &container.HealthConfig{Test: []string{"NONE"}, Interval: 7 * time.Second, Retries: 2}, cache.Config.Healthcheck,
		"disable: true turns the image's healthcheck off, the timings kept as compose sends them")
	assert.Equal(t, container.RestartPolicy{Name: container.RestartPolicyAlways}, cache.Host.RestartPolicy)

	web := specFor(t, st, "web")
	assert.Equal(t, "convtest-web", web.Image, "build without image: <project>-<service>")
	assert.Equal(t, "convtest-web", web.Config.Image)
	assert.Equal(t, "convtest-web-1", web.Name)
	assert.Nil(t, web.Config.Healthcheck)
	assert.Equal(t, container.RestartPolicy{}, web.Host.RestartPolicy)

	tagged := specFor(t, st, "tagged")
	assert.Equal(t, "registry.local/tagged:2", tagged.Image, "build with image: the image name")
}

func TestNames(t *testing.T) {
	tests := []struct {
		name          string
		svc           types.ServiceConfig
		wantContainer string
		wantImage     string
	}{
		{name: "image", svc: func() types.ServiceConfig {
			s := types.ServiceConfig{Name: "redis"}
			s.Image = "redis:7-alpine"
			return s
		}(), wantContainer: "dive-hub-redis-1", wantImage: "redis:7-alpine"},
		{name: "container_name", svc: func() types.ServiceConfig {
			s := types.ServiceConfig{Name: "postgres", ContainerName: "dive-hub-postgres"}
			s.Image = "postgres"
			return s
		}(), wantContainer: "dive-hub-postgres", wantImage: "postgres"},
		{name: "build", svc: func() types.ServiceConfig {
			s := types.ServiceConfig{Name: "keycloak"}
			s.Build = &types.BuildConfig{Context: "./keycloak"}
			return s
		}(), wantContainer: "dive-hub-keycloak-1", wantImage: "dive-hub-keycloak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantContainer, ContainerName("dive-hub", tt.svc))
			assert.Equal(t, tt.wantImage, ImageName("dive-hub", tt.svc))
		})
	}
}

func TestRestartPolicy(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	tests := []struct {
		restart string
		deploy  *types.RestartPolicy
		want    container.RestartPolicy
		wantErr string
	}{
		{restart: "", want: container.RestartPolicy{}}, // unset, as compose sends it
		{restart: "no", want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		{restart: "always", want: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{restart: "unless-stopped", want: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}},
		{restart: "on-failure", want: container.RestartPolicy{Name: container.RestartPolicyOnFailure}},
		{restart: "on-failure:3", want: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}},
		{restart: "on-failure:x", wantErr: "retry count"},
		{restart: "sometimes", wantErr: "not no, always"},
		{deploy: &types.RestartPolicy{Condition: "any"}, want: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{deploy: &types.RestartPolicy{Condition: "on-failure", MaxAttempts: u(5)}, want: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 5}},
		{deploy: &types.RestartPolicy{Condition: "none"}, want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		// deploy.restart_policy wins, as in compose's getRestartPolicy
		{restart: "always", deploy: &types.RestartPolicy{Condition: "none"}, want: container.RestartPolicy{Name: container.RestartPolicyDisabled}},
		// a restart_policy without condition: no policy name at all, restart: ignored
		{restart: "always", deploy: &types.RestartPolicy{}, want: container.RestartPolicy{}},
		{restart: "always", deploy: &types.RestartPolicy{MaxAttempts: u(2)}, want: container.RestartPolicy{MaximumRetryCount: 2}},
		// max_attempts is sent whatever the condition, as compose does
		{deploy: &types.RestartPolicy{Condition: "any", MaxAttempts: u(3)}, want: container.RestartPolicy{Name: container.RestartPolicyAlways, MaximumRetryCount: 3}},
	}
	for _, tt := range tests {
		name := tt.restart
		if tt.deploy != nil {
			name += "/deploy:" + tt.deploy.Condition
		}
		t.Run(name, func(t *testing.T) {
			svc := types.ServiceConfig{Name: "s", Restart: tt.restart}
			if tt.deploy != nil {
				svc.Deploy = &types.DeployConfig{RestartPolicy: tt.deploy}
			}
			got, err := restartPolicy(svc)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), `service "s"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNanoCPUs(t *testing.T) {
	for _, tt := range []struct {
		in   float32
		want int64
	}{{0, 0}, {0.1, 100_000_000}, {0.25, 250_000_000}, {0.3, 300_000_000}, {1.5, 1_500_000_000}, {2, 2_000_000_000},
		// compose's int64(float32 * 1e9), as docker compose v2.40.3 sends them
		{0.13, 129_999_992}, {0.33, 330_000_000}, {0.7, 700_000_000}} {
		assert.Equal(t, tt.want, nanoCPUs(tt.in), "%v", tt.in)
	}
}

func TestSpecCPUsAsCompose(t *testing.T) {
	st := loadConvert(t, "name: cpu\nservices:\n  a:\n    image: x\n    cpus: 0.13\n  b:\n    image: x\n    deploy: {resources: {limits: {cpus: \"0.13\"}}}\n")
	for _, n := range []string{"a", "b"} {
		sp, err := Spec(st.Service(n).Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
		require.NoError(t, err)
		assert.Equal(t, int64(129_999_992), sp.Host.NanoCPUs, n)
	}
}

func TestConfigHash(t *testing.T) {
	base := convertCompose
	// Loads of the same folder (the bind source and env_file paths are
	// absolute, so a copy elsewhere is a different config).
	st := loadConvert(t, base)
	h1 := ConfigHash(st.Service("api").Config, "sha256:img")
	for i := 0; i < 5; i++ {
		sti, err := stack.Load(context.Background(), stack.Options{Files: st.Files})
		require.NoError(t, err)
		assert.Equal(t, h1, ConfigHash(sti.Service("api").Config, "sha256:img"), "stable across loads of the same file")
	}
	assert.Equal(t, h1, specFor(t, st, "api").Hash, "Spec uses ConfigHash")

	assert.NotEqual(t, h1, ConfigHash(st.Service("api").Config, "sha256:other"), "a rebuilt image changes the hash")

	changes := []struct{ name, from, to string }{
		{"image tag", "example/api:1.2", "example/api:1.3"},
		{"environment", `A: "1"`, `A: "2"`},
		{"port", `"127.0.0.1:18080:8080"`, `"127.0.0.1:18081:8080"`},
		{"healthcheck", "retries: 4", "retries: 5"},
		{"memory", "memory: 512M", "memory: 1G"},
		{"label", "my.label: x", "my.label: y"},
		{"command", `"--port", "8080"`, `"--port", "8081"`},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, base, c.from)
			changed := strings.Replace(base, c.from, c.to, 1)
			stc := writeAndLoad(t, st.WorkDir, changed)
			assert.NotEqual(t, h1, ConfigHash(stc.Service("api").Config, "sha256:img"))
		})
	}
	t.Run("depends_on does not change the container", func(t *testing.T) {
		changed := strings.Replace(base, "      cache: {condition: service_started}\n", "", 1)
		require.NotEqual(t, base, changed)
		stc := writeAndLoad(t, st.WorkDir, changed)
		assert.Equal(t, h1, ConfigHash(stc.Service("api").Config, "sha256:img"))
	})
	t.Run("env file value changes the hash", func(t *testing.T) {
		envPath := filepath.Join(st.WorkDir, "api.env")
		old, err := os.ReadFile(envPath)
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.WriteFile(envPath, old, 0o644) })
		require.NoError(t, os.WriteFile(envPath, []byte("FROM_FILE=changed\n"), 0o644))
		stc, err := stack.Load(context.Background(), stack.Options{Files: st.Files})
		require.NoError(t, err)
		assert.NotEqual(t, h1, ConfigHash(stc.Service("api").Config, "sha256:img"))
	})
}

// writeAndLoad writes compose next to the original (same folder, so paths
// resolve the same) under another name and loads it with the same project name.
func writeAndLoad(t *testing.T, dir, compose string) *stack.Stack {
	t.Helper()
	f, err := os.CreateTemp(dir, "compose-*.yml")
	require.NoError(t, err)
	_, err = f.WriteString(compose)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{f.Name()}})
	require.NoError(t, err)
	return st
}

func TestSpecStartIntervalNeedsAPI144(t *testing.T) {
	st := loadConvert(t, "name: si\nservices:\n  a:\n    image: x\n    healthcheck: {test: [CMD, x], start_interval: 200ms}\n")
	old, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.NoError(t, err)
	assert.Zero(t, old.Config.Healthcheck.StartInterval)
	require.Len(t, old.Warnings, 1)
	assert.Contains(t, old.Warnings[0], "start_interval")
	assert.Contains(t, old.Warnings[0], "1.41")

	newer, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.44"})
	require.NoError(t, err)
	assert.Equal(t, 200*time.Millisecond, newer.Config.Healthcheck.StartInterval)
	assert.Empty(t, newer.Warnings)
}

func TestSpecStopTimeoutTruncates(t *testing.T) {
	// compose's ToSeconds truncates: 1500ms is StopTimeout 1, 999ms is 0
	for _, tt := range []struct {
		grace string
		want  int
	}{{"1500ms", 1}, {"999ms", 0}, {"2s", 2}, {"1m30s", 90}} {
		st := loadConvert(t, "name: sg\nservices:\n  a:\n    image: x\n    stop_grace_period: "+tt.grace+"\n")
		sp, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
		require.NoError(t, err)
		require.NotNil(t, sp.Config.StopTimeout, tt.grace)
		assert.Equal(t, tt.want, *sp.Config.StopTimeout, tt.grace)
	}
}

func TestDependsOnLabelSkipsOptionalDisabled(t *testing.T) {
	st := loadConvert(t, `name: dl
services:
  a:
    image: x
    depends_on:
      dbg: {condition: service_started, required: false}
      db: {condition: service_healthy}
  db:
    image: x
    healthcheck: {test: [CMD, x]}
  dbg:
    image: x
    profiles: [debug]
`)
	sp, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.NoError(t, err)
	// compose's NewGraph drops an optional dependency on a service a profile disables
	assert.Equal(t, "db:service_healthy:false", sp.Config.Labels[LabelDependsOn])
}

func TestSpecSecurityOpt(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seccomp.json"), []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": []\n}\n"), 0o644))
	f := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(`name: so
services:
  a:
    image: x
    security_opt: ["seccomp:./seccomp.json", "apparmor:unconfined", "label=disable", "no-new-privileges", "no-new-privileges:true", "systempaths=unconfined"]
  b:
    image: x
    security_opt: ["seccomp=seccomp.json", "seccomp:unconfined"]
`), 0o644))
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{f}})
	require.NoError(t, err)
	const profile = `seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}`
	// as compose's parseSecurityOpts: the profile file's compacted JSON,
	// systempaths=unconfined left out and nothing masked or read-only
	a, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.NoError(t, err)
	assert.Equal(t, []string{profile, "apparmor:unconfined", "label=disable", "no-new-privileges", "no-new-privileges:true"}, a.Host.SecurityOpt)
	assert.Equal(t, []string{}, a.Host.MaskedPaths)
	assert.Equal(t, []string{}, a.Host.ReadonlyPaths)

	b, err := Spec(st.Service("b").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.NoError(t, err)
	assert.Equal(t, []string{profile, "seccomp:unconfined"}, b.Host.SecurityOpt)
	assert.Nil(t, b.Host.MaskedPaths, "the engine's default masks")
	assert.Nil(t, b.Host.ReadonlyPaths)
}

func TestSpecInterfaceName(t *testing.T) {
	st := loadConvert(t, `name: ifn
services:
  a:
    image: x
    networks:
      front:
        interface_name: eth-front
        driver_opts: {com.example.opt: "1"}
      back:
networks:
  front:
  back:
`)
	svc := st.Service("a").Config
	// as compose: refused below API 1.49 (Docker 28.1), naming the service
	_, err := Spec(svc, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `service "a": network front: interface_name requires Docker Engine v28.1 or later`)
	require.Error(t, CheckInterfaceNames(svc, "1.48"))

	// from 1.49: the endpoint driver option, beside the file's own
	sp, err := Spec(svc, BuildOptions{Project: st.Project, APIVersion: "1.49"})
	require.NoError(t, err)
	require.Len(t, sp.Networks, 2)
	for _, n := range sp.Networks {
		if n.Name == "ifn_front" {
			assert.Equal(t, map[string]string{"com.example.opt": "1", "com.docker.network.endpoint.ifname": "eth-front"}, n.Endpoint.DriverOpts)
		} else {
			assert.Nil(t, n.Endpoint.DriverOpts)
		}
	}
	assert.Equal(t, map[string]string{"com.example.opt": "1"}, map[string]string(svc.Networks["front"].DriverOpts), "the project's own options untouched")
}

func TestSpecErrors(t *testing.T) {
	// Bad values (restart, dns, expose, addresses, cpus) never get here:
	// stack.Load refuses them (stack/check.go, stack/network.go).
	t.Run("network_mode host", func(t *testing.T) {
		st := loadConvert(t, "name: e\nservices:\n  a:\n    image: x\n    network_mode: host\n")
		sp, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project})
		require.NoError(t, err)
		assert.Equal(t, container.NetworkMode("host"), sp.Host.NetworkMode)
		assert.Empty(t, sp.Networks)
	})
}

func TestVersionAtLeast(t *testing.T) {
	assert.True(t, versionAtLeast("1.44", "1.44"))
	assert.True(t, versionAtLeast("1.45", "1.44"))
	assert.True(t, versionAtLeast("2.0", "1.44"))
	assert.False(t, versionAtLeast("1.41", "1.44"))
	assert.False(t, versionAtLeast("", "1.44"))
}
