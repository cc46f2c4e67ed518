package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFiles writes name → content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
}

// serviceSecretsCompose has secrets the interpolation environment does not
// hold: one from the service's own env_file, one written in its
// environment:, one from an env_file that environment: overrides, and the
// value that overrides it (from the OS environment under a plain name).
const serviceSecretsCompose = `
name: secfix-unit
services:
  leak:
    image: app:1
    env_file: [svc2.env]
    environment:
      STANDIN_NAME: "PwSvcEnvFile6612/LitPw5521"
      API_PASSWORD: "LitPw5521"
  other:
    image: app:1
    env_file: [other.env]
    environment:
      DB_PASSWORD: ${DBPW}
`

var serviceSecrets = []string{"PwSvcEnvFile6612", "LitPw5521", "OverriddenPw771", "FromEnviron9931"}

func loadServiceSecrets(t *testing.T) *stack.Stack {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"c2.yml":    serviceSecretsCompose,
		"svc2.env":  "KEYCLOAK_ADMIN_PASSWORD=PwSvcEnvFile6612\nLOG_LEVEL=debug-verbose\n",
		"other.env": "DB_PASSWORD=OverriddenPw771\nGREETING=hello-world\n",
	})
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{filepath.Join(dir, "c2.yml")},
		Environ: []string{"DBPW=FromEnviron9931"}, Env: map[string]string{}})
	require.NoError(t, err)
	return st
}

// Secrets that only a service's env_file or its environment: hold are
// masked in every output: the deploy's redactor (stdout, events.jsonl and
// everything computed from it) and hub logs' use the same set.
func TestServiceSecretsMasked(t *testing.T) {
	st := loadServiceSecrets(t)
	assert.Equal(t, map[string]string{"KEYCLOAK_ADMIN_PASSWORD": "PwSvcEnvFile6612", "LOG_LEVEL": "debug-verbose"}, st.ServiceEnvFiles["leak"])
	assert.Equal(t, map[string]string{"DB_PASSWORD": "OverriddenPw771", "GREETING": "hello-world"}, st.ServiceEnvFiles["other"])

	r := newRedactor(st)
	line := "standin PwSvcEnvFile6612/LitPw5521: CRASH (db FromEnviron9931, was OverriddenPw771) level debug-verbose, hello-world"
	const masked = "standin ****/****: CRASH (db ****, was ****) level debug-verbose, hello-world"
	assert.Equal(t, masked, r.String(line), "plain settings of an env_file stay readable")
	var stdout bytes.Buffer
	w := r.Writer(&stdout)
	_, _ = w.Write([]byte(line + "\n"))
	assert.Equal(t, masked+"\n", stdout.String())
	assert.Equal(t, masked, logsRedactor(context.Background(), nil, &loaded{st: st}, nil).String(line), "hub logs masks the same")

	// events.jsonl and the records computed from it.
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	bus := events.NewBus("d1")
	bus.SetRedactor(r.String)
	bus.Subscribe(events.NewJSONLSink(f))
	bus.Emit(events.Event{Phase: events.PhaseStart, Service: "leak", Attrs: events.ServiceFailedAttrs{Class: "core",
		Reason: "exited with code 1", Logs: []string{line}, Hint: "check PwSvcEnvFile6612"}})
	require.NoError(t, f.Close())
	testutil.RoundTrip(t, dir, report.Deploy{ID: "d1", Project: st.Project.Name,
		Services: []report.ServiceInfo{{Name: "leak", Class: "core"}, {Name: "other", Class: "core"}}})
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5, "events.jsonl, metrics.json, report.md/json/html")
	for _, fe := range files {
		b, err := os.ReadFile(filepath.Join(dir, fe.Name()))
		require.NoError(t, err)
		for _, s := range serviceSecrets {
			assert.False(t, strings.Contains(string(b), s), "%s holds %s", fe.Name(), s)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	assert.Contains(t, string(b), "****/****")
}

// A secret a service's env_file gives it is left to that env_file in the
// config record: the record holds no secret, loads back the same, and a
// rollback reads the env_file of its day. A secret written in the compose
// file itself cannot be left anywhere: the record is not kept.
func TestConfigRecordServiceSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"c.yml": `
name: secfix-unit
services:
  app:
    image: app:1
    env_file: [svc.env]
    environment:
      STANDIN_MODE: serve
`,
		"svc.env": "KEYCLOAK_ADMIN_PASSWORD=PwSvcEnvFile6612\nLOG_LEVEL=debug\nDATABASE_URL=postgres://u:UrlPw4242@db/x\n",
	})
	load := func(file string) *stack.Stack {
		st, err := stack.Load(context.Background(), stack.Options{Files: []string{file}, Env: map[string]string{}})
		require.NoError(t, err)
		return st
	}
	st := load(filepath.Join(dir, "c.yml"))
	res := &deploy.Result{Outcome: deploy.Success, Services: map[string]*deploy.ServiceResult{"app": {Name: "app", ImageID: "sha256:app"}}}
	rec := t.TempDir()
	require.NoError(t, writeConfigRecord(rec, st, res, recordRedactor(st).String))
	b, err := os.ReadFile(filepath.Join(rec, configRecord))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "PwSvcEnvFile6612")
	assert.NotContains(t, string(b), "UrlPw4242")
	assert.Contains(t, string(b), filepath.Join(dir, "svc.env"), "the env_file stays")
	assert.Contains(t, string(b), "LOG_LEVEL: debug", "plain settings stay as deployed")
	assert.Equal(t, "PwSvcEnvFile6612", *st.Services["app"].Config.Environment["KEYCLOAK_ADMIN_PASSWORD"], "the deployed stack is not changed")

	require.NoError(t, checkConfigRecord(context.Background(), rec, st, nil))
	again := load(filepath.Join(rec, configRecord))
	assert.Equal(t, engine.ConfigHash(st.Services["app"].Config, ""), engine.ConfigHash(again.Services["app"].Config, ""))
	assert.Equal(t, "PwSvcEnvFile6612", *again.Services["app"].Config.Environment["KEYCLOAK_ADMIN_PASSWORD"])

	// Rotated in the env_file: a rollback gets today's password.
	writeFiles(t, dir, map[string]string{"svc.env": "KEYCLOAK_ADMIN_PASSWORD=Rotated5150\nLOG_LEVEL=debug\nDATABASE_URL=postgres://u:UrlPw4242@db/x\n"})
	again = load(filepath.Join(rec, configRecord))
	assert.Equal(t, "Rotated5150", *again.Services["app"].Config.Environment["KEYCLOAK_ADMIN_PASSWORD"])

	// A literal password in the compose file: refused.
	st = loadServiceSecrets(t)
	rec = t.TempDir()
	err = writeConfigRecord(rec, st, &deploy.Result{Outcome: deploy.Success, Services: map[string]*deploy.ServiceResult{}}, recordRedactor(st).String)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "it is not kept")
	_, statErr := os.Stat(filepath.Join(rec, configRecord))
	assert.True(t, os.IsNotExist(statErr), "no record written")
}

// dive hub plan masks what the compose file interpolates from a secret.
func TestPlanMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"c.yml": `
name: secfix-unit
services:
  app:
    image: app:1
    labels: {dive.service.description: "uses ${API_TOKEN}"}
`})
	t.Setenv("API_TOKEN", "TokValue88123")
	for _, args := range [][]string{{"--json"}, nil} {
		var out, errb bytes.Buffer
		root := newRoot(&out, &errb)
		root.SetArgs(append([]string{"hub", "plan", "-f", filepath.Join(dir, "c.yml"), "--state-dir", t.TempDir()}, args...))
		require.NoError(t, root.ExecuteContext(context.Background()), errb.String())
		assert.NotContains(t, out.String(), "TokValue88123", args)
		assert.NotEmpty(t, out.String())
		if len(args) > 0 {
			assert.True(t, strings.Contains(out.String(), `"description": "uses ****"`), out.String())
		}
	}
}

// A password that is a service's or the project's name is public already:
// masking it would erase that name from every event, metric and report.
func TestSecretThatIsANameStaysReadable(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"c.yml": `
name: namesake
services:
  postgres:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: postgres, POSTGRES_USER: postgres}
  backend:
    image: app:1
    environment: {DB_PASSWORD: namesake, API_TOKEN: Tok-real-8812}
`})
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{filepath.Join(dir, "c.yml")}, Env: map[string]string{}})
	require.NoError(t, err)
	r := newRedactor(st)
	assert.Equal(t, "namesake-postgres-1 waits on postgres (service_healthy); token ****", r.String("namesake-postgres-1 waits on postgres (service_healthy); token Tok-real-8812"))
}
