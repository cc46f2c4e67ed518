package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExternalDepsGateTheStart(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: ext
services:
  db:
    image: fake/db
  api:
    image: fake/api
    depends_on: [db]
  side:
    image: fake/side
    labels: {dive.service.class: optional}
`)
	release := make(chan struct{})
	var releasedAt time.Time
	go func() {
		time.Sleep(300 * time.Millisecond)
		releasedAt = time.Now()
		close(release)
	}()
	fake := newFake(nil)
	r := deployWith(t, fake, st, g, func(o *Options) {
		o.ExternalDeps = map[string][]ExternalDep{
			"api": {{Name: "hub.keycloak (service_healthy)", Required: true, Wait: func(ctx context.Context) error {
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}},
			"side": {{Name: "hub.gone (service_started)", Required: false, Wait: func(context.Context) error { return errors.New("failed") }}},
		}
	})
	require.NoError(t, r.res.Err)
	assert.Equal(t, Success, r.res.Outcome)
	started, _ := fake.times()
	assert.False(t, started["api"].Before(releasedAt), "api starts only once its external dependency holds")
	assert.True(t, started["db"].Before(releasedAt), "db has no external dependency")
	assert.Equal(t, StateReady, r.res.Services["side"].State, "a failed dependency that is not required does not block")
}

func TestExternalDepFailureSkipsAndFailsTheCore(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: extfail
services:
  db:
    image: fake/db
  api:
    image: fake/api
`)
	r := deployWith(t, newFake(nil), st, g, func(o *Options) {
		o.ExternalDeps = map[string][]ExternalDep{"api": {{Name: "hub.keycloak (service_healthy)", Required: true,
			Wait: func(context.Context) error { return errors.New("hub.keycloak failed: exit 1") }}}}
	})
	assert.Equal(t, Failed, r.res.Outcome)
	assert.Equal(t, StateSkipped, r.res.Services["api"].State)
	assert.Contains(t, r.res.Services["api"].Reason, "hub.keycloak (service_healthy): hub.keycloak failed: exit 1")
	checkEvents(t, r, "api") // db may be cancelled or ready: the core failure races with it
}
