// Package events defines the typed events a deploy emits and the bus that
// fans them out to every output (terminal progress, JSONL log, metrics,
// reports). The scheduler only ever emits events; it never prints.
package events

import (
	"sync"
	"time"
)

// Level is the severity of an event.
type Level string

const (
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// Phase is the part of a deploy an event belongs to.
type Phase string

const (
	PhaseLoad      Phase = "load"
	PhasePreflight Phase = "preflight"
	PhaseLock      Phase = "lock"
	PhaseResources Phase = "resources" // networks and volumes
	PhaseImage     Phase = "image"
	PhaseCreate    Phase = "create"
	PhaseWait      Phase = "wait" // waiting on dependencies
	PhaseStart     Phase = "start"
	PhaseReady     Phase = "ready"
	PhaseValidate  Phase = "validate"
	PhaseDeploy    Phase = "deploy" // the whole deploy
	PhaseDown      Phase = "down"
)

// Kind names what happened. The set is closed: docs/metrics-schema.md lists
// every kind with its attributes.
type Kind string

const (
	DeployStarted   Kind = "deploy_started"  // attrs: project, services, timeout_ms
	DeployFinished  Kind = "deploy_finished" // attrs: outcome (success|degraded|failed|interrupted), error
	ImageReady      Kind = "image_ready"     // attrs: image, built (bool), cached (bool)
	ImageBuilding   Kind = "image_building"  // attrs: image
	NetworkReady    Kind = "network_ready"   // attrs: network, created (bool)
	VolumeReady     Kind = "volume_ready"    // attrs: volume, created (bool)
	ServiceWaiting  Kind = "service_waiting" // attrs: on ([]string)
	ServiceCreating Kind = "service_creating"
	ServiceCreated  Kind = "service_created"  // attrs: container, container_id
	ServiceReused   Kind = "service_reused"   // unchanged and healthy: left alone
	ServiceStarting Kind = "service_starting" // dependencies met, start issued
	ServiceStarted  Kind = "service_started"  // attrs: attempt
	ServiceReady    Kind = "service_ready"    // attrs: signal (probe|engine|running|tcp|exited0), lag_ms
	ServiceFailed   Kind = "service_failed"   // attrs: reason, exit_code, oom, health_output, logs, hint
	ServiceSkipped  Kind = "service_skipped"  // attrs: reason, because ([]string)
	ServiceRetry    Kind = "service_retry"    // attrs: attempt, reason, backoff_ms
	ServiceStats    Kind = "service_stats"    // attrs: cpu_percent, mem_bytes (peaks so far)
	EngineRetry     Kind = "engine_retry"     // attrs: op, attempt, reason, backoff_ms
	Warning         Kind = "warning"          // attrs: message
	Info            Kind = "info"             // attrs: message
)

// Event is one structured record of a deploy. It is what every sink sees and
// what events.jsonl stores, one JSON object per line.
type Event struct {
	Time     time.Time      `json:"ts"`
	Level    Level          `json:"level"`
	DeployID string         `json:"deploy_id"`
	Phase    Phase          `json:"phase"`
	Service  string         `json:"service,omitempty"`
	Kind     Kind           `json:"event"`
	Duration time.Duration  `json:"-"`
	Attrs    map[string]any `json:"attributes,omitempty"`
}

// Sink receives every event. Handle must not block for long: the bus calls
// sinks synchronously, in order, so that every output sees the same sequence.
type Sink interface {
	Handle(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

func (f SinkFunc) Handle(e Event) { f(e) }

// Bus fans events out to sinks. It is safe for concurrent use.
type Bus struct {
	mu       sync.Mutex
	deployID string
	now      func() time.Time
	sinks    []Sink
	redact   func(string) string
}

// NewBus returns a bus that stamps every event with deployID.
func NewBus(deployID string) *Bus {
	return &Bus{deployID: deployID, now: time.Now}
}

// DeployID is the ID stamped on every event.
func (b *Bus) DeployID() string { return b.deployID }

// Subscribe adds a sink.
func (b *Bus) Subscribe(s Sink) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sinks = append(b.sinks, s)
}

// SetRedactor installs a function applied to every string attribute before
// any sink sees it, so no secret can reach an output.
func (b *Bus) SetRedactor(f func(string) string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.redact = f
}

// Emit stamps and publishes an event.
func (b *Bus) Emit(e Event) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	if e.Level == "" {
		e.Level = LevelInfo
	}
	e.DeployID = b.deployID
	if b.redact != nil {
		e.Attrs = redactAttrs(e.Attrs, b.redact)
	}
	for _, s := range b.sinks {
		s.Handle(e)
	}
}

func redactAttrs(m map[string]any, f func(string) string) map[string]any {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = f(x)
		case []string:
			ys := make([]string, len(x))
			for i, s := range x {
				ys[i] = f(s)
			}
			out[k] = ys
		case error:
			out[k] = f(x.Error())
		default:
			out[k] = v
		}
	}
	return out
}
