package report

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

type otlpSink struct {
	mu    sync.Mutex
	posts int
	spans []*tracepb.Span
	paths []string
}

func (s *otlpSink) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.paths = append(s.paths, r.URL.Path)
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			s.posts++
			var req collpb.ExportTraceServiceRequest
			if assert.NoError(t, proto.Unmarshal(body, &req)) {
				for _, rs := range req.GetResourceSpans() {
					for _, ss := range rs.GetScopeSpans() {
						s.spans = append(s.spans, ss.GetSpans()...)
					}
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
}

func TestExportTraces(t *testing.T) {
	sink := &otlpSink{}
	srv := httptest.NewServer(sink.handler(t))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")

	id := "20261130T090000Z-00ff00"
	m := Compute(hubDeploy(id), hubDegraded(hubT0, id))
	require.NoError(t, ExportTraces(context.Background(), m))

	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Equal(t, 1, sink.posts, "paths: %v", sink.paths)
	// One deploy span and one span per service (all 11 started or reused).
	require.Len(t, sink.spans, 12)
	var root *tracepb.Span
	byName := map[string]*tracepb.Span{}
	for _, s := range sink.spans {
		byName[s.GetName()] = s
		if len(s.GetParentSpanId()) == 0 {
			root = s
		}
	}
	require.NotNil(t, root)
	assert.Equal(t, "deploy dive-hub", root.GetName())
	assert.Equal(t, uint64(hubT0.UnixNano()), root.GetStartTimeUnixNano())
	assert.Equal(t, uint64(hubT0.Add(36500*time.Millisecond).UnixNano()), root.GetEndTimeUnixNano())

	kc := byName["service keycloak"]
	require.NotNil(t, kc)
	assert.Equal(t, root.GetSpanId(), kc.GetParentSpanId())
	assert.Equal(t, root.GetTraceId(), kc.GetTraceId())
	assert.Equal(t, uint64(hubT0.Add(1300*time.Millisecond).UnixNano()), kc.GetStartTimeUnixNano())
	assert.Equal(t, uint64(hubT0.Add(14600*time.Millisecond).UnixNano()), kc.GetEndTimeUnixNano())
	attrs := map[string]string{}
	for _, a := range kc.GetAttributes() {
		if sv, ok := a.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			attrs[a.GetKey()] = sv.StringValue
		}
	}
	assert.Equal(t, "core", attrs["dive.class"])
	assert.Equal(t, "ready", attrs["dive.outcome"])
	assert.Equal(t, "probe", attrs["dive.signal"])

	op := byName["service opal-server"]
	require.NotNil(t, op)
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, op.GetStatus().GetCode())
	assert.Equal(t, "health check failed 10 times", op.GetStatus().GetMessage())
}

func TestExportTracesTimesOut(t *testing.T) {
	// A collector that never answers: the export gives up within the bound.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ExportTraces(ctx, Compute(hubDeploy(hubID), hubSuccess(hubT0, hubID, 1)))
	require.Error(t, err)
	assert.Less(t, time.Since(start), ExportTimeout+time.Second)
}
