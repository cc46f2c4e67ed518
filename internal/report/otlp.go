package report

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ExportTimeout bounds ExportTraces.
const ExportTimeout = 5 * time.Second

// ExportTraces sends the deploy to an OTLP/HTTP collector as one trace: a
// root span for the deploy (deploy start → finish) and one child span per
// service that dive started (start issued → ready or failed; still-pending
// services end with the deploy) or reused (a zero-length span). Timestamps
// are the real ones from the events.
//
// The caller decides whether to export (cli does when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set);
// the OpenTelemetry exporter reads the endpoint and the other standard
// OTEL_EXPORTER_OTLP_* variables (headers, TLS, compression) itself.
// It gives up after ExportTimeout and returns the export error, if any; it
// sets no global OpenTelemetry state.
func ExportTraces(ctx context.Context, m Metrics) error {
	ctx, cancel := context.WithTimeout(ctx, ExportTimeout)
	defer cancel()
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return fmt.Errorf("otlp: creating the trace exporter: %w", err)
	}
	spans := &collector{}
	res := resource.NewSchemaless(
		attribute.String("service.name", "dive"),
		attribute.String("dive.project", m.Project),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	recordDeploy(tp.Tracer("github.com/dive-hub/dive/internal/report"), m)
	_ = tp.Shutdown(ctx) // ends nothing of ours; the collector holds the spans

	err = exp.ExportSpans(ctx, spans.all())
	if serr := exp.Shutdown(ctx); serr != nil && err == nil && !errors.Is(serr, context.DeadlineExceeded) {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("otlp: exporting %d spans of deploy %s: %w", len(spans.all()), m.DeployID, err)
	}
	return nil
}

func recordDeploy(tr trace.Tracer, m Metrics) {
	start := m.StartedAt
	end := m.FinishedAt
	if end.Before(start) {
		end = start
	}
	at := func(ms float64) time.Time { return start.Add(time.Duration(ms * float64(time.Millisecond))) }
	ctx, root := tr.Start(context.Background(), "deploy "+m.Project,
		trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("dive.deploy_id", m.DeployID),
			attribute.String("dive.project", m.Project),
			attribute.String("dive.outcome", m.Outcome),
			attribute.Int("dive.services", m.Totals.Services),
			attribute.Int("dive.services.failed", m.Totals.Failed),
			attribute.Float64("dive.critical_path_ms", m.CriticalPath.LengthMS),
			attribute.StringSlice("dive.critical_path", m.CriticalPath.Services),
		))
	for _, s := range m.Services {
		var from, to time.Time
		switch {
		case s.Outcome == OutcomeReused && s.ReusedOffsetMS != nil:
			from, to = at(*s.ReusedOffsetMS), at(*s.ReusedOffsetMS)
		default:
			off, ok := startOffset(s)
			if !ok {
				continue // never started: skipped, or still waiting
			}
			from = at(off)
			switch {
			case s.ReadyOffsetMS != nil:
				to = at(*s.ReadyOffsetMS)
			case s.FailedOffsetMS != nil:
				to = at(*s.FailedOffsetMS)
			default:
				to = end
			}
		}
		attrs := []attribute.KeyValue{
			attribute.String("dive.service", s.Name),
			attribute.String("dive.class", s.Class),
			attribute.String("dive.outcome", s.Outcome),
			attribute.Int("dive.attempts", s.Attempts),
		}
		if s.ReadySignal != "" {
			attrs = append(attrs, attribute.String("dive.signal", s.ReadySignal))
		}
		if s.DetectionLagMS != nil {
			attrs = append(attrs, attribute.Float64("dive.detection_lag_ms", *s.DetectionLagMS))
		}
		if s.WaitMS != nil {
			attrs = append(attrs, attribute.Float64("dive.wait_ms", *s.WaitMS))
		}
		if s.ExitCode != nil {
			attrs = append(attrs, attribute.Int("dive.exit_code", *s.ExitCode))
		}
		if s.OOMKilled {
			attrs = append(attrs, attribute.Bool("dive.oom_killed", true))
		}
		_, sp := tr.Start(ctx, "service "+s.Name, trace.WithTimestamp(from), trace.WithAttributes(attrs...))
		switch s.Outcome {
		case OutcomeFailed:
			sp.SetStatus(codes.Error, s.FailureReason)
		case OutcomePending:
			sp.SetStatus(codes.Error, "not ready when the deploy ended")
		}
		sp.End(trace.WithTimestamp(to))
	}
	switch m.Outcome {
	case DeployFailed, DeployInterrupted, DeployIncomplete:
		root.SetStatus(codes.Error, m.Error)
	}
	root.End(trace.WithTimestamp(end))
}

// collector is a span processor that keeps ended spans, so that they can be
// exported in one request with the error returned to the caller.
type collector struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *collector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collector) OnEnd(s sdktrace.ReadOnlySpan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, s)
}
func (c *collector) Shutdown(context.Context) error   { return nil }
func (c *collector) ForceFlush(context.Context) error { return nil }
func (c *collector) all() []sdktrace.ReadOnlySpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), c.spans...)
}
