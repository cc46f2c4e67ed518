package report

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// WritePrometheus writes the deploy's metrics in the node_exporter
// textfile-collector format to path (for example
// /var/lib/node_exporter/textfile/dive_<project>.prom), atomically: the file
// is written under a temporary name in the same directory and renamed, so
// the collector never reads half a file. One file holds one project's last
// deploy; use one file per project.
//
// Series (all gauges):
//
//	dive_deploy_duration_seconds{project}
//	dive_deploy_success{project}                 1 when the outcome is success or degraded, else 0
//	dive_deploy_outcome{project,outcome}         1 for the deploy's outcome
//	dive_deploy_timestamp_seconds{project}       when the deploy finished, Unix seconds
//	dive_deploy_critical_path_seconds{project}
//	dive_deploy_services{project,outcome}        services by outcome
//	dive_service_up{project,service,class}       1 when ready or reused
//	dive_service_ready_seconds{project,service,class}   start issued → ready (outcome ready only)
//	dive_service_start_attempts{project,service,class}
func WritePrometheus(path string, m Metrics) error {
	reg := prometheus.NewRegistry()
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	project := m.Project
	dur := g("dive_deploy_duration_seconds", "Duration of the last deploy, from deploy_started to deploy_finished.", "project")
	ok := g("dive_deploy_success", "1 if the last deploy left the core services up (outcome success or degraded), else 0.", "project")
	outcome := g("dive_deploy_outcome", "1 for the outcome of the last deploy (success, degraded, failed, interrupted, incomplete).", "project", "outcome")
	ts := g("dive_deploy_timestamp_seconds", "When the last deploy finished, in Unix seconds.", "project")
	cp := g("dive_deploy_critical_path_seconds", "Length of the last deploy's critical path, first start to last ready.", "project")
	svcs := g("dive_deploy_services", "Services of the last deploy by outcome.", "project", "outcome")
	up := g("dive_service_up", "1 if the service was ready or reused at the end of the last deploy, else 0.", "project", "service", "class")
	ready := g("dive_service_ready_seconds", "Time from start issued to ready in the last deploy (services that became ready).", "project", "service", "class")
	attempts := g("dive_service_start_attempts", "Start attempts of the service in the last deploy.", "project", "service", "class")

	dur.WithLabelValues(project).Set(m.DurationMS / 1000)
	if m.Succeeded() {
		ok.WithLabelValues(project).Set(1)
	} else {
		ok.WithLabelValues(project).Set(0)
	}
	outcome.WithLabelValues(project, m.Outcome).Set(1)
	ts.WithLabelValues(project).Set(float64(m.FinishedAt.UnixNano()) / 1e9)
	cp.WithLabelValues(project).Set(m.CriticalPath.LengthMS / 1000)
	counts := map[string]int{OutcomeReady: m.Totals.Ready, OutcomeReused: m.Totals.Reused, OutcomeFailed: m.Totals.Failed, OutcomeSkipped: m.Totals.Skipped, OutcomePending: m.Totals.Pending}
	for o, n := range counts {
		svcs.WithLabelValues(project, o).Set(float64(n))
	}
	for _, s := range m.Services {
		class := s.Class
		if class == "" {
			class = "unknown"
		}
		v := 0.0
		if s.Up() {
			v = 1
		}
		up.WithLabelValues(project, s.Name, class).Set(v)
		if s.Outcome == OutcomeReady && s.TimeToReadyMS != nil {
			ready.WithLabelValues(project, s.Name, class).Set(*s.TimeToReadyMS / 1000)
		}
		attempts.WithLabelValues(project, s.Name, class).Set(float64(s.Attempts))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing prometheus textfile: %w", err)
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("writing prometheus textfile %s: %w", path, err)
	}
	return nil
}
