package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// SchemaVersion is the version of the events.jsonl line layout written by
// this dive: 1. Version 0 is the layout before the field existed (no
// schema_version; attributes as built by the scheduler: the probe's lag as
// lag_bound_ms, health outputs and logs sometimes as one newline-joined
// string); the reader upgrades it. A newer version is refused.
const SchemaVersion = 1

// Record is the on-disk form of an Event: one line of events.jsonl.
// Every field but service and attributes is always present.
type Record struct {
	SchemaVersion int             `json:"schema_version"`
	TS            string          `json:"ts"` // RFC 3339 with nanoseconds, UTC
	Level         Level           `json:"level"`
	DeployID      string          `json:"deploy_id"`
	Phase         Phase           `json:"phase"`
	Service       string          `json:"service,omitempty"`
	Stack         string          `json:"stack,omitempty"`
	Engine        string          `json:"engine,omitempty"`
	Event         Kind            `json:"event"`
	DurationMS    float64         `json:"duration_ms"`
	Attributes    json.RawMessage `json:"attributes,omitempty"`
}

// ToRecord converts an event to its on-disk form.
func ToRecord(e Event) (Record, error) {
	e = withAttributes(e)
	r := Record{
		SchemaVersion: SchemaVersion,
		TS:            e.Time.UTC().Format(time.RFC3339Nano),
		Level:         e.Level,
		DeployID:      e.DeployID,
		Phase:         e.Phase,
		Service:       e.Service,
		Stack:         e.Stack,
		Engine:        e.Engine,
		Event:         e.Kind,
		DurationMS:    MS(e.Duration),
	}
	if e.Attrs != nil {
		b, err := json.Marshal(e.Attrs)
		if err != nil {
			return r, fmt.Errorf("encode %s attributes: %w", e.Kind, err)
		}
		r.Attributes = b
	}
	return r, nil
}

// FromRecord converts a line of events.jsonl back to an Event, upgrading a
// version-0 line and refusing a version newer than SchemaVersion.
func FromRecord(r Record) (Event, error) {
	if r.SchemaVersion > SchemaVersion {
		return Event{}, fmt.Errorf("schema_version %d is newer than this dive reads (%d): read these records with a newer dive", r.SchemaVersion, SchemaVersion)
	}
	if r.SchemaVersion < 0 {
		return Event{}, fmt.Errorf("schema_version %d is not a version", r.SchemaVersion)
	}
	t, err := time.Parse(time.RFC3339Nano, r.TS)
	if err != nil {
		return Event{}, fmt.Errorf("ts: %w", err)
	}
	body, err := NewAttributes(r.Event)
	if err != nil {
		return Event{}, err
	}
	raw := r.Attributes
	if r.SchemaVersion == 0 {
		if raw, err = upgradeV0(r.Event, raw); err != nil {
			return Event{}, err
		}
	}
	if body, err = decodeAttributes(body, raw); err != nil {
		return Event{}, fmt.Errorf("%s attributes: %w", r.Event, err)
	}
	return Event{
		Time: t, Level: r.Level, DeployID: r.DeployID, Phase: r.Phase, Service: r.Service, Stack: r.Stack, Engine: r.Engine,
		Kind: r.Event, Duration: time.Duration(r.DurationMS * float64(time.Millisecond)), Attrs: body,
	}, nil
}

// JSONLSink writes every event as one JSON line. A line is written with one
// Write call; after the first failed write (a full disk) the sink writes
// nothing more, so the file holds whole lines then at most one cut line, and
// Err reports the failure.
type JSONLSink struct {
	mu    sync.Mutex
	w     io.Writer
	err   error
	lines int
}

// NewJSONLSink writes to w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	return &JSONLSink{w: w}
}

// Handle implements Sink.
func (s *JSONLSink) Handle(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	line, err := encodeLine(e)
	if err == nil {
		_, err = s.w.Write(line)
	}
	if err != nil {
		s.err = fmt.Errorf("events.jsonl line %d (%s): %w", s.lines+1, e.Kind, err)
		return
	}
	s.lines++
}

// Err is the first write failure, or nil when every event was written.
func (s *JSONLSink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func encodeLine(e Event) ([]byte, error) {
	r, err := ToRecord(e)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrTruncated marks an events.jsonl whose last line is cut: the writer
// stopped mid-line (a full disk, a kill during the write).
var ErrTruncated = errors.New("the last line is cut short")

// ReadJSONL parses an events.jsonl stream. On an error it returns the events
// read so far and an error naming the line; a cut last line wraps
// ErrTruncated.
func ReadJSONL(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var out []Event
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return out, fmt.Errorf("events.jsonl line %d: %w", n, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, err := parseLine(line)
			if err != nil {
				if rerr != nil && !json.Valid(line) { // no newline: the writer stopped mid-line
					return out, fmt.Errorf("events.jsonl line %d: %w (%w)", n, ErrTruncated, err)
				}
				return out, fmt.Errorf("events.jsonl line %d: %w", n, err)
			}
			out = append(out, e)
		}
		if rerr != nil {
			return out, nil
		}
	}
}

func parseLine(line []byte) (Event, error) {
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return Event{}, err
	}
	return FromRecord(rec)
}
