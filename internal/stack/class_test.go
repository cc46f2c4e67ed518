package stack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A DIVE-style file: init jobs gating services of several classes, and an
// infrastructure cluster behind a profile.
const classesCompose = `
services:
  mongo:
    image: mongo
    labels: {dive.service.class: infrastructure}
  mongo-init:
    image: mongo
    restart: "no"
    depends_on: [mongo]
    labels: {dive.service.class: init}
  kc-init:
    image: kc
    labels: {dive.service.class: init}
  kc-init-2:
    image: kc
    depends_on:
      kc-init: {condition: service_completed_successfully}
    labels: {dive.service.class: init}
  backend:
    image: be
    depends_on:
      mongo-init: {condition: service_completed_successfully}
  kas:
    image: kas
    depends_on:
      kc-init-2: {condition: service_completed_successfully}
    labels: {dive.service.class: stretch}
  lonely-init:
    image: x
    labels: {dive.service.class: init}
  vault-1:
    image: vault
    profiles: [vault-ha]
    labels: {dive.service.class: infrastructure}
`

func TestDiveClasses(t *testing.T) {
	st := mustLoad(t, classesCompose, Options{})
	want := map[string]struct {
		declared string
		class    Class
		oneShot  bool
		retries  int
	}{
		"mongo":       {"infrastructure", Core, false, DefaultRetries},
		"mongo-init":  {"init", Core, true, DefaultRetries},  // backend (core) needs it
		"kc-init":     {"init", Stretch, true, 0},            // through kc-init-2, kas (stretch) needs it
		"kc-init-2":   {"init", Stretch, true, 0},            // kas (stretch) needs it
		"backend":     {"core", Core, false, DefaultRetries}, // no label
		"kas":         {"stretch", Stretch, false, 0},        //
		"lonely-init": {"init", Optional, true, 0},           // nothing needs it
	}
	for name, w := range want {
		s := st.Service(name)
		require.NotNil(t, s, name)
		assert.Equal(t, w.declared, s.Declared, name)
		assert.Equal(t, w.class, s.Class, name)
		assert.Equal(t, w.oneShot, s.OneShot, name)
		assert.Equal(t, w.retries, s.Retries, name)
		assert.Equal(t, w.class == Core, s.Blocking(), name)
	}
	assert.Nil(t, st.Service("vault-1"), "profile vault-ha inactive")
	assert.Contains(t, st.Disabled, "vault-1")

	ha := mustLoad(t, classesCompose, Options{Profiles: []string{"vault-ha"}})
	require.NotNil(t, ha.Service("vault-1"))
	assert.Equal(t, Core, ha.Service("vault-1").Class, "infrastructure is core when its profile is active")
}

func TestDiveClassesSelectedService(t *testing.T) {
	// deploying kas alone: its init chain comes along and stays stretch
	st := mustLoad(t, classesCompose, Options{Services: []string{"kas"}})
	assert.Equal(t, []string{"kas", "kc-init", "kc-init-2"}, st.Names)
	assert.Equal(t, Stretch, st.Service("kc-init").Class)
}

func TestUnknownClassListsKnown(t *testing.T) {
	_, err := load(t, "services:\n  web:\n    image: nginx\n    labels: {dive.service.class: critical}\n", Options{})
	requireConfigError(t, err, `service "web"`, `"critical"`, "core, infrastructure, init, optional, stretch", ExtensionKey)
}

func TestClassesFromExtension(t *testing.T) {
	compose := `
x-dive:
  classes:
    monitoring: {blocking: false}
    seed: {blocking: dependents, one-shot: true}
    platform: {}
    init: {blocking: true, one-shot: true}
services:
  prom:
    image: p
    labels: {dive.service.class: monitoring}
  seed:
    image: s
    labels: {dive.service.class: seed}
  db:
    image: d
    labels: {dive.service.class: platform}
  web:
    image: w
    depends_on: [seed]
    labels: {dive.service.class: optional}
  job:
    image: j
    labels: {dive.service.class: init}
`
	st := mustLoad(t, compose, Options{})
	assert.Equal(t, Optional, st.Service("prom").Class)
	assert.False(t, st.Service("prom").OneShot)
	assert.Equal(t, Optional, st.Service("seed").Class, "only an optional service needs it")
	assert.True(t, st.Service("seed").OneShot)
	assert.Equal(t, Core, st.Service("db").Class, "blocking by default")
	assert.Equal(t, Core, st.Service("job").Class, "the file redefined init as blocking")
	assert.True(t, st.Service("job").OneShot)
	assert.Equal(t, BlockNever, st.Classes["monitoring"].Blocking)
	assert.False(t, st.Classes["monitoring"].Builtin)
	assert.True(t, st.Classes["core"].Builtin)

	_, err := load(t, "x-dive:\n  classes:\n    mine: {}\nservices:\n  web:\n    image: nginx\n    labels: {dive.service.class: other}\n", Options{})
	requireConfigError(t, err, "core, infrastructure, init, mine, optional, stretch")
}

func TestClassesExtensionErrors(t *testing.T) {
	tests := map[string][]string{
		"x-dive: [a]":            {ExtensionKey, "mapping"},
		"x-dive: {classes: [a]}": {"x-dive.classes"},
		"x-dive: {classes: {core: {blocking: false}}}":   {"x-dive.classes.core", "built in"},
		"x-dive: {classes: {a: {blocking: maybe}}}":      {"x-dive.classes.a.blocking", "maybe", "dependents"},
		"x-dive: {classes: {a: {one-shot: 3}}}":          {"x-dive.classes.a.one-shot"},
		"x-dive: {classes: {a: {blocks: true}}}":         {"x-dive.classes.a", `"blocks"`, "blocking, one-shot"},
		"x-dive: {classes: {a: true}}":                   {"x-dive.classes.a", "mapping"},
		"x-dive: {classes: {a: {}, b: {blocking: 7}}}":   {"x-dive.classes.b.blocking"},
		"x-dive: {classes: {a: {blocking: \"false\"}}}":  nil,
		"x-dive: {other: 1}":                             nil,
		"x-dive: {classes: {a: {blocking: dependents}}}": nil,
	}
	for ext, want := range tests {
		t.Run(ext, func(t *testing.T) {
			_, err := load(t, ext+"\nservices:\n  web:\n    image: nginx\n", Options{})
			if want == nil {
				require.NoError(t, err)
				return
			}
			requireConfigError(t, err, want...)
		})
	}
}
