package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigRecordRoundTrip: the configuration a deploy keeps holds no
// secret, and loading it again (with the same env file) gives every service
// the same config hash: a rollback to it replaces only what differs.
func TestConfigRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cr3t-$tok-4e1f"
	compose := `
name: rb
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      PRICE: "5$$"
      NOTIFY: ${NOTIFY_URL}
    volumes: [data:/var/lib/postgresql/data]
    ports: ["127.0.0.1:5432:5432"]
    healthcheck: {test: [CMD, pg_isready], interval: 2s, timeout: 1s, retries: 5}
    labels: {dive.service.timeout: 90s}
  webapp:
    image: app:1
    depends_on:
      db: {condition: service_healthy, restart: true}
    labels: {dive.service.class: optional}
volumes:
  data: {}
`
	file := filepath.Join(dir, "compose.yml")
	envFile := filepath.Join(dir, ".env.hub")
	require.NoError(t, os.WriteFile(file, []byte(compose), 0o644))
	require.NoError(t, os.WriteFile(envFile, []byte("DB_PASSWORD='"+secret+"'\nNOTIFY_URL=https://n.example.com/send?token=tok-query-7272\n"), 0o600))
	load := func(files ...string) *stack.Stack {
		st, err := stack.Load(context.Background(), stack.Options{Files: files, EnvFiles: []string{envFile}, Env: map[string]string{}})
		require.NoError(t, err)
		return st
	}
	st := load(file)
	res := &deploy.Result{Outcome: deploy.Success, Services: map[string]*deploy.ServiceResult{
		"db": {Name: "db", ImageID: "sha256:db"}, "webapp": {Name: "webapp", ImageID: "sha256:app"}}}
	rec := t.TempDir()
	require.NoError(t, writeConfigRecord(rec, st, res, recordRedactor(st).String))

	b, err := os.ReadFile(filepath.Join(rec, configRecord))
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
	assert.Contains(t, string(b), "${DB_PASSWORD}")
	assert.NotContains(t, string(b), "tok-query-7272", "a token inside a URL is a secret too")
	assert.Contains(t, string(b), "${NOTIFY_URL}")

	again := load(filepath.Join(rec, configRecord))
	assert.Equal(t, st.Names, again.Names)
	for _, n := range st.Names {
		a, b := st.Services[n], again.Services[n]
		assert.Equal(t, a.Class, b.Class, n)
		assert.Equal(t, a.Budget, b.Budget, n)
		assert.Equal(t, engine.ConfigHash(a.Config, "sha256:x"), engine.ConfigHash(b.Config, "sha256:x"), "config hash of %s after the round trip", n)
	}
	pw := again.Services["db"].Config.Environment["POSTGRES_PASSWORD"]
	require.NotNil(t, pw)
	assert.Equal(t, secret, *pw, "the secret comes back from the env file")
	assert.Equal(t, "5$", *again.Services["db"].Config.Environment["PRICE"])

	require.NoError(t, checkConfigRecord(context.Background(), rec, st, nil))

	// A secret that is also part of the structure (a service name) breaks the file's structure:
	// the check refuses the record.
	require.NoError(t, os.WriteFile(envFile, []byte("DB_PASSWORD=webapp\n"), 0o600))
	weak := load(file)
	rec2 := t.TempDir()
	require.NoError(t, writeConfigRecord(rec2, weak, res, recordRedactor(weak).String))
	assert.Error(t, checkConfigRecord(context.Background(), rec2, weak, nil))

	assert.False(t, keepsConfig(&deploy.Result{Outcome: deploy.Failed}))
	assert.False(t, keepsConfig(&deploy.Result{Outcome: deploy.Degraded, Services: map[string]*deploy.ServiceResult{"x": {Rollback: &deploy.ServiceRollback{}}}}))
	assert.True(t, keepsConfig(res))
}

// A redeploy whose config record is the one kept last skips loading it back.
func TestSameAsKept(t *testing.T) {
	deploys := t.TempDir()
	rec := func(id, text string, kept bool) string {
		dir := filepath.Join(deploys, id)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, configRecord), []byte(text), 0o600))
		if kept {
			require.NoError(t, os.WriteFile(filepath.Join(dir, imagesRecord), []byte("{}\n"), 0o644))
		}
		return dir
	}
	assert.False(t, sameAsKept(rec("20261202T100000Z-aaaaaa", "A", true)), "the first record")
	assert.True(t, sameAsKept(rec("20261202T110000Z-bbbbbb", "A", true)))
	assert.False(t, sameAsKept(rec("20261202T120000Z-cccccc", "B", true)), "a changed file")
	// A record that was not kept (its deploy failed, or it did not load
	// back) does not count; the newest kept one before it does.
	require.NoError(t, os.WriteFile(filepath.Join(deploys, "20261202T130000Z-dddddd"), nil, 0o644)) // not a folder
	rec("20261202T140000Z-eeeeee", "C", false)
	assert.True(t, sameAsKept(rec("20261202T150000Z-ffffff", "B", true)))
	assert.False(t, sameAsKept(rec("20261202T160000Z-gggggg", "C", true)), "the unkept C is no proof")
	// Only earlier deploys count.
	rec("20261202T180000Z-iiiiii", "D", true)
	assert.False(t, sameAsKept(rec("20261202T170000Z-hhhhhh", "D", true)))
}
