// Package redact masks secret values (passwords, tokens, keys from the
// environment and env files) in everything dive writes: events, logs,
// reports, terminal output.
//
// A Redactor is built once per deploy from the secret values and is safe for
// concurrent use. It replaces every occurrence of every secret, also inside
// longer strings, and also the forms a secret takes once escaped into JSON or
// a URL.
package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask replaces every secret.
const Mask = "****"

// MinLen is the shortest value treated as a secret: masking shorter values
// would mangle ordinary text and reveal nothing worth hiding.
const MinLen = 4

// Redactor replaces secret values with Mask.
type Redactor struct {
	secrets []string // longest first, with their escaped forms
	rep     *strings.Replacer
}

// New builds a Redactor for the given secret values. Values shorter than
// MinLen are ignored. Besides each value it also masks the value as it
// appears escaped inside JSON and URLs, and, for a multi-line value (a PEM
// key), each of its lines, so that line-wise output is covered too.
func New(secrets []string) *Redactor {
	set := map[string]bool{}
	add := func(s string) {
		if len(s) >= MinLen {
			set[s] = true
		}
	}
	for _, s := range secrets {
		if len(s) < MinLen {
			continue
		}
		add(s)
		for _, v := range escapedForms(s) {
			add(v)
		}
		if strings.ContainsAny(s, "\r\n") {
			for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if line = strings.TrimSpace(line); len(line) >= 8 {
					add(line)
				}
			}
		}
	}
	r := &Redactor{}
	for s := range set {
		r.secrets = append(r.secrets, s)
	}
	// Longest first: strings.Replacer tries the old strings in argument
	// order at each position, so a secret that contains another is replaced
	// whole. Ties sort alphabetically to keep the order deterministic.
	sort.Slice(r.secrets, func(i, j int) bool {
		if len(r.secrets[i]) != len(r.secrets[j]) {
			return len(r.secrets[i]) > len(r.secrets[j])
		}
		return r.secrets[i] < r.secrets[j]
	})
	if len(r.secrets) > 0 {
		pairs := make([]string, 0, 2*len(r.secrets))
		for _, s := range r.secrets {
			pairs = append(pairs, s, Mask)
		}
		r.rep = strings.NewReplacer(pairs...)
	}
	return r
}

// escapedForms are the other spellings of s that can reach an output: inside
// a JSON string (with and without HTML escaping), and URL-encoded.
func escapedForms(s string) []string {
	var out []string
	var buf bytes.Buffer
	for _, html := range []bool{false, true} {
		buf.Reset()
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			j := strings.TrimSuffix(buf.String(), "\n")
			if j = j[1 : len(j)-1]; j != s {
				out = append(out, j)
			}
		}
	}
	for _, e := range []string{url.QueryEscape(s), url.PathEscape(s)} {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

// Len is how many strings (secrets and their escaped forms) are masked.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	return len(r.secrets)
}

// String returns s with every secret replaced by Mask. A nil Redactor
// returns s unchanged. Its method value fits events.Bus.SetRedactor.
func (r *Redactor) String(s string) string {
	if r == nil || r.rep == nil || len(s) < MinLen {
		return s
	}
	return r.rep.Replace(s)
}

// Bytes returns b with every secret replaced by Mask. It returns b itself
// when nothing was replaced.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || r.rep == nil || len(b) < MinLen {
		return b
	}
	s := string(b)
	out := r.rep.Replace(s)
	if out == s {
		return b
	}
	return []byte(out)
}

// MaxLine is how much of a line without a newline the Writer buffers before
// writing it out anyway.
const MaxLine = 64 << 10

// Writer returns a writer that redacts whole lines before passing them to
// w, so that a secret split across two Write calls is still caught. It is
// safe for concurrent use. The returned value is a *LineWriter: call its
// Flush (or Close) at the end to write a last line that has no newline.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &LineWriter{r: r, w: w}
}

// LineWriter redacts line by line; see Redactor.Writer.
type LineWriter struct {
	mu  sync.Mutex
	r   *Redactor
	w   io.Writer
	buf []byte
	err error
}

// Write buffers p and writes out every complete line, redacted. It always
// consumes all of p; a write error of the underlying writer is returned, and
// then returned again by every later call.
func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return 0, lw.err
	}
	lw.buf = append(lw.buf, p...)
	cut := bytes.LastIndexByte(lw.buf, '\n') + 1
	if cut == 0 && len(lw.buf) > MaxLine {
		// A very long line: write it up to its last separator, where a
		// secret is unlikely to be split, or all of it.
		cut = bytes.LastIndexAny(lw.buf, " \t,;\"'") + 1
		if cut == 0 {
			cut = len(lw.buf)
		}
	}
	if cut > 0 {
		lw.writeOut(cut)
	}
	return len(p), lw.err
}

func (lw *LineWriter) writeOut(n int) {
	out := lw.r.Bytes(lw.buf[:n])
	if _, err := lw.w.Write(out); err != nil {
		lw.err = err
	}
	rest := copy(lw.buf, lw.buf[n:])
	lw.buf = lw.buf[:rest]
	if cap(lw.buf) > 4*MaxLine && rest < MaxLine {
		lw.buf = append([]byte(nil), lw.buf...)
	}
}

// Flush writes out a buffered partial line.
func (lw *LineWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err == nil && len(lw.buf) > 0 {
		lw.writeOut(len(lw.buf))
	}
	return lw.err
}

// Close flushes. It does not close the underlying writer.
func (lw *LineWriter) Close() error { return lw.Flush() }

// isWebhookName says the variable holds a webhook URL, whose path or query
// is the credential (anyone who knows it can post).
func isWebhookName(name string) bool {
	return strings.Contains(strings.ToUpper(name), "WEBHOOK")
}

// sensitiveName matches variable names whose values are secrets.
var sensitiveName = regexp.MustCompile(`(?i)password|passwd|secret|token|credential|apikey|api_key|private`)

// keyToken matches a name part that is a key: KEY, API_KEY, ACCESSKEY,
// MASTER_KEYS; but not KEYCLOAK_URL, whose "key" starts another word.
var keyToken = regexp.MustCompile(`(?i)^[a-z0-9]*keys?$`)

// IsSensitiveName reports whether a variable of this name holds a secret:
// its name contains password, passwd, secret, token, credential, apikey or
// private, or one of its parts (split at _ - .) is or ends in "key".
func IsSensitiveName(name string) bool {
	if sensitiveName.MatchString(name) {
		return true
	}
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		if keyToken.MatchString(part) {
			return true
		}
	}
	return false
}

var (
	trivial     = map[string]bool{"": true, "true": true, "false": true, "0": true, "1": true, "yes": true, "no": true, "on": true, "off": true, "null": true, "none": true, "nil": true}
	winPath     = regexp.MustCompile(`^[A-Za-z]:[\\/]`)
	relPath     = regexp.MustCompile(`^[\w.-]+(/[\w.-]+)+/?$`)
	number      = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)
	hasScheme   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	pathishTail = regexp.MustCompile(`\.[A-Za-z0-9]+/?$|/$`)
)

// isPathLike reports whether v looks like a file path (absolute, home- or
// dot-relative, a Windows path, or a relative path ending in a file name
// with an extension), which is never a secret itself.
func isPathLike(v string) bool {
	switch {
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "../"), strings.HasPrefix(v, "~/"):
		return !strings.ContainsAny(v, " \t")
	case winPath.MatchString(v):
		return true
	case relPath.MatchString(v) && pathishTail.MatchString(v):
		// base64 never contains a dot, so "ab/cd+ef==" is not a path.
		return true
	}
	return false
}

// candidates turns one value into the secrets it holds: none for trivial,
// short and path-like values; for a URL, the password in it (the rest of a
// URL is not secret); else the value itself.
func candidates(v string, sensitive bool) []string {
	t := strings.TrimSpace(v)
	if trivial[strings.ToLower(t)] || len(t) < MinLen || isPathLike(t) {
		return nil
	}
	if hasScheme.MatchString(t) {
		u, err := url.Parse(t)
		if err != nil {
			if sensitive {
				return []string{t}
			}
			return nil
		}
		return URLCredentials(u, sensitive)
	}
	if !sensitive && number.MatchString(t) {
		// Ports, counts and timeouts in env files are configuration.
		return nil
	}
	out := []string{t}
	if t != v && len(v) >= MinLen {
		out = append(out, v)
	}
	return out
}

// sensitiveParam matches query parameters that carry credentials besides
// those IsSensitiveName catches (token, secret, key, password, ...).
var sensitiveParam = regexp.MustCompile(`(?i)^(sig|signature|auth|authorization|session|sessionid|jwt|code|pass|pwd|x-amz-signature|x-amz-credential|x-goog-signature)$`)

// URLCredentials returns the credentials a URL carries: the password of its
// userinfo (user:pass@), a bare userinfo that is not a plain user name
// (a token used as the user, https://TOKEN@host), and the values of query
// parameters that carry credentials (token=, access_token=, key=, sig=,
// ...). When whole is set (the variable's name says the URL itself is a
// secret, e.g. a webhook whose path is its token), the path and query are
// a secret too. The scheme, host and port are never secrets.
func URLCredentials(u *url.URL, whole bool) []string {
	var out []string
	add := func(v string) {
		if len(v) >= MinLen && !trivial[strings.ToLower(v)] {
			out = append(out, v)
		}
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		} else if name := u.User.Username(); len(name) >= 16 {
			add(name) // a token as the user name
		}
	}
	for k, vs := range u.Query() {
		if IsSensitiveName(k) || sensitiveParam.MatchString(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	if whole {
		rest := u.EscapedPath()
		if u.RawQuery != "" {
			rest += "?" + u.RawQuery
		}
		if len(strings.Trim(rest, "/")) >= 8 {
			add(rest)
		}
	}
	return out
}

// urlSecrets is URLCredentials for a value that may not be a URL.
func urlSecrets(v string, whole bool) []string {
	t := strings.TrimSpace(v)
	if !hasScheme.MatchString(t) {
		return nil
	}
	u, err := url.Parse(t)
	if err != nil {
		return nil
	}
	return URLCredentials(u, whole)
}

// SecretsFromEnv collects the secret values to mask: every value from the
// env files (envFileValues, name → value), the values in env whose
// variable name looks sensitive (see IsSensitiveName), and the credentials
// in any URL of env whatever its variable's name (see URLCredentials; for a
// *WEBHOOK* variable its path and query too). Trivial values ("",
// true, false, 0, 1, yes, no, on, off, null, none), values shorter than
// MinLen, path-like values and URLs without credentials are skipped; of a
// URL with credentials, only those are kept. Numbers in env files count
// only under a sensitive name. The result is deduplicated, longest first.
func SecretsFromEnv(env map[string]string, envFileValues map[string]string) []string {
	set := map[string]bool{}
	for name, v := range envFileValues {
		for _, s := range candidates(v, IsSensitiveName(name)) {
			set[s] = true
		}
	}
	for name, v := range env {
		if !IsSensitiveName(name) {
			// Any variable may hold a URL with credentials in it
			// (DATABASE_URL, ALERT_WEBHOOK_URL): those are secrets whatever
			// the name.
			for _, s := range urlSecrets(v, isWebhookName(name)) {
				set[s] = true
			}
			continue
		}
		for _, s := range candidates(v, true) {
			set[s] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}
