package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonFields lists the JSON names of a struct type's fields, embedded
// structs flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// TestSchemaDocMatchesTypes checks the kinds table of docs/metrics-schema.md
// against the attribute structs, and the documented signal set against
// Signals.
func TestSchemaDocMatchesTypes(t *testing.T) {
	b, err := os.ReadFile("../../docs/metrics-schema.md")
	require.NoError(t, err)
	doc := string(b)
	row := regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\| ((?:`[a-z_0-9]+`(?:, )?)*) \\|")
	name := regexp.MustCompile("`([a-z_0-9-]+)`")
	documented := map[Kind][]string{}
	for _, m := range row.FindAllStringSubmatch(doc[strings.Index(doc, "## Events"):], -1) {
		var fields []string
		for _, f := range name.FindAllStringSubmatch(m[2], -1) {
			fields = append(fields, f[1])
		}
		documented[Kind(m[1])] = fields
	}
	for _, k := range Kinds() {
		a, err := NewAttributes(k)
		require.NoError(t, err)
		assert.Equal(t, k, a.Kind())
		want := jsonFields(reflect.TypeOf(a))
		got, ok := documented[k]
		if !assert.True(t, ok, "docs/metrics-schema.md has no row for kind %s", k) {
			continue
		}
		sort.Strings(want)
		sort.Strings(got)
		assert.Equal(t, want, got, "attributes of %s: docs/metrics-schema.md vs %T", k, a)
		delete(documented, k)
	}
	assert.Empty(t, documented, "kinds documented but not in events.Kinds()")

	line := regexp.MustCompile("(?m)^Ready signals \\(`events.Signal`, closed set\\): (.*)$").FindStringSubmatch(doc)
	require.NotNil(t, line, "the ready signals line is missing from docs/metrics-schema.md")
	var sigs []Signal
	for _, m := range name.FindAllStringSubmatch(line[1], -1) {
		sigs = append(sigs, Signal(m[1]))
	}
	assert.Equal(t, Signals(), sigs)
	assert.Contains(t, doc, "Line layout version **1**")
	assert.Equal(t, 1, SchemaVersion, "update the documented line layout version")
}

// filled returns a's kind with every field set to a non-zero value; every
// string (and list entry) holds secret.
func filled(a Attributes, secret string) Attributes {
	v := reflect.New(reflect.TypeOf(a)).Elem()
	fill(v, secret)
	out, _ := v.Interface().(Attributes)
	return out
}

func fill(v reflect.Value, secret string) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == stringType:
			f.SetString("before " + secret + " after")
		case f.Type() == stringsType:
			f.Set(reflect.ValueOf([]string{"line one " + secret, "line two", secret}))
		case f.Type() == reflect.TypeFor[Signal]():
			f.SetString(string(SignalProbe))
		case f.Kind() == reflect.Struct:
			fill(f, secret)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Int:
			f.SetInt(7)
		case f.Kind() == reflect.Float64:
			f.SetFloat(12.5)
		case f.Kind() == reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			switch p.Elem().Kind() {
			case reflect.Int:
				p.Elem().SetInt(3)
			case reflect.Float64:
				p.Elem().SetFloat(4.25)
			}
			f.Set(p)
		default:
			panic("fill: no value for " + f.Type().String())
		}
	}
}

// TestRedactEveryStringField emits every kind with a secret in every string
// field and checks that no sink sees it.
func TestRedactEveryStringField(t *testing.T) {
	const secret = "s3cr3t-Tok3n"
	bus := NewBus("d1")
	bus.SetRedactor(func(s string) string { return strings.ReplaceAll(s, secret, "****") })
	var buf bytes.Buffer
	var seen []Event
	bus.Subscribe(NewJSONLSink(&buf))
	bus.Subscribe(SinkFunc(func(e Event) { seen = append(seen, e) }))
	for _, k := range Kinds() {
		zero, err := NewAttributes(k)
		require.NoError(t, err)
		a := filled(zero, secret)
		before, _ := json.Marshal(a)
		hasText := strings.Contains(string(before), secret)
		bus.Emit(Event{Service: "svc", Attrs: a})
		after, _ := json.Marshal(a)
		assert.Equal(t, string(before), string(after), "Emit must not change the caller's attributes (%s)", k)
		got, _ := json.Marshal(seen[len(seen)-1].Attrs)
		assert.NotContains(t, string(got), secret, "%s", k)
		if hasText {
			assert.Contains(t, string(got), "****", "%s", k)
		}
	}
	require.Len(t, seen, len(Kinds()))
	assert.NotContains(t, buf.String(), secret)
}

// TestJSONLRoundTrip writes every kind, fully filled, and reads it back
// unchanged, typed.
func TestJSONLRoundTrip(t *testing.T) {
	bus := NewBus("d1")
	var buf bytes.Buffer
	sink := NewJSONLSink(&buf)
	bus.Subscribe(sink)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	var want []Event
	for i, k := range Kinds() {
		zero, _ := NewAttributes(k)
		e := Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Level: LevelWarn, Phase: PhaseStart, Service: "svc",
			Duration: 1500 * time.Microsecond, Attrs: filled(zero, "x")}
		bus.Emit(e)
		e.DeployID, e.Kind = "d1", k
		want = append(want, e)
	}
	require.NoError(t, sink.Err())
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		assert.True(t, strings.HasPrefix(l, `{"schema_version":1,`), l)
	}
	got, err := ReadJSONL(&buf)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		assert.True(t, want[i].Time.Equal(got[i].Time))
		got[i].Time = want[i].Time
		assert.Equal(t, want[i], got[i])
	}
}

// TestReadV0 upgrades lines written before schema_version existed.
func TestReadV0(t *testing.T) {
	in := `{"ts":"2026-11-29T13:23:56Z","level":"info","deploy_id":"d","phase":"ready","service":"db","event":"service_ready","duration_ms":1200,"attributes":{"signal":"probe","lag_bound_ms":38,"attempt":1,"class":"core","probes":3,"probe_ms":12}}
{"ts":"2026-11-29T13:23:57Z","level":"error","deploy_id":"d","phase":"ready","service":"kc","event":"service_failed","duration_ms":0,"attributes":{"reason":"boom","exit_code":137,"oom":true,"health_output":["out 1","out 2"],"logs":"a\nb\n"}}
{"ts":"2026-11-29T13:23:58Z","level":"info","deploy_id":"d","phase":"deploy","event":"deploy_finished","duration_ms":2000,"attributes":{"outcome":"failed","error":"kc failed"}}
`
	evs, err := ReadJSONL(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, evs, 3)
	ready := evs[0].Attrs.(ServiceReadyAttrs)
	require.NotNil(t, ready.LagMS)
	assert.Equal(t, 38.0, *ready.LagMS)
	assert.Equal(t, SignalProbe, ready.Signal)
	failed := evs[1].Attrs.(ServiceFailedAttrs)
	assert.Equal(t, []string{"out 1", "out 2"}, failed.HealthOutput)
	assert.Equal(t, []string{"a", "b"}, failed.Logs)
	assert.Equal(t, 137, *failed.ExitCode)
	assert.Equal(t, "failed", evs[2].Attrs.(DeployFinishedAttrs).Outcome)
}

func TestReadRefusesNewerVersion(t *testing.T) {
	in := `{"schema_version":1,"ts":"2026-11-29T13:23:56Z","level":"info","deploy_id":"d","phase":"deploy","event":"deploy_started","duration_ms":0,"attributes":{"project":"p","services":["a"]}}
{"schema_version":2,"ts":"2026-11-29T13:23:57Z","level":"info","deploy_id":"d","phase":"deploy","event":"deploy_finished","duration_ms":0}
`
	evs, err := ReadJSONL(strings.NewReader(in))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2: schema_version 2 is newer than this dive reads (1)")
	assert.Len(t, evs, 1)
}

func TestReadUnknownKind(t *testing.T) {
	_, err := ReadJSONL(strings.NewReader(`{"schema_version":1,"ts":"2026-11-29T13:23:56Z","level":"info","deploy_id":"d","phase":"deploy","event":"exploded","duration_ms":0}` + "\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown event kind "exploded"`)
}

func TestReadTruncated(t *testing.T) {
	var buf bytes.Buffer
	bus := NewBus("d")
	bus.Subscribe(NewJSONLSink(&buf))
	bus.Emit(Event{Attrs: DeployStartedAttrs{Project: "p"}})
	bus.Emit(Event{Service: "a", Attrs: ServiceFailedAttrs{Reason: "x", Logs: []string{"l1", "l2"}}})
	cut := buf.Bytes()[:buf.Len()-20]
	evs, err := ReadJSONL(bytes.NewReader(cut))
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrTruncated), "%v", err)
	assert.Contains(t, err.Error(), "line 2")
	assert.Len(t, evs, 1)
}

// failWriter fails every write after the first n bytes, writing what fits:
// a full disk.
type failWriter struct {
	buf bytes.Buffer
	n   int
}

func (w *failWriter) Write(p []byte) (int, error) {
	room := w.n - w.buf.Len()
	if room >= len(p) {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:max(room, 0)])
	return max(room, 0), errors.New("no space left on device")
}

func TestJSONLSinkReportsWriteFailure(t *testing.T) {
	w := &failWriter{n: 300}
	sink := NewJSONLSink(w)
	bus := NewBus("d")
	bus.Subscribe(sink)
	for range 10 {
		bus.Emit(Event{Service: "a", Attrs: WarningAttrs{Note: Note{Message: strings.Repeat("m", 60)}}})
	}
	err := sink.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no space left on device")
	evs, rerr := ReadJSONL(bytes.NewReader(w.buf.Bytes()))
	assert.True(t, errors.Is(rerr, ErrTruncated), "%v", rerr)
	assert.NotEmpty(t, evs)
}
