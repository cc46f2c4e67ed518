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
	PhaseRollback  Phase = "rollback" // replacing containers safely, and rolling back
	PhaseValidate  Phase = "validate"
	PhaseDeploy    Phase = "deploy" // the whole deploy
	PhaseDown      Phase = "down"
)

// Kind names what happened. The set is closed (Kinds); each kind has its own
// attributes struct (NewAttributes), and docs/metrics-schema.md lists them.
type Kind string

const (
	DeployStarted   Kind = "deploy_started"
	DeployFinished  Kind = "deploy_finished"
	ImageReady      Kind = "image_ready"
	ImageBuilding   Kind = "image_building"
	NetworkReady    Kind = "network_ready"
	VolumeReady     Kind = "volume_ready"
	ServiceWaiting  Kind = "service_waiting"
	ServiceCreating Kind = "service_creating"
	ServiceCreated  Kind = "service_created"
	ServiceReused   Kind = "service_reused"   // unchanged and healthy: left alone
	ServiceStarting Kind = "service_starting" // dependencies met, start issued
	ServiceStarted  Kind = "service_started"
	ServiceReady    Kind = "service_ready"
	ServiceFailed   Kind = "service_failed"
	ServiceSkipped  Kind = "service_skipped"
	ServiceRetry    Kind = "service_retry"
	ServiceStats    Kind = "service_stats"
	Replacing       Kind = "replacing"       // a changed service's old container is kept until the new one is ready
	RolledBack      Kind = "rolled_back"     // a service's previous container runs again (or its new one is removed)
	RollbackFailed  Kind = "rollback_failed" // a rollback step failed: the event says what runs now
	EngineRetry     Kind = "engine_retry"
	Warning         Kind = "warning"
	Info            Kind = "info"
)

// Event is one structured record of a deploy. It is what every sink sees and
// what events.jsonl stores, one JSON object per line.
type Event struct {
	Time     time.Time     `json:"ts"`
	Level    Level         `json:"level"`
	DeployID string        `json:"deploy_id"`
	Phase    Phase         `json:"phase"`
	Service  string        `json:"service,omitempty"`
	Kind     Kind          `json:"event"`
	Duration time.Duration `json:"-"`
	// Stack and Engine name the fleet stack and the engine of an event of
	// a fleet deploy (empty for a single stack).
	Stack  string `json:"stack,omitempty"`
	Engine string `json:"engine,omitempty"`
	// Attrs is the kind's typed body; Emit fills Kind from it (and a zero
	// body for a kind given without one).
	Attrs Attributes `json:"attributes,omitempty"`
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

// SetRedactor installs a function applied to every string field of every
// event's attributes (Redact) before any sink sees it, so no secret can
// reach an output.
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
	e = withAttributes(e)
	if b.redact != nil {
		e.Attrs = Redact(e.Attrs, b.redact)
	}
	for _, s := range b.sinks {
		s.Handle(e)
	}
}

// withAttributes makes Kind and Attrs agree: Kind comes from the body, and a
// kind given without a body gets its zero body.
func withAttributes(e Event) Event {
	if e.Attrs != nil {
		e.Kind = e.Attrs.Kind()
		return e
	}
	if a, err := NewAttributes(e.Kind); err == nil {
		e.Attrs = a
	}
	return e
}
