// Package deploy is the scheduler: one goroutine per service, each waiting
// on its own dependencies' signals, a state machine per service, deadlines
// from one context tree, retries and fail-fast diagnosis. It never prints:
// everything it does is an event on the bus.
package deploy

import (
	"context"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/moby/moby/api/types/container"
)

// Engine is the part of the Docker engine the scheduler needs; *engine.Engine
// implements it, and unit tests use a fake.
type Engine interface {
	APIVersion() string
	// Image inspects a local image (ID "" when missing): its healthcheck and VOLUME paths too.
	Image(ctx context.Context, ref string) (engine.Image, error)
	Build(ctx context.Context, b engine.BuildSpec, progress func(string)) error
	Pull(ctx context.Context, ref string) error
	EnsureNetwork(ctx context.Context, n engine.NetworkSpec) (bool, error)
	EnsureVolume(ctx context.Context, v engine.VolumeSpec) (bool, error)
	ListContainers(ctx context.Context, project string) ([]engine.Container, error)
	Create(ctx context.Context, s *engine.ContainerSpec) (string, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string, volumes bool) error
	Rename(ctx context.Context, id, name string) error
	Inspect(ctx context.Context, id string) (container.InspectResponse, error)
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (engine.ExecResult, error)
	Logs(ctx context.Context, id string, tail int) ([]string, error)
	Watch(ctx context.Context, project string) (<-chan engine.Event, <-chan error)
	StatsStream(ctx context.Context, id string, each func(engine.Stats)) error
	// ContainerPidHere: the pid the engine reported for container id is
	// that container's process on this host (the TCP check reads
	// /proc/<pid>/net/tcp).
	ContainerPidHere(id string, pid int) bool
}

var _ Engine = (*engine.Engine)(nil)

// Outcome of a deploy.
type Outcome string

const (
	Success     Outcome = "success"     // every service ready
	Degraded    Outcome = "degraded"    // every core service ready; some optional/stretch not
	Failed      Outcome = "failed"      // a core service failed
	Interrupted Outcome = "interrupted" // Ctrl-C / SIGTERM
)

// State of one service at the end of a deploy.
type State string

const (
	StateReady     State = "ready"
	StateReused    State = "reused"    // unchanged and healthy: left alone
	StateFailed    State = "failed"    //
	StateSkipped   State = "skipped"   // a dependency failed, or the breaker is open
	StatePending   State = "pending"   // optional/stretch still starting when the core was ready
	StateCancelled State = "cancelled" // the deploy stopped (core failure or interrupt) first
)

// Diagnosis is the evidence for a failed service.
type Diagnosis struct {
	Service       string   `json:"service"`
	Class         string   `json:"class"`
	Reason        string   `json:"reason"`
	State         string   `json:"state,omitempty"`
	ExitCode      *int     `json:"exit_code,omitempty"`
	OOMKilled     bool     `json:"oom_killed"`
	RestartCount  int      `json:"restart_count,omitempty"`
	HealthOutputs []string `json:"health_outputs,omitempty"`
	Logs          []string `json:"logs,omitempty"`
	Hint          string   `json:"hint,omitempty"`

	memLimit int64 // the container's memory limit, for inferring an OOM kill
}

// ServiceResult is one service's outcome.
type ServiceResult struct {
	Name         string        `json:"name"`
	Class        string        `json:"class"`
	State        State         `json:"state"`
	Reason       string        `json:"reason,omitempty"`
	Signal       events.Signal `json:"signal,omitempty"`
	Attempts     int           `json:"attempts"`
	ContainerID  string        `json:"container_id,omitempty"`
	Container    string        `json:"container,omitempty"`
	ImageID      string        `json:"image_id,omitempty"` // the image the service's container runs
	StartedAt    time.Time     `json:"started_at,omitzero"`
	ReadyAt      time.Time     `json:"ready_at,omitzero"`
	StartToReady time.Duration `json:"start_to_ready_ns,omitempty"`
	Diagnosis    *Diagnosis    `json:"diagnosis,omitempty"`
	// Kept: the mode its previous container was kept in (keep.go), when
	// this deploy replaced a running container.
	Kept string `json:"kept,omitempty"`
	// Rollback: what the rollback did to this service.
	Rollback *ServiceRollback `json:"rollback,omitempty"`
}

// Result of a deploy.
type Result struct {
	Outcome  Outcome                   `json:"outcome"`
	Duration time.Duration             `json:"duration_ns"`
	Services map[string]*ServiceResult `json:"services"`
	Err      error                     `json:"-"`
	// Rollback: the rollback that followed a core failure.
	Rollback *Rollback `json:"rollback,omitempty"`
}
