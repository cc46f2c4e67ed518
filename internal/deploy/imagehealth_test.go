package deploy

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImageHealthcheck: as docker compose, a service_healthy dependency
// whose healthcheck comes from its image (a Dockerfile HEALTHCHECK the
// file does not name, or completes with its timings) is waited on until
// healthy, and dive's own probe runs the image's command.
func TestImageHealthcheck(t *testing.T) {
	st, g := loadStack(t, `
name: imghc
services:
  db:
    image: bld-db:1
    labels: {dive.health.probe-interval: 20ms}
  cache:
    image: bld-cache:1
    healthcheck: {interval: 1s}
  app:
    image: app
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
`)
	f := newFake(map[string]script{"db": {HealthyAfter: 150 * time.Millisecond, NoHealthEvents: true}, "cache": {HealthyAfter: 100 * time.Millisecond}})
	f.imageHealth["bld-db:1"] = &container.HealthConfig{Test: []string{"CMD", "/db-probe", "--ready"}, Interval: 30 * time.Second, Timeout: 2 * time.Second, Retries: 4}
	f.imageHealth["bld-cache:1"] = &container.HealthConfig{Test: []string{"CMD-SHELL", "cache-probe"}, Interval: 30 * time.Second}

	r := deployWith(t, f, st, g)
	require.Equal(t, Success, r.res.Outcome, r.res.Err)
	checkEvents(t, r, "db", "cache", "app")
	started, ready := f.times()
	assert.False(t, started["app"].Before(ready["db"]), "app starts once db is healthy")
	assert.False(t, started["app"].Before(ready["cache"]), "app starts once cache is healthy")

	// db turns healthy only to probes: dive's probe ran the image's command.
	f.mu.Lock()
	dbCmds := append([][]string(nil), f.execCmds["db"]...)
	f.mu.Unlock()
	require.NotEmpty(t, dbCmds, "db's readiness is only visible to exec probes")
	for _, c := range dbCmds {
		assert.Equal(t, []string{"/db-probe", "--ready"}, c)
	}
}

// TestSetHealth: the effective healthcheck and the budget derived from it.
func TestSetHealth(t *testing.T) {
	st, _ := loadStack(t, `
name: imghc
services:
  bare:
    image: x
  timings:
    image: x
    healthcheck: {interval: 1s, retries: 2}
  labelled:
    image: x
    labels: {dive.service.timeout: 42s}
  off:
    image: x
    healthcheck: {disable: true}
  own:
    image: x
    healthcheck: {test: [CMD, /own], interval: 5s, timeout: 1s, retries: 3}
`)
	img := &container.HealthConfig{Test: []string{"CMD", "/img"}, Interval: 30 * time.Second, Timeout: 2 * time.Second, Retries: 4}
	runOf := func(name string, image *container.HealthConfig) *svcRun {
		s := st.Services[name]
		r := &svcRun{svc: s, health: s.Config.HealthCheck, budget: s.Budget, healthKnown: newFuture[bool]()}
		r.setHealth(image)
		return r
	}

	r := runOf("bare", img)
	assert.True(t, r.hasHealthcheck())
	assert.Equal(t, []string{"CMD", "/img"}, []string(r.health.Test))
	assert.Equal(t, 4*(30*time.Second+2*time.Second), r.budget, "retries × (interval + timeout) of the image's")
	has, err := r.healthKnown.wait(t.Context())
	assert.True(t, has)
	assert.NoError(t, err)

	r = runOf("timings", img)
	assert.Equal(t, []string{"CMD", "/img"}, []string(r.health.Test), "the image's test")
	assert.Equal(t, time.Second, time.Duration(*r.health.Interval), "the file's interval")
	assert.Equal(t, 2*time.Second, time.Duration(*r.health.Timeout), "the image's timeout")
	assert.Equal(t, uint64(2), *r.health.Retries, "the file's retries")
	assert.Equal(t, 2*(time.Second+2*time.Second), r.budget)

	r = runOf("labelled", img)
	assert.True(t, r.hasHealthcheck())
	assert.Equal(t, 42*time.Second, r.budget, "a label's budget stays")

	r = runOf("off", img)
	assert.False(t, r.hasHealthcheck(), "disable: true wins over the image")

	r = runOf("own", img)
	assert.Equal(t, []string{"CMD", "/own"}, []string(r.health.Test))
	assert.Equal(t, 3*(5*time.Second+time.Second), r.budget)

	r = runOf("bare", nil)
	assert.False(t, r.hasHealthcheck())
	assert.Equal(t, st.Services["bare"].Budget, r.budget)
	has, _ = r.healthKnown.wait(t.Context())
	assert.False(t, has)
}

// TestServiceHealthyWithoutAnyHealthcheck: neither the file nor the image
// gives the dependency a healthcheck: the dependent fails, naming both
// services and the fix (compose refuses to start it too), as soon as the
// dependency's image is known.
func TestServiceHealthyWithoutAnyHealthcheck(t *testing.T) {
	st, g := loadStack(t, `
name: imghc
services:
  db:
    image: bld-db:1
  app:
    image: app
    depends_on:
      db: {condition: service_healthy}
`)
	f := newFake(nil)
	r := deployWith(t, f, st, g)
	require.Equal(t, Failed, r.res.Outcome)
	checkEvents(t, r, "app") // db: cancelled by the core failure, as any other service
	app := r.res.Services["app"]
	assert.Equal(t, StateFailed, app.State)
	assert.Contains(t, app.Reason, `waits for "db" to be healthy`)
	assert.Contains(t, app.Reason, "bld-db:1 has no HEALTHCHECK")
	require.NotNil(t, app.Diagnosis)
	assert.Contains(t, app.Diagnosis.Hint, "condition: service_started")
	assert.NotContains(t, f.callsOf("start"), "app", "app is never started")
}
