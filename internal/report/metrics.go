// Package report turns the event stream of one deploy into metrics
// (metrics.json), human reports (Markdown, HTML with an SVG timeline), a
// machine report (report.json), a Prometheus textfile and OTLP traces, and
// summarises the deploy history of a project.
//
// Everything here is computed from events alone, plus what the caller knows
// of the plan (classes and dependencies, see Deploy). docs/metrics-schema.md
// documents every field.
package report

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/events"
)

// SchemaVersion is the version of the metrics.json layout. It changes only
// when a field is renamed or removed or changes meaning.
const SchemaVersion = 1

// Deploy outcomes (the deploy_finished outcome attribute, plus Incomplete
// when no deploy_finished event was seen).
const (
	DeploySuccess     = "success"
	DeployDegraded    = "degraded"
	DeployFailed      = "failed"
	DeployInterrupted = "interrupted"
	DeployIncomplete  = "incomplete"
)

// Service outcomes.
const (
	OutcomeReady   = "ready"   // service_ready seen last
	OutcomeReused  = "reused"  // left alone: unchanged and healthy
	OutcomeFailed  = "failed"  // service_failed seen last
	OutcomeSkipped = "skipped" // never started (a dependency failed, or not selected)
	OutcomePending = "pending" // no final event: the deploy ended first
)

// ServiceInfo is what the caller knows of one planned service.
type ServiceInfo struct {
	Name      string
	Class     string // core|optional|stretch
	DependsOn []string
}

// Deploy is what the caller knows of the deploy besides its events.
type Deploy struct {
	ID       string
	Project  string
	Services []ServiceInfo
	// CriticalPath is the planned critical path (from the graph), if known.
	// It is reported next to the path observed in the events.
	CriticalPath []string
	// RecordsError says why the deploy's records are incomplete (events.jsonl
	// could not be written), if they are.
	RecordsError string
}

// Metrics is the content of metrics.json.
type Metrics struct {
	SchemaVersion int       `json:"schema_version"`
	DeployID      string    `json:"deploy_id"`
	Project       string    `json:"project"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	DurationMS    float64   `json:"duration_ms"`
	TimeoutMS     float64   `json:"timeout_ms,omitempty"`
	Outcome       string    `json:"outcome"`
	Error         string    `json:"error,omitempty"`
	// RecordsError says what of the deploy's records is missing or cut.
	RecordsError  string    `json:"records_error,omitempty"`
	Phases        []Phase   `json:"phases"`
	Images        []Image   `json:"images"`
	Services      []Service `json:"services"`
	Totals        Totals    `json:"totals"`
	CriticalPath  Path      `json:"critical_path"`
	PlannedPath   []string  `json:"planned_critical_path,omitempty"`
	Warnings      []Note    `json:"warnings"`
	EngineRetries []Retry   `json:"engine_retries,omitempty"`
	// RolledBack: "complete" or "incomplete" after a core failure rolled
	// the deploy back (RollbackCause: the failed service), "services" when
	// only optional/stretch services were rolled back alone; "" otherwise.
	RolledBack    string `json:"rolled_back,omitempty"`
	RollbackCause string `json:"rollback_cause,omitempty"`
}

// Phase is the time spent in one phase of the deploy. Services run
// concurrently, so WallMS (time during which at least one service was in the
// phase) is usually much less than SumMS (the sum over services).
type Phase struct {
	Phase         string  `json:"phase"`
	Count         int     `json:"count"`
	FirstOffsetMS float64 `json:"first_offset_ms"`
	LastOffsetMS  float64 `json:"last_offset_ms"`
	WallMS        float64 `json:"wall_ms"`
	SumMS         float64 `json:"sum_ms"`
}

// Image is one image made ready for the deploy.
type Image struct {
	Image         string     `json:"image"`
	Services      []string   `json:"services,omitempty"`
	Built         bool       `json:"built"`
	Cached        bool       `json:"cached"`
	DurationMS    float64    `json:"duration_ms"`
	ReadyOffsetMS *float64   `json:"ready_offset_ms,omitempty"`
	ReadyAt       *time.Time `json:"ready_at,omitempty"`
}

// Service is the record of one service in one deploy. Offsets are in
// milliseconds from the deploy start; a missing field means the event did
// not happen.
type Service struct {
	Name      string   `json:"name"`
	Class     string   `json:"class"`
	DependsOn []string `json:"depends_on,omitempty"`
	Outcome   string   `json:"outcome"`
	Container string   `json:"container,omitempty"`

	Image              string     `json:"image,omitempty"`
	ImageBuilt         bool       `json:"image_built,omitempty"`
	ImageReadyOffsetMS *float64   `json:"image_ready_offset_ms,omitempty"`
	ImageReadyAt       *time.Time `json:"image_ready_at,omitempty"`

	CreatingOffsetMS *float64   `json:"creating_offset_ms,omitempty"`
	CreatingAt       *time.Time `json:"creating_at,omitempty"`
	CreatedOffsetMS  *float64   `json:"created_offset_ms,omitempty"`
	CreatedAt        *time.Time `json:"created_at,omitempty"`

	WaitingOffsetMS *float64   `json:"waiting_offset_ms,omitempty"`
	WaitingAt       *time.Time `json:"waiting_at,omitempty"`
	WaitingOn       []string   `json:"waiting_on,omitempty"`

	StartIssuedOffsetMS *float64   `json:"start_issued_offset_ms,omitempty"`
	StartIssuedAt       *time.Time `json:"start_issued_at,omitempty"`
	StartedOffsetMS     *float64   `json:"started_offset_ms,omitempty"`
	StartedAt           *time.Time `json:"started_at,omitempty"`

	ReadyOffsetMS   *float64   `json:"ready_offset_ms,omitempty"`
	ReadyAt         *time.Time `json:"ready_at,omitempty"`
	ReusedOffsetMS  *float64   `json:"reused_offset_ms,omitempty"`
	ReusedAt        *time.Time `json:"reused_at,omitempty"`
	FailedOffsetMS  *float64   `json:"failed_offset_ms,omitempty"`
	FailedAt        *time.Time `json:"failed_at,omitempty"`
	SkippedOffsetMS *float64   `json:"skipped_offset_ms,omitempty"`
	SkippedAt       *time.Time `json:"skipped_at,omitempty"`

	CreateMS      *float64 `json:"create_ms,omitempty"`
	WaitMS        *float64 `json:"wait_ms,omitempty"`
	TimeToReadyMS *float64 `json:"time_to_ready_ms,omitempty"`
	TimeToFailMS  *float64 `json:"time_to_fail_ms,omitempty"`

	ReadySignal    string   `json:"ready_signal,omitempty"`
	DetectionLagMS *float64 `json:"detection_lag_ms,omitempty"`

	Attempts int     `json:"attempts"`
	Retries  []Retry `json:"retries,omitempty"`

	FailureReason string `json:"failure_reason,omitempty"`
	ExitCode      *int   `json:"exit_code,omitempty"`
	OOMKilled     bool   `json:"oom_killed,omitempty"`
	HealthOutput  string `json:"health_output,omitempty"`
	LogsTail      string `json:"logs_tail,omitempty"`
	Hint          string `json:"hint,omitempty"`

	SkipReason  string   `json:"skip_reason,omitempty"`
	SkipBecause []string `json:"skip_because,omitempty"`

	CPUPeakPercent *float64 `json:"cpu_peak_percent,omitempty"`
	MemPeakBytes   *float64 `json:"mem_peak_bytes,omitempty"`

	Warnings int `json:"warnings,omitempty"`

	// Replaced: this deploy kept its previous container (KeptContainer)
	// while the new one started, in this mode (stopped | side-by-side).
	Replaced      string `json:"replaced,omitempty"`
	KeptContainer string `json:"kept_container,omitempty"`
	// RolledBack: restored | removed | failed (rollback_failed), with the
	// restored container's start → ready, the cause's failure → ready, when
	// it was ready again, and, on failure, what it runs now.
	RolledBack             string   `json:"rolled_back,omitempty"`
	RollbackReadyMS        *float64 `json:"rollback_ready_ms,omitempty"`
	RollbackSinceFailureMS *float64 `json:"rollback_since_failure_ms,omitempty"`
	RolledBackOffsetMS     *float64 `json:"rolled_back_offset_ms,omitempty"`
	RollbackRuns           string   `json:"rollback_runs,omitempty"`
}

// Retry is one service_retry or engine_retry event.
type Retry struct {
	OffsetMS  float64 `json:"offset_ms"`
	Attempt   int     `json:"attempt,omitempty"`
	Op        string  `json:"op,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	BackoffMS float64 `json:"backoff_ms,omitempty"`
}

// Note is one warning.
type Note struct {
	OffsetMS float64   `json:"offset_ms"`
	At       time.Time `json:"at"`
	Level    string    `json:"level"`
	Service  string    `json:"service,omitempty"`
	Message  string    `json:"message"`
}

// Totals counts services by outcome and a few other things.
type Totals struct {
	Services      int `json:"services"`
	Ready         int `json:"ready"`
	Reused        int `json:"reused"`
	Failed        int `json:"failed"`
	Skipped       int `json:"skipped"`
	Pending       int `json:"pending"`
	CoreNotUp     int `json:"core_not_up"`
	Attempts      int `json:"attempts"`
	Retries       int `json:"retries"`
	EngineRetries int `json:"engine_retries"`
	Warnings      int `json:"warnings"`
	Images        int `json:"images"`
	ImagesBuilt   int `json:"images_built"`
}

// Path is the critical path observed in the events: starting from the core
// service that became ready last, walk back through the dependency that
// became ready last, until a service without dependencies.
type Path struct {
	Services []string `json:"services"`
	Links    []Link   `json:"links"`
	// LengthMS runs from the first link's start issued to the last link's ready.
	LengthMS float64 `json:"length_ms"`
	// LeadInMS runs from the deploy start to the first link's start issued
	// (images, resources, create).
	LeadInMS float64 `json:"lead_in_ms"`
	// EndOffsetMS is when the last link became ready.
	EndOffsetMS float64 `json:"end_offset_ms"`
	// BootMS is the sum of the links' start-issued-to-ready times: the part
	// of LengthMS spent inside the services.
	BootMS float64 `json:"boot_ms"`
	// HandoffMS is the sum of the links' handoff times: the part of LengthMS
	// spent between a dependency being ready and dive starting the next link.
	HandoffMS float64 `json:"handoff_ms"`
}

// Link is one service on the critical path.
type Link struct {
	Service             string  `json:"service"`
	Class               string  `json:"class"`
	Outcome             string  `json:"outcome"`
	StartIssuedOffsetMS float64 `json:"start_issued_offset_ms"`
	ReadyOffsetMS       float64 `json:"ready_offset_ms"`
	WaitMS              float64 `json:"wait_ms"`
	TimeToReadyMS       float64 `json:"time_to_ready_ms"`
	// HandoffMS is this link's start issued minus the previous link's ready
	// (0 for the first link; negative when the dependency condition did not
	// require readiness, e.g. service_started).
	HandoffMS float64 `json:"handoff_ms"`
	// DetectionLagMS is how long after the service was ready dive saw it.
	DetectionLagMS *float64 `json:"detection_lag_ms,omitempty"`
}

// Up reports whether the service ended up running and usable.
func (s Service) Up() bool { return s.Outcome == OutcomeReady || s.Outcome == OutcomeReused }

// readyOffset is when the service became usable: ready, or reused.
func (s Service) readyOffset() (float64, bool) {
	if s.ReadyOffsetMS != nil {
		return *s.ReadyOffsetMS, true
	}
	if s.ReusedOffsetMS != nil {
		return *s.ReusedOffsetMS, true
	}
	return 0, false
}

// Service returns the named service's metrics.
func (m Metrics) Service(name string) (Service, bool) {
	for _, s := range m.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Succeeded reports whether the deploy left the core of the stack up.
func (m Metrics) Succeeded() bool {
	return m.Outcome == DeploySuccess || m.Outcome == DeployDegraded
}

func msOf(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func fptr(f float64) *float64 { return &f }

func tptr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

type interval struct{ from, to time.Time }

// svcAcc accumulates one service's events.
type svcAcc struct {
	s                                    *Service
	creating, created, waiting, starting time.Time
	started, ready, reused, failed       time.Time
	skipped, imageBuilding, imageReady   time.Time
	readyDur, failDur                    time.Duration
	terminal                             string
	terminalAt                           time.Time
}

// readiness records how the service was seen ready (service_ready or
// service_reused).
func (a *svcAcc) readiness(r events.Readiness) {
	a.s.ReadySignal = string(r.Signal)
	if r.LagMS != nil {
		a.s.DetectionLagMS = fptr(*r.LagMS)
	}
}

func (a *svcAcc) setTerminal(outcome string, t time.Time) {
	if a.terminal == "" || !t.Before(a.terminalAt) {
		a.terminal, a.terminalAt = outcome, t
	}
}

// Compute derives the metrics of one deploy from its events. Events may come
// from the bus or from events.jsonl (attributes decoded by encoding/json);
// their order does not matter. Events of another deploy ID are ignored.
func Compute(d Deploy, evs []events.Event) Metrics {
	evs = sortedEvents(d.ID, evs)
	m := newMetrics(d)
	b := scanDeployBounds(&m, evs)
	if len(evs) == 0 {
		if t, ok := StartFromID(m.DeployID); ok {
			m.StartedAt, m.FinishedAt = t, t
		}
		m.Outcome = DeployIncomplete
		m.CriticalPath = Path{Services: []string{}, Links: []Link{}}
		return m
	}
	start, endT := settleTiming(&m, evs, b)

	c := newComputeAcc(&m, d, start, endT, b.announced)
	for _, e := range evs {
		c.event(e)
	}
	for _, name := range c.order {
		c.finishService(c.accs[name])
	}
	c.collectImages()
	m.Phases = phaseTotals(c.phaseIv, start)
	m.Totals = totals(m)
	m.CriticalPath = criticalPath(m.Services)
	return m
}

// newMetrics is the empty Metrics of deploy d, before any event.
func newMetrics(d Deploy) Metrics {
	return Metrics{
		SchemaVersion: SchemaVersion,
		DeployID:      d.ID,
		Project:       d.Project,
		PlannedPath:   append([]string(nil), d.CriticalPath...),
		Phases:        []Phase{},
		Images:        []Image{},
		Services:      []Service{},
		Warnings:      []Note{},
		RecordsError:  d.RecordsError,
	}
}

// deployBounds is what deploy_started and deploy_finished say.
type deployBounds struct {
	start, end  time.Time
	finished    bool
	finishedDur time.Duration
	announced   []string
}

// scanDeployBounds reads the deploy ID, the start and the finish of the
// deploy from evs, filling what it finds into m.
func scanDeployBounds(m *Metrics, evs []events.Event) deployBounds {
	var b deployBounds
	for _, e := range evs {
		if m.DeployID == "" && e.DeployID != "" {
			m.DeployID = e.DeployID
		}
		switch at := e.Attrs.(type) {
		case events.DeployStartedAttrs:
			if b.start.IsZero() {
				b.start = e.Time
				if at.Project != "" && m.Project == "" {
					m.Project = at.Project
				}
				b.announced = at.Services
				if at.TimeoutMS != 0 {
					m.TimeoutMS = at.TimeoutMS
				}
			}
		case events.DeployFinishedAttrs:
			b.finished = true
			b.end = e.Time
			b.finishedDur = e.Duration
			m.Outcome = at.Outcome
			m.Error = at.Error
		}
	}
	return b
}

// settleTiming sets the outcome, start, finish and duration of m from the
// bounds b of the (non-empty) evs, and returns the start and the end that
// still-running phases are cut at.
func settleTiming(m *Metrics, evs []events.Event, b deployBounds) (start, endT time.Time) {
	start, end := b.start, b.end
	if start.IsZero() {
		start = evs[0].Time
	}
	if !b.finished {
		end = evs[len(evs)-1].Time
		m.Outcome = DeployIncomplete
	} else if m.Outcome == "" {
		m.Outcome = DeployIncomplete
	}
	m.StartedAt = start.UTC()
	m.FinishedAt = end.UTC()
	if b.finished && b.finishedDur > 0 {
		m.DurationMS = msOf(b.finishedDur)
	} else {
		m.DurationMS = msOf(end.Sub(start))
	}
	endT = start.Add(time.Duration(m.DurationMS * float64(time.Millisecond)))
	if end.After(endT) {
		endT = end
	}
	return start, endT
}

// computeAcc accumulates the events of one deploy into its Metrics.
type computeAcc struct {
	m          *Metrics
	start      time.Time
	endT       time.Time
	accs       map[string]*svcAcc
	order      []string
	info       map[string]ServiceInfo
	images     map[string]*Image
	imageOrder []string
	imageStart map[string]time.Time
	phaseIv    map[string][]interval
}

// newComputeAcc registers the services: plan order, then announced order;
// the rest come in order of first appearance.
func newComputeAcc(m *Metrics, d Deploy, start, endT time.Time, announced []string) *computeAcc {
	c := &computeAcc{
		m:          m,
		start:      start,
		endT:       endT,
		accs:       map[string]*svcAcc{},
		info:       map[string]ServiceInfo{},
		images:     map[string]*Image{},
		imageStart: map[string]time.Time{},
		phaseIv:    map[string][]interval{},
	}
	for _, si := range d.Services {
		if si.Name != "" {
			c.info[si.Name] = si
		}
	}
	for _, si := range d.Services {
		if si.Name != "" {
			c.service(si.Name)
		}
	}
	for _, n := range announced {
		c.service(n)
	}
	return c
}

func (c *computeAcc) off(t time.Time) float64 { return msOf(t.Sub(c.start)) }

// service is the accumulator of service name, registered on first use.
func (c *computeAcc) service(name string) *svcAcc {
	if a, ok := c.accs[name]; ok {
		return a
	}
	si := c.info[name]
	a := &svcAcc{s: &Service{Name: name, Class: si.Class, DependsOn: append([]string(nil), si.DependsOn...)}}
	c.accs[name] = a
	c.order = append(c.order, name)
	return a
}

func (c *computeAcc) addIv(phase string, from, to time.Time) {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return
	}
	c.phaseIv[phase] = append(c.phaseIv[phase], interval{from, to})
}

// event accumulates one event.
func (c *computeAcc) event(e events.Event) {
	var a *svcAcc
	if e.Service != "" {
		a = c.service(e.Service)
	}
	switch at := e.Attrs.(type) {
	case events.ImageBuildingAttrs:
		c.imageBuilding(a, e, at)
	case events.ImageReadyAttrs:
		c.imageReady(a, e, at)
	case events.NetworkReadyAttrs, events.VolumeReadyAttrs:
		c.addIv(string(events.PhaseResources), e.Time.Add(-e.Duration), e.Time)
	case events.ServiceCreatingAttrs, events.ServiceCreatedAttrs, events.ServiceReusedAttrs,
		events.ServiceWaitingAttrs, events.ServiceStartingAttrs, events.ServiceStartedAttrs,
		events.ServiceReadyAttrs, events.ServiceFailedAttrs, events.ServiceSkippedAttrs,
		events.ServiceRetryAttrs, events.ServiceStatsAttrs:
		if a != nil {
			a.event(e, c.off(e.Time))
		}
	case events.ReplacingAttrs:
		if a != nil {
			a.s.Replaced, a.s.KeptContainer = at.Mode, at.ContainerID
		}
	case events.RolledBackAttrs, events.RollbackFailedAttrs:
		c.rollbackEvent(a, e)
	case events.EngineRetryAttrs:
		c.m.EngineRetries = append(c.m.EngineRetries, Retry{OffsetMS: c.off(e.Time), Op: at.Op, Reason: at.Reason, Attempt: at.Attempt, BackoffMS: at.BackoffMS})
	case events.WarningAttrs:
		c.m.Warnings = append(c.m.Warnings, Note{OffsetMS: c.off(e.Time), At: e.Time.UTC(), Level: string(e.Level), Service: e.Service, Message: at.Message})
		if a != nil {
			a.s.Warnings++
		}
	default:
		// Other phases (load, preflight, lock, validate, down) count by
		// the duration their events carry.
		switch e.Phase {
		case events.PhaseLoad, events.PhasePreflight, events.PhaseLock, events.PhaseValidate, events.PhaseDown, events.PhaseRollback:
			if e.Duration > 0 {
				c.addIv(string(e.Phase), e.Time.Add(-e.Duration), e.Time)
			}
		}
	}
}

// rollbackEvent records a service's rollback, and the deploy's: a rollback
// caused by a core service rolls the deploy back (complete unless a step
// failed); one caused by the service itself is that service's alone.
func (c *computeAcc) rollbackEvent(a *svcAcc, e events.Event) {
	if a == nil {
		return
	}
	off := c.off(e.Time)
	a.s.RolledBackOffsetMS = &off
	var cause, scope string
	switch at := e.Attrs.(type) {
	case events.RolledBackAttrs:
		cause, scope, a.s.RolledBack = at.Cause, at.Scope, at.Action
		if at.Action == "restored" {
			a.s.RollbackReadyMS, a.s.RollbackSinceFailureMS = fptr(at.ReadyMS), fptr(at.SinceFailureMS)
		}
	case events.RollbackFailedAttrs:
		cause, scope, a.s.RolledBack, a.s.RollbackRuns = at.Cause, at.Scope, "failed", at.Runs
	}
	switch {
	case scope != "deploy":
		if c.m.RolledBack == "" {
			c.m.RolledBack = "services"
		}
	case a.s.RolledBack == "failed":
		c.m.RolledBack, c.m.RollbackCause = "incomplete", cause
	case c.m.RolledBack != "incomplete":
		c.m.RolledBack, c.m.RollbackCause = "complete", cause
	}
}

func (c *computeAcc) imageBuilding(a *svcAcc, e events.Event, at events.ImageBuildingAttrs) {
	key := at.Image
	if _, ok := c.imageStart[key]; !ok {
		c.imageStart[key] = e.Time
	}
	if a != nil && a.imageBuilding.IsZero() {
		a.imageBuilding = e.Time
	}
}

func (c *computeAcc) imageReady(a *svcAcc, e events.Event, at events.ImageReadyAttrs) {
	name := at.Image
	img, ok := c.images[name]
	if !ok {
		img = &Image{Image: name}
		c.images[name] = img
		c.imageOrder = append(c.imageOrder, name)
	}
	img.Built = img.Built || at.Built
	img.Cached = img.Cached || at.Cached
	from := e.Time.Add(-e.Duration)
	if e.Duration <= 0 {
		if t, ok := c.imageStart[name]; ok {
			from = t
		}
	}
	img.DurationMS = math.Max(img.DurationMS, msOf(e.Time.Sub(from)))
	img.ReadyOffsetMS = fptr(c.off(e.Time))
	img.ReadyAt = tptr(e.Time)
	c.addIv(string(events.PhaseImage), from, e.Time)
	if a != nil {
		img.Services = appendUnique(img.Services, a.s.Name)
		a.imageReady = e.Time
		a.s.Image = name
		a.s.ImageBuilt = img.Built
	}
}

// event accumulates one service event of a; off is its offset from the
// deploy's start.
func (a *svcAcc) event(e events.Event, off float64) {
	switch at := e.Attrs.(type) {
	case events.ServiceCreatingAttrs:
		if a.creating.IsZero() {
			a.creating = e.Time
		}
	case events.ServiceCreatedAttrs:
		if a.created.IsZero() {
			a.created = e.Time
		}
		if at.Container != "" {
			a.s.Container = at.Container
		}
	case events.ServiceReusedAttrs:
		a.reused = e.Time
		a.setTerminal(OutcomeReused, e.Time)
		if at.Container != "" {
			a.s.Container = at.Container
		}
		a.readiness(at.Readiness)
	case events.ServiceWaitingAttrs:
		if a.waiting.IsZero() {
			a.waiting = e.Time
		}
		for _, o := range at.On {
			a.s.WaitingOn = appendUnique(a.s.WaitingOn, o)
		}
	case events.ServiceStartingAttrs:
		if a.starting.IsZero() {
			a.starting = e.Time
		}
	case events.ServiceStartedAttrs:
		a.s.Attempts++
		if a.started.IsZero() {
			a.started = e.Time
		}
	case events.ServiceReadyAttrs:
		a.ready = e.Time
		a.readyDur = e.Duration
		a.setTerminal(OutcomeReady, e.Time)
		a.readiness(at.Readiness)
	case events.ServiceFailedAttrs:
		a.failedEvent(e, at)
	case events.ServiceSkippedAttrs:
		a.skipped = e.Time
		a.setTerminal(OutcomeSkipped, e.Time)
		a.s.SkipReason = at.Reason
		a.s.SkipBecause = append([]string(nil), at.Because...)
	case events.ServiceRetryAttrs:
		a.s.Retries = append(a.s.Retries, Retry{OffsetMS: off, Reason: at.Reason, Attempt: at.Attempt, BackoffMS: at.BackoffMS})
	case events.ServiceStatsAttrs:
		if c := at.CPUPercent; a.s.CPUPeakPercent == nil || c > *a.s.CPUPeakPercent {
			a.s.CPUPeakPercent = fptr(c)
		}
		if b := at.MemBytes; a.s.MemPeakBytes == nil || b > *a.s.MemPeakBytes {
			a.s.MemPeakBytes = fptr(b)
		}
	}
}

func (a *svcAcc) failedEvent(e events.Event, at events.ServiceFailedAttrs) {
	a.failed = e.Time
	a.failDur = e.Duration
	a.setTerminal(OutcomeFailed, e.Time)
	a.s.FailureReason = at.Reason
	if at.ExitCode != nil {
		c := *at.ExitCode
		a.s.ExitCode = &c
	}
	a.s.OOMKilled = at.OOM
	a.s.HealthOutput = strings.Join(at.HealthOutput, "\n")
	a.s.LogsTail = tailLines(strings.Join(at.Logs, "\n"), 20, 4096)
	a.s.Hint = at.Hint
}

// finishService settles the outcome, offsets and durations of a and appends
// it to the metrics.
func (c *computeAcc) finishService(a *svcAcc) {
	s := a.s
	s.Outcome = a.terminal
	if s.Outcome == "" {
		s.Outcome = OutcomePending
	}
	c.setOffsets(a)
	if s.Outcome != OutcomeFailed {
		// A failure that a later attempt recovered from lives on in Retries.
		s.FailureReason, s.ExitCode, s.OOMKilled, s.HealthOutput, s.LogsTail, s.Hint = "", nil, false, "", "", ""
	}
	if !a.creating.IsZero() && !a.created.IsZero() {
		s.CreateMS = fptr(msOf(a.created.Sub(a.creating)))
		c.addIv(string(events.PhaseCreate), a.creating, a.created)
	}
	c.waitSpan(a)
	c.startSpan(a)
	c.m.Services = append(c.m.Services, *s)
}

// setOffsets fills the offset and time of each step a went through.
func (c *computeAcc) setOffsets(a *svcAcc) {
	s := a.s
	set := func(t time.Time, o **float64, at **time.Time) {
		if !t.IsZero() {
			*o, *at = fptr(c.off(t)), tptr(t)
		}
	}
	set(a.imageReady, &s.ImageReadyOffsetMS, &s.ImageReadyAt)
	set(a.creating, &s.CreatingOffsetMS, &s.CreatingAt)
	set(a.created, &s.CreatedOffsetMS, &s.CreatedAt)
	set(a.waiting, &s.WaitingOffsetMS, &s.WaitingAt)
	set(a.starting, &s.StartIssuedOffsetMS, &s.StartIssuedAt)
	set(a.started, &s.StartedOffsetMS, &s.StartedAt)
	set(a.skipped, &s.SkippedOffsetMS, &s.SkippedAt)
	set(a.reused, &s.ReusedOffsetMS, &s.ReusedAt)
	switch s.Outcome {
	case OutcomeReady:
		set(a.ready, &s.ReadyOffsetMS, &s.ReadyAt)
	case OutcomeFailed:
		set(a.failed, &s.FailedOffsetMS, &s.FailedAt)
	}
}

// waitSpan records how long a waited on its dependencies.
func (c *computeAcc) waitSpan(a *svcAcc) {
	if a.waiting.IsZero() {
		return
	}
	until := a.starting
	if until.IsZero() {
		until = a.terminalAt
	}
	if until.IsZero() {
		until = c.endT
	}
	if !until.Before(a.waiting) {
		a.s.WaitMS = fptr(msOf(until.Sub(a.waiting)))
		c.addIv(string(events.PhaseWait), a.waiting, until)
	}
}

// startSpan records how long a took from start to ready or failed.
func (c *computeAcc) startSpan(a *svcAcc) {
	s := a.s
	begin := a.starting
	if begin.IsZero() {
		begin = a.started
	}
	switch s.Outcome {
	case OutcomeReady:
		d := a.readyDur
		if d <= 0 && !begin.IsZero() {
			d = a.ready.Sub(begin)
		}
		if d > 0 || !begin.IsZero() {
			s.TimeToReadyMS = fptr(msOf(d))
		}
		c.addIv(string(events.PhaseStart), firstNonZero(begin, a.ready.Add(-a.readyDur)), a.ready)
	case OutcomeFailed:
		d := a.failDur
		if d <= 0 && !begin.IsZero() {
			d = a.failed.Sub(begin)
		}
		if d > 0 || !begin.IsZero() {
			s.TimeToFailMS = fptr(msOf(d))
		}
		c.addIv(string(events.PhaseStart), firstNonZero(begin, a.failed.Add(-a.failDur)), a.failed)
	case OutcomePending:
		c.addIv(string(events.PhaseStart), begin, c.endT)
	}
}

// collectImages appends the images in order of readiness, then name.
func (c *computeAcc) collectImages() {
	m := c.m
	for _, n := range c.imageOrder {
		m.Images = append(m.Images, *c.images[n])
	}
	sort.SliceStable(m.Images, func(i, j int) bool {
		a, b := m.Images[i], m.Images[j]
		if a.ReadyOffsetMS != nil && b.ReadyOffsetMS != nil && *a.ReadyOffsetMS != *b.ReadyOffsetMS {
			return *a.ReadyOffsetMS < *b.ReadyOffsetMS
		}
		return a.Image < b.Image
	})
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func sortedEvents(id string, in []events.Event) []events.Event {
	out := make([]events.Event, 0, len(in))
	for _, e := range in {
		if id != "" && e.DeployID != "" && e.DeployID != id {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func appendUnique(xs []string, s string) []string {
	for _, x := range xs {
		if x == s {
			return xs
		}
	}
	return append(xs, s)
}

// phaseOrder is the order phases appear in reports.
var phaseOrder = []events.Phase{
	events.PhaseLoad, events.PhasePreflight, events.PhaseLock, events.PhaseResources,
	events.PhaseImage, events.PhaseCreate, events.PhaseWait, events.PhaseStart,
	events.PhaseRollback, events.PhaseValidate, events.PhaseDown,
}

func phaseTotals(iv map[string][]interval, start time.Time) []Phase {
	out := []Phase{}
	for _, p := range phaseOrder {
		ivs := iv[string(p)]
		if len(ivs) == 0 {
			continue
		}
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].from.Before(ivs[j].from) })
		ph := Phase{Phase: string(p), Count: len(ivs), FirstOffsetMS: msOf(ivs[0].from.Sub(start))}
		var sum, wall time.Duration
		last := ivs[0].to
		curFrom, curTo := ivs[0].from, ivs[0].to
		for i, v := range ivs {
			sum += v.to.Sub(v.from)
			if v.to.After(last) {
				last = v.to
			}
			if i == 0 {
				continue
			}
			if v.from.After(curTo) {
				wall += curTo.Sub(curFrom)
				curFrom, curTo = v.from, v.to
			} else if v.to.After(curTo) {
				curTo = v.to
			}
		}
		wall += curTo.Sub(curFrom)
		ph.LastOffsetMS = msOf(last.Sub(start))
		ph.SumMS = msOf(sum)
		ph.WallMS = msOf(wall)
		out = append(out, ph)
	}
	return out
}

func totals(m Metrics) Totals {
	t := Totals{Services: len(m.Services), EngineRetries: len(m.EngineRetries), Warnings: len(m.Warnings), Images: len(m.Images)}
	for _, img := range m.Images {
		if img.Built {
			t.ImagesBuilt++
		}
	}
	for _, s := range m.Services {
		switch s.Outcome {
		case OutcomeReady:
			t.Ready++
		case OutcomeReused:
			t.Reused++
		case OutcomeFailed:
			t.Failed++
		case OutcomeSkipped:
			t.Skipped++
		default:
			t.Pending++
		}
		if isCore(s.Class) && !s.Up() {
			t.CoreNotUp++
		}
		t.Attempts += s.Attempts
		t.Retries += len(s.Retries)
	}
	return t
}

// isCore treats an unknown class as core, as the stack loader does.
func isCore(class string) bool { return class == "" || class == "core" }

func criticalPath(svcs []Service) Path {
	p := Path{Services: []string{}, Links: []Link{}}
	byName := map[string]Service{}
	for _, s := range svcs {
		byName[s.Name] = s
	}
	// The end: the core service that became usable last; if no core service
	// did, any service.
	pick := func(core bool) (Service, bool) {
		var best Service
		var bestAt float64
		found := false
		for _, s := range svcs {
			if core && !isCore(s.Class) {
				continue
			}
			if at, ok := s.readyOffset(); ok && (!found || at > bestAt) {
				best, bestAt, found = s, at, true
			}
		}
		return best, found
	}
	end, ok := pick(true)
	if !ok {
		if end, ok = pick(false); !ok {
			return p
		}
	}
	var chain []Service
	seen := map[string]bool{}
	for cur, ok := end, true; ok && !seen[cur.Name]; {
		seen[cur.Name] = true
		chain = append(chain, cur)
		deps := cur.DependsOn
		if len(deps) == 0 {
			deps = cur.WaitingOn
		}
		var next Service
		var nextAt float64
		ok = false
		for _, dn := range deps {
			dep, known := byName[dn]
			if !known {
				continue
			}
			if at, up := dep.readyOffset(); up && (!ok || at > nextAt) {
				next, nextAt, ok = dep, at, true
			}
		}
		cur = next
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	var prevReady float64
	for i, s := range chain {
		ready, _ := s.readyOffset()
		startAt := ready
		if s.StartIssuedOffsetMS != nil {
			startAt = *s.StartIssuedOffsetMS
		} else if s.StartedOffsetMS != nil {
			startAt = *s.StartedOffsetMS
		}
		l := Link{Service: s.Name, Class: s.Class, Outcome: s.Outcome, StartIssuedOffsetMS: startAt, ReadyOffsetMS: ready, DetectionLagMS: s.DetectionLagMS}
		if s.WaitMS != nil {
			l.WaitMS = *s.WaitMS
		}
		if s.TimeToReadyMS != nil {
			l.TimeToReadyMS = *s.TimeToReadyMS
		} else {
			l.TimeToReadyMS = round3(ready - startAt)
		}
		if i > 0 {
			l.HandoffMS = round3(startAt - prevReady)
			p.HandoffMS += l.HandoffMS
		}
		p.BootMS += l.TimeToReadyMS
		prevReady = ready
		p.Links = append(p.Links, l)
		p.Services = append(p.Services, s.Name)
	}
	first, last := p.Links[0], p.Links[len(p.Links)-1]
	p.LeadInMS = first.StartIssuedOffsetMS
	p.EndOffsetMS = last.ReadyOffsetMS
	p.LengthMS = round3(last.ReadyOffsetMS - first.StartIssuedOffsetMS)
	p.BootMS = round3(p.BootMS)
	p.HandoffMS = round3(p.HandoffMS)
	return p
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
