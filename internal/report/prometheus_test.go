package report

import (
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	require.True(t, ok, "family %s missing", name)
	assert.Equal(t, dto.MetricType_GAUGE, fam.GetType())
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v not found", name, labels)
	return 0
}

func TestWritePrometheus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "textfile")
	path := filepath.Join(dir, "dive_dive-hub.prom")
	id := "20261130T090000Z-00ff00"
	m := Compute(hubDeploy(id), hubDegraded(hubT0, id))
	require.NoError(t, WritePrometheus(path, m))

	// Only the final file is left: the temporary one was renamed.
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	assert.Equal(t, "dive_dive-hub.prom", ents[0].Name())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(f)
	require.NoError(t, err)

	p := map[string]string{"project": "dive-hub"}
	assert.InDelta(t, 36.5, gauge(t, fams, "dive_deploy_duration_seconds", p), 1e-9)
	assert.Equal(t, 1.0, gauge(t, fams, "dive_deploy_success", p)) // degraded still counts
	assert.Equal(t, 1.0, gauge(t, fams, "dive_deploy_outcome", map[string]string{"project": "dive-hub", "outcome": "degraded"}))
	assert.InDelta(t, float64(hubT0.Unix())+36.5, gauge(t, fams, "dive_deploy_timestamp_seconds", p), 1e-3)
	assert.InDelta(t, 33.6, gauge(t, fams, "dive_deploy_critical_path_seconds", p), 1e-9)
	assert.Equal(t, 2.0, gauge(t, fams, "dive_deploy_services", map[string]string{"outcome": "reused"}))

	kc := map[string]string{"project": "dive-hub", "service": "keycloak", "class": "core"}
	assert.InDelta(t, 13.3, gauge(t, fams, "dive_service_ready_seconds", kc), 1e-9)
	assert.Equal(t, 1.0, gauge(t, fams, "dive_service_up", kc))
	op := map[string]string{"service": "opal-server", "class": "stretch"}
	assert.Equal(t, 0.0, gauge(t, fams, "dive_service_up", op))
	assert.Equal(t, 2.0, gauge(t, fams, "dive_service_start_attempts", op))
	assert.Equal(t, 1.0, gauge(t, fams, "dive_service_up", map[string]string{"service": "postgres"}))
	// No ready time for services that did not become ready.
	assert.Len(t, fams["dive_service_ready_seconds"].GetMetric(), 7)
	assert.Len(t, fams["dive_service_up"].GetMetric(), 11)

	// A failed deploy overwrites the file and reports 0.
	m.Outcome = DeployFailed
	require.NoError(t, WritePrometheus(path, m))
	f2, err := os.Open(path)
	require.NoError(t, err)
	defer f2.Close()
	parser = expfmt.NewTextParser(model.UTF8Validation)
	fams, err = parser.TextToMetricFamilies(f2)
	require.NoError(t, err)
	assert.Equal(t, 0.0, gauge(t, fams, "dive_deploy_success", p))
}
