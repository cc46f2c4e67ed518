package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dive-hub/dive/internal/events"
)

// Values shaped like the hub's .env.hub and service environments.
var (
	hubEnvFile = map[string]string{
		"POSTGRES_PASSWORD":        "pg-S3cr3t!x",
		"MONGO_PASSWORD":           `mo"ngo\pa<ss>&`,
		"KEYCLOAK_CLIENT_SECRET":   "kc-client-4f1b2c",
		"AUTH_SECRET":              "a/b+c==base64ish",
		"REDIS_PASSWORD":           "redispw",
		"BLACKLIST_REDIS_PASSWORD": "redispw-blacklist", // contains the one above
		"ENABLE_FEATURE":           "true",
		"REPLICAS":                 "1",
		"HTTP_PORT":                "8443",
		"CERT_DIR":                 "/opt/dive/certs",
		"EMPTY":                    "",
	}
	hubEnv = map[string]string{
		"KEYCLOAK_ADMIN_PASSWORD": "kc-admin-9x8y7z",
		"API_KEY":                 "ak_live_0123456789",
		"PRIVATE_KEY":             "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----",
		"DATABASE_TOKEN_URL":      "postgres://dive:url-pass-77@postgres:5432/dive",
		"KEYCLOAK_URL":            "https://keycloak:8443", // "key" starts another word: not a secret
		"KEYCLOAK_REALM":          "dive-v3-broker",
		"SSL_KEY_FILE":            "/certs/key.pem", // path: never a secret
		"TLS_KEY":                 "certs/server-key.pem",
		"GITHUB_TOKEN":            "no",
		"SHORT_SECRET":            "abc",
		"NODE_ENV":                "production",
		"PATH":                    "/usr/local/bin:/usr/bin",
	}
)

func TestSecretsFromEnv(t *testing.T) {
	got := SecretsFromEnv(hubEnv, hubEnvFile)
	want := []string{
		// env files: every non-trivial value
		"pg-S3cr3t!x", `mo"ngo\pa<ss>&`, "kc-client-4f1b2c", "a/b+c==base64ish", "redispw", "redispw-blacklist",
		// env: sensitive names only
		"kc-admin-9x8y7z", "ak_live_0123456789", hubEnv["PRIVATE_KEY"], "url-pass-77",
	}
	assert.ElementsMatch(t, want, got)
	for i := 1; i < len(got); i++ {
		assert.GreaterOrEqual(t, len(got[i-1]), len(got[i]), "longest first")
	}
	for _, not := range []string{"true", "1", "8443", "/opt/dive/certs", "https://keycloak:8443", "dive-v3-broker", "/certs/key.pem", "certs/server-key.pem", "no", "abc", "production"} {
		assert.NotContains(t, got, not)
	}
}

func TestIsSensitiveName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"POSTGRES_PASSWORD", true}, {"db_passwd", true}, {"AUTH_SECRET", true}, {"GITHUB_TOKEN", true},
		{"API_KEY", true}, {"apikey", true}, {"AWS_ACCESS_KEY_ID", true}, {"SIGNING_KEYS", true}, {"MASTERKEY", true},
		{"GOOGLE_APPLICATION_CREDENTIALS", true}, {"PRIVATE_PEM", true}, {"key", true},
		{"KEYCLOAK_URL", false}, {"KEYCLOAK_REALM", false}, {"NODE_ENV", false}, {"PORT", false}, {"MONKEY_BUSINESS", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, IsSensitiveName(tc.name)) })
	}
}

func TestRedactString(t *testing.T) {
	secrets := SecretsFromEnv(hubEnv, hubEnvFile)
	r := New(secrets)
	tests := []struct{ name, in, want string }{
		{"whole", "pg-S3cr3t!x", "****"},
		{"inside a longer string", "FATAL: password=pg-S3cr3t!x; user=keycloak", "FATAL: password=****; user=keycloak"},
		{"twice, glued", "kc-admin-9x8y7zkc-admin-9x8y7z", "********"},
		{"longest first", "redis: redispw-blacklist and redispw", "redis: **** and ****"},
		{"in a URL", "connect postgres://dive:url-pass-77@postgres:5432/dive", "connect postgres://dive:****@postgres:5432/dive"},
		{"not a secret", "KEYCLOAK_URL=https://keycloak:8443 realm dive-v3-broker", "KEYCLOAK_URL=https://keycloak:8443 realm dive-v3-broker"},
		{"a line of a PEM key", "key line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "key line: ****"},
		{"short and empty", "ab", "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, r.String(tc.in)) })
	}
	// Every secret, wherever it appears, is gone.
	for _, s := range secrets {
		out := r.String("before " + s + " after")
		assert.NotContains(t, out, s)
		assert.Equal(t, "before **** after", out)
	}
}

func TestRedactJSON(t *testing.T) {
	secrets := SecretsFromEnv(hubEnv, hubEnvFile)
	r := New(secrets)
	for _, html := range []bool{false, true} {
		for _, s := range secrets {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			require.NoError(t, enc.Encode(map[string]any{"msg": "auth with " + s, "nested": []string{s}}))
			out := r.String(buf.String())
			assert.NotContains(t, out, s)
			// The JSON-escaped form is gone too, and the result is still JSON.
			esc, _ := json.Marshal(s)
			assert.NotContains(t, out, string(esc[1:len(esc)-1]))
			var back map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &back), out)
			assert.Equal(t, "auth with ****", back["msg"])
		}
	}
	// URL-encoded.
	for _, s := range secrets {
		assert.NotContains(t, r.String("q="+url.QueryEscape(s)), url.QueryEscape(s))
	}
	assert.Equal(t, []byte("x **** y"), r.Bytes([]byte("x pg-S3cr3t!x y")))
	in := []byte("nothing here")
	assert.Same(t, &in[0], &r.Bytes(in)[0], "unchanged input is returned as is")
}

// An events.jsonl written through a bus with the redactor holds no secret.
func TestRedactEventsJSONL(t *testing.T) {
	secrets := SecretsFromEnv(hubEnv, hubEnvFile)
	r := New(secrets)
	var buf bytes.Buffer
	bus := events.NewBus("d1")
	bus.SetRedactor(r.String)
	bus.Subscribe(events.NewJSONLSink(&buf))
	bus.Emit(events.Event{Service: "keycloak", Attrs: events.ServiceFailedAttrs{
		Reason:       "bad password pg-S3cr3t!x",
		Logs:         []string{"line1", "MONGO_PASSWORD=" + `mo"ngo\pa<ss>&`},
		HealthOutput: []string{fmt.Sprintf("redis-cli -a %s ping: NOAUTH", "redispw-blacklist")},
		Hint:         "kc-admin-9x8y7z",
	}})
	out := buf.String()
	for _, s := range secrets {
		assert.NotContains(t, out, s)
		esc, _ := json.Marshal(s)
		assert.NotContains(t, out, string(esc[1:len(esc)-1]))
	}
	assert.Contains(t, out, "bad password ****")
}

func TestRedactWriter(t *testing.T) {
	r := New([]string{"hunter2-secret", "tok-123456"})
	var out bytes.Buffer
	w := r.Writer(&out)
	// A secret split across writes is still caught, because lines are
	// redacted whole.
	for _, chunk := range []string{"login hun", "ter2-sec", "ret ok\nsecond tok-12", "3456 line\nno newline at end tok-", "123456"} {
		n, err := io.WriteString(w, chunk)
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, "login **** ok\nsecond **** line\n", out.String())
	require.NoError(t, w.(*LineWriter).Close())
	assert.Equal(t, "login **** ok\nsecond **** line\nno newline at end ****", out.String())

	// A very long line without a newline is written out at a separator.
	out.Reset()
	w = r.Writer(&out)
	long := strings.Repeat("x", MaxLine) + " hunter2-secret " + strings.Repeat("y", 10)
	_, err := io.WriteString(w, long)
	require.NoError(t, err)
	require.NoError(t, w.(*LineWriter).Flush())
	assert.NotContains(t, out.String(), "hunter2-secret")
	assert.Equal(t, len(long)-len("hunter2-secret")+len(Mask), out.Len())
}

func TestRedactWriterConcurrent(t *testing.T) {
	r := New([]string{"s3cret-value"})
	var out bytes.Buffer
	w := r.Writer(&out)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(w, "goroutine %d line %d s3cret-value\n", i, j)
			}
		}()
	}
	wg.Wait()
	assert.NotContains(t, out.String(), "s3cret")
	assert.Equal(t, 800, strings.Count(out.String(), "****\n"))
}

func TestRedactNilAndEmpty(t *testing.T) {
	var nilR *Redactor
	assert.Equal(t, "pw=secret", nilR.String("pw=secret"))
	assert.Equal(t, 0, nilR.Len())
	empty := New([]string{"", "ab", "abc"})
	assert.Equal(t, 0, empty.Len())
	assert.Equal(t, "abc abcd", empty.String("abc abcd"))
	var out bytes.Buffer
	w := empty.Writer(&out)
	_, _ = io.WriteString(w, "plain\n")
	assert.Equal(t, "plain\n", out.String())
}

func BenchmarkRedactString(b *testing.B) {
	r := New(SecretsFromEnv(hubEnv, hubEnvFile))
	line := strings.Repeat("2026-11-29T13:23:56Z INFO keycloak started in 13.3s, listening on 8443 ", 4) + "pg-S3cr3t!x\n"
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = r.String(line)
	}
}

// URLs carry credentials whatever their variable is called: userinfo
// passwords, tokens as user names, token-like query parameters, and the
// path of a webhook.
func TestURLCredentials(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":      "postgres://app:db-pass-123@db:5432/app",
		"ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T0001/B0002/abcdefghijklmnop",
		"NOTIFY_URL":        "https://notify.example.com/send?channel=ops&token=tok-4242-xyz&access_token=at-9999-q",
		"SIGNED_URL":        "https://bucket.example.com/obj?X-Amz-Signature=sig0123456789&sig=s1g-abcdef",
		"GIT_URL":           "https://ghp_0123456789abcdefghij@github.com/org/repo.git",
		"KEYCLOAK_URL":      "https://keycloak:8443/realms/dive", // no credentials: nothing to mask
		"USER_URL":          "https://alice@example.com/",        // a plain user name is not a secret
	}
	got := SecretsFromEnv(env, nil)
	for _, want := range []string{"db-pass-123", "/services/T0001/B0002/abcdefghijklmnop", "tok-4242-xyz", "at-9999-q", "sig0123456789", "s1g-abcdef", "ghp_0123456789abcdefghij"} {
		assert.Contains(t, got, want)
	}
	for _, not := range []string{"https://keycloak:8443/realms/dive", "alice", "ops", "hooks.example.com"} {
		assert.NotContains(t, got, not)
	}
	r := New(got)
	line := "POST " + env["NOTIFY_URL"] + " failed; db " + env["DATABASE_URL"]
	masked := r.String(line)
	assert.NotContains(t, masked, "tok-4242-xyz")
	assert.NotContains(t, masked, "db-pass-123")
	assert.Contains(t, masked, "notify.example.com")
}
