package events

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Record is the on-disk form of an Event: one line of events.jsonl.
// Every field but service and attributes is always present.
type Record struct {
	TS         string         `json:"ts"` // RFC 3339 with nanoseconds, UTC
	Level      Level          `json:"level"`
	DeployID   string         `json:"deploy_id"`
	Phase      Phase          `json:"phase"`
	Service    string         `json:"service,omitempty"`
	Event      Kind           `json:"event"`
	DurationMS float64        `json:"duration_ms"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// ToRecord converts an event to its on-disk form.
func ToRecord(e Event) Record {
	return Record{
		TS:         e.Time.UTC().Format(time.RFC3339Nano),
		Level:      e.Level,
		DeployID:   e.DeployID,
		Phase:      e.Phase,
		Service:    e.Service,
		Event:      e.Kind,
		DurationMS: float64(e.Duration.Microseconds()) / 1000,
		Attributes: e.Attrs,
	}
}

// FromRecord converts a line of events.jsonl back to an Event.
func FromRecord(r Record) (Event, error) {
	t, err := time.Parse(time.RFC3339Nano, r.TS)
	if err != nil {
		return Event{}, err
	}
	return Event{
		Time: t, Level: r.Level, DeployID: r.DeployID, Phase: r.Phase, Service: r.Service,
		Kind: r.Event, Duration: time.Duration(r.DurationMS * float64(time.Millisecond)), Attrs: r.Attributes,
	}, nil
}

// JSONLSink writes every event as one JSON line.
type JSONLSink struct {
	mu  sync.Mutex
	w   io.Writer
	enc *json.Encoder
}

// NewJSONLSink writes to w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLSink{w: w, enc: enc}
}

// Handle implements Sink.
func (s *JSONLSink) Handle(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.enc.Encode(ToRecord(e))
}

// ReadJSONL parses an events.jsonl stream.
func ReadJSONL(r io.Reader) ([]Event, error) {
	dec := json.NewDecoder(r)
	var out []Event
	for {
		var rec Record
		if err := dec.Decode(&rec); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, err
		}
		e, err := FromRecord(rec)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}
