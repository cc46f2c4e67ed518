package deploy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplicas: scale 3 gives three numbered containers, the dependent
// starts only when every replica is ready, a no-op redeploy keeps them and
// scaling down removes the highest numbers first.
func TestReplicas(t *testing.T) {
	t.Parallel()
	compose := func(n string) string {
		return `
name: reps
services:
  w:
    image: fake/w
    ` + hc + `
    labels: {dive.service.timeout: 5s}
    deploy: {replicas: ` + n + `}
  front:
    image: fake/front
    depends_on:
      w: {condition: service_healthy}
`
	}
	st, g := loadStack(t, compose("3"))
	fake := newFake(map[string]script{"w": {HealthyAfter: 80 * time.Millisecond}})
	r := deployWith(t, fake, st, g)
	require.NoError(t, r.res.Err)

	names := map[string]string{}
	var lastReplicaReady time.Time
	fake.mu.Lock()
	for _, c := range fake.containers {
		names[c.name] = c.spec.Config.Labels["com.docker.compose.container-number"]
		if c.service == "w" && c.readyAt.After(lastReplicaReady) {
			lastReplicaReady = c.readyAt
		}
	}
	fake.mu.Unlock()
	assert.Equal(t, map[string]string{"reps-w-1": "1", "reps-w-2": "2", "reps-w-3": "3", "reps-front-1": "1"}, names)
	assert.False(t, fake.startedAt("front").Before(lastReplicaReady), "front started before every replica of w was ready")

	fake.resetCalls()
	r = deployWith(t, fake, st, g)
	require.NoError(t, r.res.Err)
	assert.Empty(t, fake.callsOf("create"), "a no-op redeploy keeps every replica")
	assert.Empty(t, fake.callsOf("remove"))

	byID := map[string]string{}
	fake.mu.Lock()
	for id, c := range fake.containers {
		byID[id] = c.name
	}
	fake.mu.Unlock()
	st1, g1 := loadStack(t, compose("1"))
	fake.resetCalls()
	r = deployWith(t, fake, st1, g1)
	require.NoError(t, r.res.Err)
	assert.Empty(t, fake.callsOf("create"), "replica 1 is unchanged: the count is not part of the configuration")
	var removed []string
	fake.mu.Lock()
	for _, c := range fake.calls {
		if c.Op == "remove" {
			removed = append(removed, byID[c.ID])
		}
	}
	left := []string{}
	for _, c := range fake.containers {
		if c.service == "w" {
			left = append(left, c.name)
		}
	}
	fake.mu.Unlock()
	assert.Equal(t, []string{"reps-w-1"}, left)
	assert.Equal(t, []string{"reps-w-3", "reps-w-2"}, removed, "highest number first")
}
