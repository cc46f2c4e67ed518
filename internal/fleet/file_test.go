package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodFleet = `name: dive
engines:
  hubhost: unix:///var/run/docker.sock
  fra-host:
    host: tcp://10.0.0.5:2376
    tls: certs/fra
  gbr-host:
    host: ssh://root@gbr.example:2222
    ssh_key: keys/id_dive
  deu-host:
    context: deu
stacks:
  hub:
    compose: [hub.yml]
    env_file: .env.hub
    profiles: [xacml]
    engine: hubhost
templates:
  spoke:
    compose: spoke.yml
    project: dive-spoke-{{INSTANCE_CODE_LOWER}}
    class: optional
    variables: {SHARED: x}
    depends_on:
      backend:
        hub.keycloak: service_healthy
    instances:
      fra:
        engine: fra-host
        class: core
        variables: {FRONTEND_PORT: "3010"}
      gbr: {engine: gbr-host}
      deu:
        engine: deu-host
        variables: {INSTANCE_CODE: GER}
depends_on:
  spoke-fra.frontend:
    hub.backend: {condition: service_started, required: false}
`

func TestParseGoodFleet(t *testing.T) {
	f, err := Parse("/x/dive-fleet.yml", "/x", []byte(goodFleet))
	require.NoError(t, err)
	assert.Equal(t, "dive", f.Name)
	require.Len(t, f.Stacks, 4)
	assert.Equal(t, []string{"hub", "spoke-deu", "spoke-fra", "spoke-gbr"}, f.stackNames())

	hub := f.Stack("hub")
	assert.Equal(t, []string{"/x/hub.yml"}, hub.Files)
	assert.Equal(t, []string{"/x/.env.hub"}, hub.EnvFiles)
	assert.Equal(t, []string{"xacml"}, hub.Profiles)
	assert.Equal(t, Core, hub.Class)
	assert.Empty(t, hub.Project, "a stack entry keeps its compose file's project name")

	fra := f.Stack("spoke-fra")
	assert.Equal(t, Core, fra.Class, "an instance overrides its template's class")
	assert.Equal(t, "dive-spoke-fra", fra.Project)
	assert.Equal(t, map[string]string{"SHARED": "x", "FRONTEND_PORT": "3010", "INSTANCE_NAME": "fra", "INSTANCE_CODE": "FRA",
		"INSTANCE_CODE_UPPER": "FRA", "INSTANCE_CODE_LOWER": "fra"}, fra.Variables)
	assert.Equal(t, Optional, f.Stack("spoke-gbr").Class)
	assert.Equal(t, "dive-spoke-ger", f.Stack("spoke-deu").Project, "INSTANCE_CODE set by the instance wins")

	assert.Equal(t, "/x/certs/fra", f.Engines["fra-host"].TLSDir)
	assert.Equal(t, "/x/keys/id_dive", f.Engines["gbr-host"].SSHKey)
	assert.Equal(t, "deu", f.Engines["deu-host"].Context)

	// the template's edge for every instance, plus the top-level one
	var edges []string
	for _, d := range f.Deps {
		edges = append(edges, d.From.String()+">"+d.To.String()+":"+string(d.Condition))
	}
	assert.ElementsMatch(t, []string{"spoke-fra.backend>hub.keycloak:service_healthy", "spoke-gbr.backend>hub.keycloak:service_healthy",
		"spoke-deu.backend>hub.keycloak:service_healthy", "spoke-fra.frontend>hub.backend:service_started"}, edges)
	for _, d := range f.Deps {
		assert.Equal(t, d.From.Service != "frontend", d.Required)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "name: a\nstacks:\n  hub:\n    compose: x.yml\n    enigne: one\n", "f.yml:5: stacks.hub: unknown key \"enigne\""},
		{"bad class", "name: a\nstacks:\n  hub:\n    compose: x.yml\n    class: stretch\n", "f.yml:5: class \"stretch\" is not core or optional"},
		{"undeclared engine", "name: a\nengines: {one: unix:///a.sock}\nstacks:\n  hub:\n    compose: x.yml\n    engine: two\n", "f.yml:6: engine \"two\" is not declared"},
		{"bad scheme", "name: a\nengines:\n  one: http://x\nstacks: {hub: {compose: x.yml}}\n", "f.yml:3: engine one: host \"http://x\" is not a unix://, tcp:// or ssh:// URL"},
		{"tls on ssh", "name: a\nengines:\n  one: {host: ssh://a, tls: d}\nstacks: {hub: {compose: x.yml}}\n", "tls applies to tcp:// hosts only"},
		{"no name", "stacks: {hub: {compose: x.yml}}\n", "f.yml:1: the fleet has no name"},
		{"no compose", "name: a\nstacks:\n  hub: {engine: default}\n", "f.yml:3: stack hub has no compose file"},
		{"bad condition", "name: a\nstacks: {hub: {compose: x.yml}, s: {compose: y.yml}}\ndepends_on:\n  s.api:\n    hub.db: service_ready\n", "f.yml:5: s.api -> hub.db: condition \"service_ready\" is not one of compose's"},
		{"unknown stack", "name: a\nstacks: {hub: {compose: x.yml}}\ndepends_on:\n  spoke.api: {hub.db: service_started}\n", "f.yml:4: \"spoke.api\": there is no stack spoke"},
		{"same stack", "name: a\nstacks: {hub: {compose: x.yml}}\ndepends_on:\n  hub.api: {hub.db: service_started}\n", "stays inside stack hub"},
		{"duplicate", "name: a\nstacks: {spoke-fra: {compose: x.yml}}\ntemplates:\n  spoke:\n    compose: s.yml\n    instances: {fra: {}}\n", "f.yml:6: stack spoke-fra is defined twice"},
		{"no instances", "name: a\ntemplates:\n  spoke: {compose: s.yml}\n", "template spoke has no instances"},
		{"bad yaml", "name: a\nstacks: [\n", "f.yml: yaml:"},
		{"bad variable", "name: a\ntemplates:\n  spoke:\n    compose: s.yml\n    instances:\n      fra:\n        variables: {1X: a}\n", "f.yml:7: templates.spoke.instances.fra.variables: \"1X\" is not a variable name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yml", "/x", []byte(c.yaml))
			require.Error(t, err)
			assert.True(t, stack.IsConfigError(err), "a configuration error (exit 2)")
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "fix:", "says how to fix it")
		})
	}
}

func TestRender(t *testing.T) {
	out, err := Render("a: {{X}}-{{Y}} {{.Name}} ${Z}", map[string]string{"X": "1", "Y": "2"})
	require.NoError(t, err)
	assert.Equal(t, "a: 1-2 {{.Name}} ${Z}", out, "lower-case and Go-template forms are left alone, ${} is compose's")
	_, err = Render("a\nb: {{X}}\nc: {{MISSING}} {{OTHER}}\n", map[string]string{"X": "1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "{{MISSING}} (line 3), {{OTHER}} (line 3)")
}

// TestLoadChecksServicesAndCycles loads real compose files: an edge naming
// a missing service, and a cycle through two stacks, are refused.
func TestLoadChecksServicesAndCycles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("hub.yml", "name: h\nservices:\n  keycloak: {image: x}\n  api: {image: x}\n")
	write("spoke.yml", "services:\n  backend:\n    image: x\n    container_name: s-{{INSTANCE_CODE_LOWER}}-backend\n")
	load := func(deps string) error {
		f, err := Parse(filepath.Join(dir, "f.yml"), dir, []byte("name: t\nstacks: {hub: {compose: hub.yml}}\ntemplates:\n  spoke:\n    compose: spoke.yml\n    instances: {fra: {}}\n"+deps))
		require.NoError(t, err)
		l, err := Load(context.Background(), f, LoadOptions{})
		if err == nil {
			assert.Equal(t, "s-fra-backend", l.Stacks["spoke-fra"].St.Services["backend"].Config.ContainerName)
			assert.Equal(t, "spoke-fra", l.Stacks["spoke-fra"].St.Project.Name)
		}
		return err
	}
	require.NoError(t, load("depends_on:\n  spoke-fra.backend: {hub.keycloak: service_healthy}\n"))
	err := load("depends_on:\n  spoke-fra.backend: {hub.kc: service_healthy}\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "f.yml:8: depends_on spoke-fra.backend -> hub.kc: stack hub has no active service kc")
	err = load("depends_on:\n  spoke-fra.backend: {hub.keycloak: service_healthy}\n  hub.keycloak: {spoke-fra.backend: service_started}\n")
	require.Error(t, err)
	assert.True(t, stack.IsConfigError(err))
	assert.Contains(t, err.Error(), "cycle")
}

func TestTrackerSignals(t *testing.T) {
	tr := newTracker()
	ext := tr.externalDeps(map[string][]Dep{"backend": {
		{From: Ref{"s", "backend"}, To: Ref{"hub", "keycloak"}, Condition: graph.Healthy, Required: true},
		{From: Ref{"s", "backend"}, To: Ref{"hub", "api"}, Condition: graph.Started, Required: true},
	}})
	require.Len(t, ext["backend"], 2)
	ctx := context.Background()
	tr.observe("hub", evt("keycloak", "service_started"))
	tr.observe("hub", evt("api", "service_started"))
	assert.NoError(t, ext["backend"][1].Wait(ctx), "service_started holds once started")
	tr.observe("hub", evt("keycloak", "service_failed"))
	err := ext["backend"][0].Wait(ctx)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "hub.keycloak failed"), err.Error())
}
