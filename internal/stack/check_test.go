package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every value check, table-tested on the function itself.
func TestValueChecks(t *testing.T) {
	p := &types.Project{Services: types.Services{"a": {Name: "a"}, "b": {Name: "b"}},
		DisabledServices: types.Services{"tools": {Name: "tools"}}}
	lim := func(c float32) *types.DeployConfig {
		return &types.DeployConfig{Resources: types.Resources{Limits: &types.Resource{NanoCPUs: types.NanoCPUs(c)}}}
	}
	set := func(f func(*types.ServiceConfig)) types.ServiceConfig {
		var s types.ServiceConfig
		f(&s)
		return s
	}
	tests := []struct {
		name  string
		check valueCheck
		svc   types.ServiceConfig
		want  string // "" means valid
	}{
		{"restart empty", checkRestart, types.ServiceConfig{}, ""},
		{"restart always", checkRestart, set(func(s *types.ServiceConfig) { s.Restart = "always" }), ""},
		{"restart unless-stopped", checkRestart, set(func(s *types.ServiceConfig) { s.Restart = "unless-stopped" }), ""},
		{"restart on-failure:3", checkRestart, set(func(s *types.ServiceConfig) { s.Restart = "on-failure:3" }), ""},
		{"restart sometimes", checkRestart, set(func(s *types.ServiceConfig) { s.Restart = "sometimes" }), `restart "sometimes" is not a restart policy`},
		{"restart on-failure:x", checkRestart, set(func(s *types.ServiceConfig) { s.Restart = "on-failure:x" }), `restart "on-failure:x"`},
		{"dns ipv4", checkDNS, set(func(s *types.ServiceConfig) { s.DNS = []string{"1.1.1.1"} }), ""},
		{"dns ipv6", checkDNS, set(func(s *types.ServiceConfig) { s.DNS = []string{"2606:4700::1111"} }), ""},
		{"dns name", checkDNS, set(func(s *types.ServiceConfig) { s.DNS = []string{"notanip"} }), `dns "notanip" is not an IP address`},
		{"expose port", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"80"} }), ""},
		{"expose range/udp", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"8000-8010/udp"} }), ""},
		{"expose abc", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"80-abc"} }), `expose "80-abc" is not a port`},
		{"expose 0", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"0"} }), `expose "0"`},
		{"expose 70000", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"70000"} }), `expose "70000"`},
		{"expose reversed", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"90-80"} }), `expose "90-80"`},
		{"expose proto", checkExpose, set(func(s *types.ServiceConfig) { s.Expose = []string{"80/xyz"} }), `expose "80/xyz"`},
		{"ipv4 ok", checkStaticIPs, set(func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv4Address: "172.28.0.10"}}
		}), ""},
		{"ipv4 999", checkStaticIPs, set(func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv4Address: "999.1.1.1"}}
		}), `networks.n.ipv4_address "999.1.1.1" is not an IPv4 address`},
		{"ipv4 given v6", checkStaticIPs, set(func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv4Address: "::1"}}
		}), `ipv4_address "::1"`},
		{"ipv6 ok", checkStaticIPs, set(func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv6Address: "2001:db8::10"}}
		}), ""},
		{"ipv6 bad", checkStaticIPs, set(func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv6Address: "10.0.0.1"}}
		}), `ipv6_address "10.0.0.1"`},
		{"network nil", checkStaticIPs, set(func(s *types.ServiceConfig) { s.Networks = map[string]*types.ServiceNetworkConfig{"n": nil} }), ""},
		{"cpus ok", checkCPUs, set(func(s *types.ServiceConfig) { s.CPUS = 0.5 }), ""},
		{"cpus negative", checkCPUs, set(func(s *types.ServiceConfig) { s.CPUS = -3 }), "cpus -3 is negative"},
		{"limits negative", checkCPUs, set(func(s *types.ServiceConfig) { s.Deploy = lim(-1) }), "deploy.resources.limits.cpus -1 is negative"},
		{"limits ok", checkCPUs, set(func(s *types.ServiceConfig) { s.Deploy = lim(2) }), ""},
		{"network_mode host", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "host" }), ""},
		{"network_mode service:b", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "service:b" }), ""},
		{"network_mode service:nosuch", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "service:nosuch" }), `network_mode "service:nosuch" names no service of the project; use service:NAME with one of: a, b`},
		{"network_mode service:self", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "service:a" }), "names the service itself"},
		{"network_mode service:disabled", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "service:tools" }), "not enabled"},
		{"network_mode container:", checkNetworkMode, set(func(s *types.ServiceConfig) { s.NetworkMode = "container:" }), "names no container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.check(p, "a", tt.svc)
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Contains(t, got[0], tt.want)
			assert.Contains(t, got[0], `service "a"`)
		})
	}
}

// Load refuses each bad value with a ConfigError (exit 2) naming the file,
// the service and the value.
func TestLoadRefusesBadValues(t *testing.T) {
	tests := map[string]string{
		`restart "sometimes"`:      "    restart: sometimes\n",
		`dns "notanip"`:            "    dns: [notanip]\n",
		`expose "80-abc"`:          "    expose: [\"80-abc\"]\n",
		`ipv4_address "999.1.1.1"`: "    networks:\n      default:\n        ipv4_address: 999.1.1.1\n",
		"cpus -3":                  "    cpus: -3\n",
		`"nosuch"`:                 "    network_mode: service:nosuch\n",
	}
	for want, extra := range tests {
		t.Run(want, func(t *testing.T) {
			_, err := load(t, "services:\n  web:\n    image: x\n"+extra, Options{})
			requireConfigError(t, err, want, `service "web"`, "compose.yml")
		})
	}
}

// A compose or env file that is not a regular file, or too large, is
// refused before it is read.
func TestLoadRefusesIrregularInputs(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yml": "services:\n  web:\n    image: x\n"})
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	big := filepath.Join(dir, "big.env")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxInputFile+1), 0o644))
	compose := filepath.Join(dir, "compose.yml")
	tests := []struct {
		name  string
		o     Options
		wants []string
	}{
		{"compose /dev/zero", Options{Files: []string{"/dev/zero"}}, []string{"compose file /dev/zero is not a regular file", "character device"}},
		{"compose fifo", Options{Files: []string{fifo}}, []string{"compose file " + fifo, "named pipe"}},
		{"compose folder", Options{Files: []string{dir}}, []string{"is a folder"}},
		{"env /dev/zero", Options{Files: []string{compose}, EnvFiles: []string{"/dev/zero"}}, []string{"env file /dev/zero is not a regular file"}},
		{"env fifo", Options{Files: []string{compose}, EnvFiles: []string{fifo}}, []string{"env file " + fifo, "named pipe"}},
		{"env too big", Options{Files: []string{compose}, EnvFiles: []string{big}}, []string{"env file " + big, "more than the 4 MiB"}},
	}
	// The services' own env_file and label_file entries too (compose-go
	// would read them while loading).
	for i, entry := range []struct{ key, path, want string }{
		{"env_file", "/dev/zero", `service "web": env file /dev/zero is not a regular file`},
		{"env_file", fifo, `service "web": env file ` + fifo},
		{"env_file", big, "more than the 4 MiB"},
		{"label_file", fifo, `service "web": label file ` + fifo},
	} {
		f := filepath.Join(dir, fmt.Sprintf("svc%d.yml", i))
		require.NoError(t, os.WriteFile(f, []byte("services:\n  web:\n    image: x\n    "+entry.key+": "+entry.path+"\n"), 0o644))
		tests = append(tests, struct {
			name  string
			o     Options
			wants []string
		}{"service " + entry.key + " " + filepath.Base(entry.path), Options{Files: []string{f}}, []string{entry.want}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(t.Context(), tt.o); done <- err }()
			select {
			case err := <-done:
				requireConfigError(t, err, tt.wants...)
			case <-time.After(30 * time.Second):
				t.Fatal("Load read an irregular input for 30s (hang guard)")
			}
		})
	}
}

func TestSecurityOptChecks(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"profile.json": "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
		"bad.json":     "{not json",
	})
	loadWith := func(opts string) (*Stack, error) {
		f := filepath.Join(dir, "compose.yml")
		require.NoError(t, os.WriteFile(f, []byte("services:\n  a:\n    image: x\n    security_opt: "+opts+"\n"), 0o644))
		return Load(context.Background(), Options{Files: []string{f}})
	}
	st, err := loadWith(`["seccomp:./profile.json", "seccomp:unconfined", "label:disable", "no-new-privileges", "systempaths=unconfined"]`)
	require.NoError(t, err)
	// the profile's path is made absolute (a rollback loads a copy of the file from elsewhere)
	assert.Equal(t, []string{"seccomp=" + filepath.Join(dir, "profile.json"), "seccomp:unconfined", "label:disable", "no-new-privileges", "systempaths=unconfined"},
		st.Service("a").Config.SecurityOpt)

	_, err = loadWith(`["nonsense"]`)
	requireConfigError(t, err, `service "a": security_opt "nonsense" is not KEY=VALUE or KEY:VALUE`)
	_, err = loadWith(`["seccomp=missing.json"]`)
	requireConfigError(t, err, `service "a": security_opt seccomp profile `+filepath.Join(dir, "missing.json"))
	_, err = loadWith(`["seccomp:bad.json"]`)
	requireConfigError(t, err, "is not JSON")
}
