package events

import (
	"fmt"
	"time"
)

// Attributes is the typed, kind-specific body of an event: one struct per
// Kind. docs/metrics-schema.md lists every struct's JSON fields (a test
// checks that the document and these types agree).
type Attributes interface {
	// Kind is the event kind this body belongs to.
	Kind() Kind
}

// Signal says how dive knew that a service was ready. The set is closed.
type Signal string

// The ready signals. SignalReused and SignalCompletedBefore are never on a
// service_ready event: they say why a service_reused container needed no
// start at all.
const (
	SignalProbe           Signal = "probe"            // dive's own exec probe passed
	SignalEngine          Signal = "engine"           // Docker reported the container healthy
	SignalRunning         Signal = "running"          // no healthcheck: running was enough
	SignalTCP             Signal = "tcp"              // the dive.tcp port accepted connections
	SignalExited0         Signal = "exited0"          // one-shot job exited 0
	SignalReused          Signal = "reused"           // unchanged, running and healthy: left alone
	SignalCompletedBefore Signal = "completed-before" // unchanged one-shot job that had exited 0
	SignalReadyBefore     Signal = "ready-before"     // unchanged container an earlier deploy saw ready in its current run
)

// Signals is the documented set of ready signals, in documentation order.
func Signals() []Signal {
	return []Signal{SignalProbe, SignalEngine, SignalRunning, SignalTCP, SignalExited0, SignalReused, SignalCompletedBefore, SignalReadyBefore}
}

// MS is a duration in milliseconds with microsecond precision, the unit of
// every *_ms attribute.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MSPtr is MS for an attribute that is absent when unknown.
func MSPtr(d time.Duration) *float64 {
	v := MS(d)
	return &v
}

// DeployStartedAttrs: the first event of a deploy.
type DeployStartedAttrs struct {
	Project   string   `json:"project"`
	Services  []string `json:"services"`
	TimeoutMS float64  `json:"timeout_ms,omitempty"`
	EngineAPI string   `json:"engine_api,omitempty"`
	Fleet     string   `json:"fleet,omitempty"`  // a fleet deploy: the fleet's name
	Stacks    []string `json:"stacks,omitempty"` // a fleet deploy: its stacks
}

// DeployFinishedAttrs: the last event of a deploy.
type DeployFinishedAttrs struct {
	Outcome string `json:"outcome"` // success | degraded | failed | interrupted
	Error   string `json:"error,omitempty"`
}

// ImageReadyAttrs: an image is present for the deploy.
type ImageReadyAttrs struct {
	Image  string `json:"image"`
	Built  bool   `json:"built"`
	Cached bool   `json:"cached"`
}

// ImageBuildingAttrs: a build started.
type ImageBuildingAttrs struct {
	Image string `json:"image"`
}

// NetworkReadyAttrs: a network exists.
type NetworkReadyAttrs struct {
	Network string `json:"network"`
	Created bool   `json:"created"`
	Note    string `json:"note,omitempty"`
}

// VolumeReadyAttrs: a volume exists.
type VolumeReadyAttrs struct {
	Volume  string `json:"volume"`
	Created bool   `json:"created"`
}

// ServiceWaitingAttrs: the service waits on its dependencies.
type ServiceWaitingAttrs struct {
	Class    string   `json:"class,omitempty"`
	On       []string `json:"on"`
	External bool     `json:"external,omitempty"` // dependencies in other stacks of a fleet
}

// ServiceCreatingAttrs: the container create is issued.
type ServiceCreatingAttrs struct {
	Class string `json:"class,omitempty"`
	// Reason: why it is created or recreated (configuration changed, the
	// old container unhealthy, --force-recreate, a retried start, …).
	Reason string `json:"reason,omitempty"`
}

// ServiceCreatedAttrs: the container exists.
type ServiceCreatedAttrs struct {
	Class       string `json:"class,omitempty"`
	Container   string `json:"container"`
	ContainerID string `json:"container_id"`
}

// Readiness is how a service was seen ready: shared by service_ready and
// service_reused.
type Readiness struct {
	Signal      Signal   `json:"signal"`
	Attempt     int      `json:"attempt,omitempty"`
	Probes      int      `json:"probes,omitempty"`   // dive's exec probes run
	ProbeMS     float64  `json:"probe_ms,omitempty"` // their summed time
	ProbeOutput string   `json:"probe_output,omitempty"`
	LagMS       *float64 `json:"lag_ms,omitempty"` // bound on ready → seen ready
	Port        int      `json:"port,omitempty"`   // the TCP port (signal tcp)
}

// ServiceReusedAttrs: an unchanged container left alone; counts as ready.
type ServiceReusedAttrs struct {
	Class       string `json:"class,omitempty"`
	Container   string `json:"container,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	Note        string `json:"note,omitempty"`
	Readiness
}

// ServiceStartingAttrs: dependencies met, start issued.
type ServiceStartingAttrs struct {
	Class    string  `json:"class,omitempty"`
	Attempt  int     `json:"attempt"`
	QueuedMS float64 `json:"queued_ms,omitempty"` // behind higher-ranked operations
}

// ServiceStartedAttrs: the container runs (one per attempt).
type ServiceStartedAttrs struct {
	Class       string `json:"class,omitempty"`
	Attempt     int    `json:"attempt"`
	ContainerID string `json:"container_id,omitempty"`
}

// ServiceReadyAttrs: the service is ready. Duration = start → ready.
type ServiceReadyAttrs struct {
	Class string `json:"class,omitempty"`
	Readiness
}

// ServiceFailedAttrs: the service failed, with the evidence.
type ServiceFailedAttrs struct {
	Class        string   `json:"class,omitempty"`
	Reason       string   `json:"reason"`
	ExitCode     *int     `json:"exit_code,omitempty"`
	OOM          bool     `json:"oom"`
	State        string   `json:"state,omitempty"`
	HealthOutput []string `json:"health_output,omitempty"` // one entry per check output
	Logs         []string `json:"logs,omitempty"`          // last log lines, one per entry
	Hint         string   `json:"hint,omitempty"`
	AfterReady   bool     `json:"after_ready,omitempty"` // it died after it was reported ready, before the deploy ended
}

// ServiceSkippedAttrs: the service will not be started.
type ServiceSkippedAttrs struct {
	Class   string   `json:"class,omitempty"`
	Reason  string   `json:"reason"`
	Because []string `json:"because,omitempty"`
}

// ServiceRetryAttrs: an attempt failed; the service is started again.
type ServiceRetryAttrs struct {
	Class     string  `json:"class,omitempty"`
	Attempt   int     `json:"attempt"`
	Reason    string  `json:"reason"`
	BackoffMS float64 `json:"backoff_ms"`
}

// ServiceStatsAttrs: resource peaks so far.
type ServiceStatsAttrs struct {
	CPUPercent float64 `json:"cpu_percent"`
	MemBytes   float64 `json:"mem_bytes"`
}

// ReplacingAttrs: a changed service's old container is kept, renamed, until
// the new one is ready and the deploy has ended (docs/rollback.md).
type ReplacingAttrs struct {
	Class       string `json:"class,omitempty"`
	Container   string `json:"container"`    // the old container's name
	ContainerID string `json:"container_id"` // the old container
	KeptAs      string `json:"kept_as"`      // its name while kept
	Mode        string `json:"mode"`         // stopped | side-by-side
	Rule        string `json:"rule"`         // why that mode
}

// RolledBackAttrs: a service is back on its previous configuration: its
// previous container runs again and is ready (action restored), or the
// container this deploy created for a service new in it is removed (action
// removed). Duration = the failure → ready again (restored).
type RolledBackAttrs struct {
	Class          string  `json:"class,omitempty"`
	Scope          string  `json:"scope"`                  // deploy (a core failure: every changed service) | service (an optional/stretch one alone)
	Action         string  `json:"action"`                 // restored | removed | untouched
	Cause          string  `json:"cause"`                  // the failed service that caused the rollback
	ContainerID    string  `json:"container_id,omitempty"` // the restored container (its ID before the deploy)
	Removed        string  `json:"removed,omitempty"`      // the new container removed
	ReadyMS        float64 `json:"ready_ms,omitempty"`     // restored: its start (or rename) → ready
	SinceFailureMS float64 `json:"since_failure_ms,omitempty"`
}

// RollbackFailedAttrs: a rollback step failed; Runs says what the service
// runs now.
type RollbackFailedAttrs struct {
	Class  string `json:"class,omitempty"`
	Scope  string `json:"scope"`
	Cause  string `json:"cause"`
	Reason string `json:"reason"`
	Runs   string `json:"runs"`
}

// EngineRetryAttrs: an Engine API call is retried.
type EngineRetryAttrs struct {
	Op        string  `json:"op"`
	Attempt   int     `json:"attempt"`
	Reason    string  `json:"reason"`
	BackoffMS float64 `json:"backoff_ms,omitempty"`
}

// Note is the body of warning and info events: a message, and for the
// events of validate and preflight, the check it reports (check … fix) or
// the summary of all checks (verdict … failed).
type Note struct {
	Message  string `json:"message"`
	Check    string `json:"check,omitempty"`
	Status   string `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Class    string `json:"class,omitempty"`
	Fix      string `json:"fix,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
	Checks   int    `json:"checks,omitempty"`
	Passed   int    `json:"passed,omitempty"`
	Warnings int    `json:"warnings,omitempty"`
	Failed   int    `json:"failed,omitempty"`
}

// WarningAttrs: something the user should know; the deploy goes on.
type WarningAttrs struct{ Note }

// InfoAttrs: something worth recording.
type InfoAttrs struct{ Note }

func (DeployStartedAttrs) Kind() Kind   { return DeployStarted }
func (DeployFinishedAttrs) Kind() Kind  { return DeployFinished }
func (ImageReadyAttrs) Kind() Kind      { return ImageReady }
func (ImageBuildingAttrs) Kind() Kind   { return ImageBuilding }
func (NetworkReadyAttrs) Kind() Kind    { return NetworkReady }
func (VolumeReadyAttrs) Kind() Kind     { return VolumeReady }
func (ServiceWaitingAttrs) Kind() Kind  { return ServiceWaiting }
func (ServiceCreatingAttrs) Kind() Kind { return ServiceCreating }
func (ServiceCreatedAttrs) Kind() Kind  { return ServiceCreated }
func (ServiceReusedAttrs) Kind() Kind   { return ServiceReused }
func (ServiceStartingAttrs) Kind() Kind { return ServiceStarting }
func (ServiceStartedAttrs) Kind() Kind  { return ServiceStarted }
func (ServiceReadyAttrs) Kind() Kind    { return ServiceReady }
func (ServiceFailedAttrs) Kind() Kind   { return ServiceFailed }
func (ServiceSkippedAttrs) Kind() Kind  { return ServiceSkipped }
func (ServiceRetryAttrs) Kind() Kind    { return ServiceRetry }
func (ServiceStatsAttrs) Kind() Kind    { return ServiceStats }
func (EngineRetryAttrs) Kind() Kind     { return EngineRetry }
func (ReplacingAttrs) Kind() Kind       { return Replacing }
func (RolledBackAttrs) Kind() Kind      { return RolledBack }
func (RollbackFailedAttrs) Kind() Kind  { return RollbackFailed }
func (WarningAttrs) Kind() Kind         { return Warning }
func (InfoAttrs) Kind() Kind            { return Info }

// Kinds is the closed set of kinds, in documentation order.
func Kinds() []Kind {
	return []Kind{DeployStarted, DeployFinished, ImageReady, ImageBuilding, NetworkReady, VolumeReady,
		ServiceWaiting, ServiceCreating, ServiceCreated, ServiceReused, ServiceStarting, ServiceStarted,
		ServiceReady, ServiceFailed, ServiceSkipped, ServiceRetry, ServiceStats, Replacing, RolledBack, RollbackFailed,
		EngineRetry, Warning, Info}
}

// NewAttributes returns the zero body of a kind, or an error naming the
// kind when it is not one of Kinds.
func NewAttributes(k Kind) (Attributes, error) {
	switch k {
	case DeployStarted:
		return DeployStartedAttrs{}, nil
	case DeployFinished:
		return DeployFinishedAttrs{}, nil
	case ImageReady:
		return ImageReadyAttrs{}, nil
	case ImageBuilding:
		return ImageBuildingAttrs{}, nil
	case NetworkReady:
		return NetworkReadyAttrs{}, nil
	case VolumeReady:
		return VolumeReadyAttrs{}, nil
	case ServiceWaiting:
		return ServiceWaitingAttrs{}, nil
	case ServiceCreating:
		return ServiceCreatingAttrs{}, nil
	case ServiceCreated:
		return ServiceCreatedAttrs{}, nil
	case ServiceReused:
		return ServiceReusedAttrs{}, nil
	case ServiceStarting:
		return ServiceStartingAttrs{}, nil
	case ServiceStarted:
		return ServiceStartedAttrs{}, nil
	case ServiceReady:
		return ServiceReadyAttrs{}, nil
	case ServiceFailed:
		return ServiceFailedAttrs{}, nil
	case ServiceSkipped:
		return ServiceSkippedAttrs{}, nil
	case ServiceRetry:
		return ServiceRetryAttrs{}, nil
	case ServiceStats:
		return ServiceStatsAttrs{}, nil
	case Replacing:
		return ReplacingAttrs{}, nil
	case RolledBack:
		return RolledBackAttrs{}, nil
	case RollbackFailed:
		return RollbackFailedAttrs{}, nil
	case EngineRetry:
		return EngineRetryAttrs{}, nil
	case Warning:
		return WarningAttrs{}, nil
	case Info:
		return InfoAttrs{}, nil
	}
	return nil, fmt.Errorf("unknown event kind %q (known: %v)", k, Kinds())
}

// NoteOf is the Note of a warning or info event.
func NoteOf(a Attributes) (Note, bool) {
	switch x := a.(type) {
	case WarningAttrs:
		return x.Note, true
	case InfoAttrs:
		return x.Note, true
	}
	return Note{}, false
}
