package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/validate"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeEngine struct {
	api      string
	host     string
	info     engine.SystemInfo
	infoErr  error
	own      []engine.Container
	managed  []engine.Container
	networks map[string]bool
	volumes  map[string]bool
	images   map[string]string
	// imageHealth: a local image's own healthcheck, by ref
	imageHealth map[string]*container.HealthConfig
}

func (f *fakeEngine) APIVersion() string    { return f.api }
func (f *fakeEngine) ServerVersion() string { return "20.10.24" }
func (f *fakeEngine) Host() string          { return f.host }
func (f *fakeEngine) Info(ctx context.Context) (engine.SystemInfo, error) {
	return f.info, f.infoErr
}
func (f *fakeEngine) ListContainers(ctx context.Context, project string) ([]engine.Container, error) {
	if project == "" {
		return f.managed, nil
	}
	return f.own, nil
}
func (f *fakeEngine) NetworkExists(ctx context.Context, name string) (bool, error) {
	return f.networks[name], nil
}
func (f *fakeEngine) VolumeExists(ctx context.Context, name string) (bool, error) {
	return f.volumes[name], nil
}
func (f *fakeEngine) Image(ctx context.Context, ref string) (engine.Image, error) {
	return engine.Image{ID: f.images[ref], Healthcheck: f.imageHealth[ref]}, nil
}

func newFake() *fakeEngine {
	return &fakeEngine{api: "1.41", host: "unix:///var/run/docker.sock",
		info:     engine.SystemInfo{DataRoot: "/var/lib/docker", MemTotal: 8 << 30, NCPU: 2},
		networks: map[string]bool{}, volumes: map[string]bool{}, images: map[string]string{}}
}

func writeStack(t *testing.T, compose string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	f := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(compose), 0o644))
	return f
}

func load(t *testing.T, compose string, files map[string]string, env map[string]string) *stack.Stack {
	t.Helper()
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{writeStack(t, compose, files)}, Env: env})
	require.NoError(t, err)
	return st
}

// takenAt is a Listen that finds addrs in use by another process.
func takenAt(addrs ...string) func(proto, addr string) error {
	return func(proto, addr string) error {
		if slices.Contains(addrs, addr) {
			return &net.OpError{Op: "listen", Net: proto, Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
		}
		return nil
	}
}

func opts(free, avail int64, listen func(string, string) error) Options {
	local := true
	return Options{Local: &local,
		DiskFree:     func(string) (int64, error) { return free, nil },
		MemAvailable: func() (int64, error) { return avail, nil },
		Listen:       listen,
	}
}

func freeListen(string, string) error { return nil }

func find(rep validate.Report, name string) []validate.Check {
	var out []validate.Check
	for _, c := range rep.Checks {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

const simple = `
name: pf
services:
  redis:
    image: redis:7
    ports: ["127.0.0.1:6380:6379"]
    deploy: {resources: {limits: {memory: 1G}, reservations: {memory: 256M}}}
  web:
    image: web:1
    mem_limit: 512m
    labels: {dive.service.class: optional}
    ports: ["8080:80"]
`

func TestRunAllGood(t *testing.T) {
	st := load(t, simple, nil, nil)
	f := newFake()
	f.images = map[string]string{"redis:7": "sha256:aaaaaaaaaaaaaaaa", "web:1": "sha256:bbbbbbbbbbbbbbbb"}
	rep := Run(context.Background(), st, f, opts(10<<30, 4<<30, freeListen))
	var b strings.Builder
	require.NoError(t, validate.WriteText(&b, &rep))
	t.Log("\n" + b.String())
	assert.True(t, rep.OK)
	assert.Equal(t, validate.Pass, rep.Verdict, b.String())
	mem := find(rep, CheckMemory)[0]
	assert.Contains(t, mem.Detail, "memory limits total 1.5GiB over 2 of 2 services")
	assert.Len(t, find(rep, CheckPort), 2)
}

func TestDiskThreshold(t *testing.T) {
	st := load(t, simple, nil, nil)
	f := newFake()
	o := opts(1<<30, 4<<30, freeListen)
	rep := Run(context.Background(), st, f, o)
	d := find(rep, CheckDisk)[0]
	assert.Equal(t, validate.Fail, d.Status)
	assert.Contains(t, d.Detail, "only 1GiB free on Docker's data root /var/lib/docker (needs at least 2GiB)")
	assert.False(t, rep.OK)

	o.MinFreeDisk = 512 << 20
	rep = Run(context.Background(), st, f, o)
	assert.Equal(t, validate.Pass, find(rep, CheckDisk)[0].Status)

	o.DiskFree = func(string) (int64, error) { return 0, syscall.EACCES }
	rep = Run(context.Background(), st, f, o)
	assert.Equal(t, validate.Warn, find(rep, CheckDisk)[0].Status)
}

func TestMemory(t *testing.T) {
	st := load(t, simple, nil, nil)
	f := newFake()
	// limits (1.5 GiB) above what is available now: a warning.
	rep := Run(context.Background(), st, f, opts(10<<30, 1<<30, freeListen))
	m := find(rep, CheckMemory)[0]
	assert.Equal(t, validate.Warn, m.Status, m.Detail)
	// above the engine's total memory: a failure.
	f.info.MemTotal = 1 << 30
	rep = Run(context.Background(), st, f, opts(10<<30, 1<<30, freeListen))
	m = find(rep, CheckMemory)[0]
	assert.Equal(t, validate.Fail, m.Status, m.Detail)
	assert.Contains(t, m.Detail, "more than the engine's 1GiB of memory")
	// a remote engine: compared with its total only.
	local := false
	f.info.MemTotal = 8 << 30
	o := opts(10<<30, 1<<30, freeListen)
	o.Local = &local
	rep = Run(context.Background(), st, f, o)
	m = find(rep, CheckMemory)[0]
	assert.Equal(t, validate.Pass, m.Status, m.Detail)
	assert.Contains(t, m.Detail, "the engine's total memory")
	assert.Equal(t, validate.Warn, find(rep, CheckDisk)[0].Status)
	ports := find(rep, CheckPort)
	require.Len(t, ports, 1)
	assert.Equal(t, validate.Warn, ports[0].Status)
}

func TestPorts(t *testing.T) {
	st := load(t, simple, nil, nil)
	inUse := takenAt("127.0.0.1:6380", "0.0.0.0:8080")
	f := newFake()
	rep := Run(context.Background(), st, f, opts(10<<30, 4<<30, inUse))
	var redis, web validate.Check
	for _, c := range find(rep, CheckPort) {
		switch c.Service {
		case "redis":
			redis = c
		case "web":
			web = c
		}
	}
	assert.Equal(t, validate.Fail, redis.Status)
	assert.Equal(t, "port 127.0.0.1:6380 (service redis) is in use by another process; free it or change the ports: mapping", redis.Line())
	// web is optional: the same problem only warns.
	assert.Equal(t, validate.Warn, web.Status)
	assert.True(t, web.Downgraded)
	assert.False(t, rep.OK)

	// Held by this project's own container: fine.
	f.own = []engine.Container{{Name: "pf-redis-1", Service: "redis", Project: "pf", Ports: []container.PortSummary{{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 6379, PublicPort: 6380, Type: "tcp"}}}}
	// Held by a container of another dive project: named.
	f.managed = []engine.Container{{Name: "other-web-1", Service: "web", Project: "other", Ports: []container.PortSummary{{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}}}
	rep = Run(context.Background(), st, f, opts(10<<30, 4<<30, inUse))
	for _, c := range find(rep, CheckPort) {
		switch c.Service {
		case "redis":
			assert.Equal(t, validate.Pass, c.Status, c.Detail)
			assert.Contains(t, c.Detail, "held by this project's container pf-redis-1")
		case "web":
			assert.Contains(t, c.Detail, "in use by container other-web-1 of project other")
		}
	}
	assert.True(t, rep.OK)
}

// A port held by a container of a service the file no longer declares (an
// orphan, e.g. after a rename) is not reused or replaced by the deploy: it
// fails, naming the orphan and the fix; with --remove-orphans it warns.
func TestPortHeldByOrphan(t *testing.T) {
	st := load(t, simple, nil, nil)
	inUse := takenAt("127.0.0.1:6380")
	f := newFake()
	f.own = []engine.Container{{Name: "pf-cache-1", Service: "cache", Project: "pf", Ports: []container.PortSummary{{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 6379, PublicPort: 6380, Type: "tcp"}}}}
	redis := func(rep validate.Report) validate.Check {
		for _, c := range find(rep, CheckPort) {
			if c.Service == "redis" {
				return c
			}
		}
		t.Fatal("no port check of redis")
		return validate.Check{}
	}
	rep := Run(context.Background(), st, f, opts(10<<30, 4<<30, inUse))
	c := redis(rep)
	assert.Equal(t, validate.Fail, c.Status, c.Detail)
	assert.Equal(t, "port 127.0.0.1:6380 (service redis) is held by orphan container pf-cache-1 of this project: its service cache is no longer in the compose file; the deploy would leave it running; "+
		"deploy with --remove-orphans (it removes orphan containers first), or remove the project's containers: dive hub down", c.Line())
	assert.False(t, rep.OK)

	o := opts(10<<30, 4<<30, inUse)
	o.RemoveOrphans = true
	rep = Run(context.Background(), st, f, o)
	c = redis(rep)
	assert.Equal(t, validate.Warn, c.Status, c.Detail)
	assert.Contains(t, c.Detail, "--remove-orphans removes it before the deploy creates anything")
	assert.True(t, rep.OK)
}

func TestPortClashInsideTheStack(t *testing.T) {
	st := load(t, `
services:
  a: {image: a, ports: ["127.0.0.1:9000:80"]}
  b: {image: b, ports: ["9000:80"]}
`, nil, nil)
	rep := Run(context.Background(), st, newFake(), opts(10<<30, 4<<30, freeListen))
	p := find(rep, CheckPort)
	require.Len(t, p, 1)
	assert.Equal(t, validate.Fail, p[0].Status)
	assert.Contains(t, p[0].Detail, "published by both a and b")
}

func TestEngineVersion(t *testing.T) {
	st := load(t, `
services:
  a:
    image: a
    healthcheck: {test: ["CMD", "true"], start_interval: 1s}
`, nil, nil)
	f := newFake()
	f.api = "1.40"
	rep := Run(context.Background(), st, f, opts(10<<30, 4<<30, freeListen))
	e := find(rep, CheckEngine)
	require.Len(t, e, 2)
	assert.Equal(t, validate.Fail, e[0].Status)
	assert.Contains(t, e[0].Detail, "dive needs 1.41")
	assert.Equal(t, validate.Warn, e[1].Status)
	assert.Contains(t, e[1].Detail, "start_interval")

	f.api, f.infoErr = "1.41", errors.New("connection reset")
	rep = Run(context.Background(), st, f, opts(10<<30, 4<<30, freeListen))
	assert.False(t, rep.OK)
	assert.Contains(t, find(rep, CheckEngine)[2].Detail, "docker info failed")
}

func TestNetworksVolumesImages(t *testing.T) {
	compose := `
services:
  api:
    build: ./api
    networks: [shared]
    volumes: [certs:/certs, data:/data]
  ui:
    build: {context: ./ui, dockerfile: Dockerfile.dev}
    labels: {dive.service.class: stretch}
  pulled:
    image: example/pulled:1
  never:
    image: example/never:1
    pull_policy: never
    labels: {dive.service.class: optional}
networks:
  shared: {external: true, name: pf-shared}
volumes:
  certs: {external: true}
  data: {}
`
	st := load(t, compose, map[string]string{"api/Dockerfile": "FROM scratch\n", "ui/README": "no dockerfile here\n"}, nil)
	st.Project.Name = "pf"
	rep := Run(context.Background(), st, newFake(), opts(10<<30, 4<<30, freeListen))
	var b strings.Builder
	require.NoError(t, validate.WriteText(&b, &rep))
	t.Log("\n" + b.String())

	n := find(rep, CheckNetwork)
	require.Len(t, n, 1)
	assert.Equal(t, validate.Warn, n[0].Status)
	assert.Contains(t, n[0].Detail, "external network pf-shared does not exist (used by api); the deploy will create it")

	v := find(rep, CheckVolume)
	require.Len(t, v, 1, "only external volumes are checked")
	assert.Equal(t, validate.Fail, v[0].Status)
	assert.Contains(t, v[0].Line(), "docker volume create certs")

	imgs := map[string]validate.Check{}
	for _, c := range find(rep, CheckImage) {
		imgs[c.Service] = c
	}
	assert.Equal(t, validate.Pass, imgs["api"].Status, imgs["api"].Detail)
	assert.Contains(t, imgs["api"].Detail, "will build it from")
	assert.Equal(t, validate.Warn, imgs["ui"].Status, "a stretch service's missing Dockerfile only warns")
	assert.Contains(t, imgs["ui"].Detail, "Dockerfile.dev does not exist")
	assert.Equal(t, validate.Warn, imgs["pulled"].Status)
	assert.Contains(t, imgs["pulled"].Detail, "the deploy will pull it")
	assert.Equal(t, validate.Warn, imgs["never"].Status)
	assert.True(t, imgs["never"].Downgraded)

	// The hook judges images itself.
	o := opts(10<<30, 4<<30, freeListen)
	o.ImageCheck = func(ctx context.Context, ref string, services []string) (validate.Check, bool) {
		return validate.Check{Status: validate.Pass, Detail: "hooked " + ref}, ref == "example/pulled:1"
	}
	rep = Run(context.Background(), st, newFake(), o)
	for _, c := range find(rep, CheckImage) {
		if c.Service == "pulled" {
			assert.Equal(t, "hooked example/pulled:1", c.Detail)
			assert.Equal(t, stack.Core, c.Class)
		}
	}
}

func TestEnvFiles(t *testing.T) {
	compose := `
services:
  a:
    image: a
    env_file:
      - a.env
      - {path: ./optional.env, required: false}
`
	st := load(t, compose, map[string]string{"a.env": "X=1\nY=2\n"}, nil)
	rep := Run(context.Background(), st, newFake(), opts(10<<30, 4<<30, freeListen))
	ef := find(rep, CheckEnvFile)
	require.Len(t, ef, 2)
	for _, c := range ef {
		assert.Equal(t, validate.Pass, c.Status, c.Detail)
	}
	assert.Contains(t, ef[0].Detail, "a.env exists (2 variables; used by a)")
	assert.Contains(t, ef[1].Detail, "optional env file")
}

func TestVariables(t *testing.T) {
	for _, k := range []string{"PF_DB_PASSWORD", "PF_COLOR", "PF_OPT", "PF_DEF", "PF_EMPTY_TOKEN", "PF_SET", "PF_NETOPT"} {
		os.Unsetenv(k)
	}
	compose := `
x-common: &common
  labels: {shared: "${PF_SET}"}
services:
  db:
    <<: *common
    image: "db:${PF_DEF:-1}"
    environment:
      PASSWORD: ${PF_DB_PASSWORD}
      COLOR: $PF_COLOR
      OPT: "${PF_OPT:-}"
      LITERAL: "$$NOT_A_VAR and $${ALSO_NOT}"
      TOKEN: ${PF_EMPTY_TOKEN}
  off:
    image: off
    profiles: [never]
    environment: {X: "${PF_OFF_ONLY}"}
networks:
  default:
    driver_opts: {mtu: "${PF_NETOPT}"}
`
	st := load(t, compose, nil, map[string]string{"PF_SET": "yes", "PF_EMPTY_TOKEN": ""})
	rep := Run(context.Background(), st, newFake(), opts(10<<30, 4<<30, freeListen))
	env := map[string]validate.Check{}
	for _, c := range find(rep, CheckEnv) {
		env[strings.Fields(c.Detail)[1]] = c
	}
	require.Len(t, env, 4, "%v", env)
	assert.Equal(t, validate.Fail, env["PF_DB_PASSWORD"].Status)
	assert.Equal(t, "db", env["PF_DB_PASSWORD"].Service)
	assert.Contains(t, env["PF_DB_PASSWORD"].Detail, "variable PF_DB_PASSWORD is not set, so it resolves to an empty string (used by db); it looks like a secret")
	assert.Contains(t, env["PF_DB_PASSWORD"].Fix, "${PF_DB_PASSWORD:-}")
	assert.Equal(t, validate.Warn, env["PF_COLOR"].Status)
	assert.Equal(t, validate.Fail, env["PF_EMPTY_TOKEN"].Status)
	assert.Contains(t, env["PF_EMPTY_TOKEN"].Detail, "is set but empty")
	assert.Equal(t, validate.Warn, env["PF_NETOPT"].Status)
	assert.Contains(t, env["PF_NETOPT"].Detail, "top-level sections")
	assert.NotContains(t, env, "PF_OFF_ONLY", "services a profile disables are not checked")
}

func TestScanRefs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []varRef
	}{
		{"plain ${A} and $B", []varRef{{"A", true}, {"B", true}}},
		{"$$A $${B} $", nil},
		{"${A:-x} ${B-y} ${C:+z} ${D+w}", []varRef{{"A", false}, {"B", false}, {"C", false}, {"D", false}}},
		{"${A:?need it} ${B?need}", []varRef{{"A", false}, {"B", false}}},
		{"${A:-${B}}", []varRef{{"A", false}, {"B", true}}},
		{"${A:-${B:-c}}/$C_D.x", []varRef{{"A", false}, {"B", false}, {"C_D", true}}},
		{"${1} $2 ${", nil},
	} {
		assert.Equal(t, tc.want, scanRefs(tc.in), tc.in)
	}
	assert.True(t, secretLike("KEYCLOAK_CLIENT_SECRET"))
	assert.True(t, secretLike("REDIS_PASSWORD_USA"))
	assert.True(t, secretLike("OPAL_AUTH_MASTER_TOKEN"))
	assert.False(t, secretLike("KEYCLOAK_HTTP_PORT"))
}

func TestFromLoadError(t *testing.T) {
	os.Unsetenv("PF_REQUIRED_SECRET")
	f := writeStack(t, "services:\n  kc:\n    image: kc\n    environment:\n      S: ${PF_REQUIRED_SECRET:?set it in .env.hub}\n", nil)
	_, err := stack.Load(context.Background(), stack.Options{Files: []string{f}})
	require.Error(t, err)
	rep := FromLoadError(err)
	require.Len(t, rep.Checks, 1)
	c := rep.Checks[0]
	assert.Equal(t, CheckEnv, c.Name)
	assert.Equal(t, validate.Fail, c.Status)
	assert.Equal(t, "required variable PF_REQUIRED_SECRET is not set (used in services.kc.environment.S): set it in .env.hub", c.Detail)
	assert.Contains(t, c.Fix, "set PF_REQUIRED_SECRET")
	assert.False(t, rep.OK)

	// a missing env file
	f = writeStack(t, "services:\n  a:\n    image: a\n    env_file: [missing.env]\n", nil)
	_, err = stack.Load(context.Background(), stack.Options{Files: []string{f}})
	require.Error(t, err)
	rep = FromLoadError(err)
	assert.Equal(t, CheckEnvFile, rep.Checks[0].Name)
	assert.Contains(t, rep.Checks[0].Detail, "missing.env")

	rep = Unreachable(&engine.UnreachableError{Host: "unix:///nope.sock", Err: errors.New("connection refused")})
	assert.Equal(t, CheckEngine, rep.Checks[0].Name)
	assert.NotContains(t, rep.Checks[0].Detail, "fix:")
	assert.Contains(t, rep.Checks[0].Fix, "start it")
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "2g": 2 << 30, "500m": 500 << 20, "1024": 1024} {
		n, err := ParseBytes(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, n, in)
	}
	_, err := ParseBytes("lots")
	assert.Error(t, err)
	n, err := MinFreeDisk("3g")
	require.NoError(t, err)
	assert.Equal(t, int64(3<<30), n)
}

// --- with the real daemon ---------------------------------------------

func realEngine(t *testing.T) *engine.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng, err := engine.New(ctx, engine.Options{PingTimeout: 2 * time.Second})
	if err != nil {
		t.Skipf("no Docker daemon answers: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

type withVolumes struct{ *engine.Engine }

func (withVolumes) VolumeExists(ctx context.Context, name string) (bool, error) { return false, nil }

func TestPreflightIntegrationPortInUse(t *testing.T) {
	eng := realEngine(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	f := writeStack(t, `
services:
  redis:
    image: pftest-missing:never
    ports: ["127.0.0.1:${PF_PORT}:6379"]
`, nil)
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{f}, ProjectName: "pftest-" + strconv.Itoa(port), Env: map[string]string{"PF_PORT": strconv.Itoa(port)}})
	require.NoError(t, err)
	rep := Run(context.Background(), st, withVolumes{eng}, Options{})
	var b strings.Builder
	require.NoError(t, validate.WriteText(&b, &rep))
	t.Log("\n" + b.String())
	t.Logf("preflight took %s", rep.Duration)
	assert.False(t, rep.OK)
	p := find(rep, CheckPort)
	require.Len(t, p, 1)
	assert.Equal(t, validate.Fail, p[0].Status)
	assert.Equal(t, fmt.Sprintf("port 127.0.0.1:%d (service redis) is in use by another process; free it or change the ports: mapping", port), p[0].Line())
	assert.Contains(t, b.String(), fmt.Sprintf("✘ port 127.0.0.1:%d (service redis) is in use by another process", port))
	// The target is < 1s (about 30-40 ms on a quiet 2-core machine); the bound
	// here is loose so that a loaded CI machine does not flake.
	assert.Less(t, rep.Duration, 5*time.Second)

	// Once the port is free the check passes.
	require.NoError(t, l.Close())
	rep = Run(context.Background(), st, withVolumes{eng}, Options{})
	assert.Equal(t, validate.Pass, find(rep, CheckPort)[0].Status)
}

func TestPreflightIntegrationMissingVariable(t *testing.T) {
	realEngine(t) // the whole path, as `dive hub preflight` runs it
	os.Unsetenv("PFTEST_CLIENT_SECRET")
	f := writeStack(t, `
services:
  keycloak:
    image: pftest-missing:never
    environment:
      KEYCLOAK_CLIENT_SECRET: ${PFTEST_CLIENT_SECRET:?PFTEST_CLIENT_SECRET must be set in .env.hub}
`, nil)
	_, err := stack.Load(context.Background(), stack.Options{Files: []string{f}, ProjectName: "pftest-var"})
	require.Error(t, err)
	require.True(t, stack.IsConfigError(err))
	rep := FromLoadError(err)
	assert.False(t, rep.OK)
	c := rep.Checks[0]
	assert.Equal(t, validate.Fail, c.Status)
	assert.Contains(t, c.Detail, "required variable PFTEST_CLIENT_SECRET is not set")
	assert.Contains(t, c.Line(), "set PFTEST_CLIENT_SECRET in the env file")
}

// A unix socket that reaches another host's engine (ssh -L, socat) is not
// this host: its ports, disk and memory are not checked here.
func TestForwardedSocketIsNotLocal(t *testing.T) {
	st := load(t, simple, nil, nil)
	f := newFake()
	self, err := os.Hostname()
	require.NoError(t, err)
	f.info.Name = "elsewhere-" + self
	o := opts(10<<30, 4<<30, func(string, string) error { t.Error("a port of another host was tried here"); return nil })
	o.Local = nil
	rep := Run(context.Background(), st, f, o)
	ports := find(rep, CheckPort)
	require.Len(t, ports, 1)
	assert.Equal(t, validate.Warn, ports[0].Status)
	assert.Contains(t, ports[0].Detail, "is not on this host")
	assert.Equal(t, validate.Warn, find(rep, CheckDisk)[0].Status)
	assert.Contains(t, find(rep, CheckMemory)[0].Detail, "the engine's total memory")

	// The engine of this host: checked here.
	f.info.Name = self
	f.info.MemTotal, err = MemTotal()
	require.NoError(t, err)
	tried := false
	o.Listen = func(string, string) error { tried = true; return nil }
	rep = Run(context.Background(), st, f, o)
	assert.True(t, tried, "this host's ports are tried")
	assert.Equal(t, validate.Pass, find(rep, CheckDisk)[0].Status)
}

func TestSameHost(t *testing.T) {
	name := func(s string) func() (string, error) { return func() (string, error) { return s, nil } }
	mem := func(n int64) func() (int64, error) { return func() (int64, error) { return n, nil } }
	unread := func() (int64, error) { return 0, errors.New("no /proc") }
	info := engine.SystemInfo{Name: "hub1", MemTotal: 8 << 30}
	assert.True(t, sameHost(info, name("hub1"), mem(8<<30)))
	assert.True(t, sameHost(info, name("HUB1"), mem(8<<30)), "host names are not case sensitive")
	assert.False(t, sameHost(info, name("laptop"), mem(8<<30)), "another host of the same memory")
	assert.False(t, sameHost(info, name("hub1"), mem(16<<30)), "another kernel under the same name")
	assert.True(t, sameHost(info, name("hub1"), unread), "what cannot be read here does not decide")
	assert.True(t, sameHost(engine.SystemInfo{}, name("hub1"), mem(8<<30)), "an engine that does not say")
}

// TestImageHealthcheckWarning: a service others wait to be healthy for,
// with no healthcheck in the file, is fine when its local image has a
// HEALTHCHECK, and warned about when it has none (the deploy would fail
// its dependents).
func TestImageHealthcheckWarning(t *testing.T) {
	st := load(t, `
services:
  withimg:
    image: bld-with:1
  without:
    image: bld-without:1
    healthcheck: {interval: 1s}
  absent:
    image: bld-absent:1
  app:
    image: bld-app:1
    depends_on:
      withimg: {condition: service_healthy}
      without: {condition: service_healthy}
      absent: {condition: service_healthy}
`, nil, nil)
	f := newFake()
	f.imageHealth = map[string]*container.HealthConfig{"bld-with:1": {Test: []string{"CMD", "/probe"}}}
	f.images["bld-with:1"], f.images["bld-without:1"], f.images["bld-app:1"] = "sha256:with", "sha256:without", "sha256:app"
	rep := Run(context.Background(), st, f, opts(10<<30, 4<<30, freeListen))
	var warned []validate.Check
	for _, c := range find(rep, CheckImage) {
		if strings.Contains(c.Detail, "healthy") {
			warned = append(warned, c)
		}
	}
	require.Len(t, warned, 1, "only the present image without a HEALTHCHECK; a missing image is not known yet")
	assert.Equal(t, "without", warned[0].Service)
	assert.Equal(t, validate.Warn, warned[0].Status)
	assert.Contains(t, warned[0].Detail, `app wait(s) for "without" to be healthy`)
	assert.Contains(t, warned[0].Fix, "condition: service_started")
}
