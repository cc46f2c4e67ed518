package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/gonum/stat"
)

// DeploysDir is where a project's deploys live under the state directory:
// <stateDir>/<project>/deploys/<deployID>/{events.jsonl,metrics.json,report.*}.
func DeploysDir(stateDir, project string) string {
	return filepath.Join(stateDir, project, "deploys")
}

// DeployDir is the directory of one deploy.
func DeployDir(stateDir, project, deployID string) string {
	return filepath.Join(DeploysDir(stateDir, project), deployID)
}

// HistoryEntry is one past deploy, as read back from its metrics.json.
type HistoryEntry struct {
	Dir     string  `json:"dir"`
	Metrics Metrics `json:"metrics"`
}

// History is a project's deploys, oldest first.
type History []HistoryEntry

// LoadHistory reads every deploy under <stateDir>/<project>/deploys/,
// oldest first (by start time, then deploy ID): every deploy that started is
// listed, one killed or cut short as "incomplete" with its RecordsError. A
// finished deploy is read from its summary.json (Slim: what history needs);
// one without (written by an older dive) from LoadDeploy, and its
// summary.json is written then, so the next read is cheap. A project without
// deploys has an empty history and no error.
func LoadHistory(stateDir, project string) ([]HistoryEntry, error) {
	root := DeploysDir(stateDir, project)
	dirents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading deploy history of %s: %w", project, err)
	}
	var out []HistoryEntry
	for _, de := range dirents {
		if !de.IsDir() {
			continue
		}
		dir := filepath.Join(root, de.Name())
		out = append(out, HistoryEntry{Dir: dir, Metrics: loadSummary(dir, de.Name(), project)})
	}
	sortHistory(out)
	return out, nil
}

// loadSummary is one deploy's history entry: its summary.json when that is
// there and of this schema, else LoadDeploy; a deploy read whole from its
// metrics.json gets its summary.json written (best effort: a read-only
// state directory only costs the next read the same again).
func loadSummary(dir, id, project string) Metrics {
	if m, ok := readMetrics(filepath.Join(dir, SummaryFile), id); ok && m.SchemaVersion == SchemaVersion {
		return m
	}
	m, ok := readMetrics(filepath.Join(dir, MetricsFile), id)
	if !ok {
		return fromEvents(dir, id, project)
	}
	if m.SchemaVersion == SchemaVersion { // another dive's metrics: its own summary
		var buf bytes.Buffer
		if writeSummary(&buf, m) == nil {
			_ = writeFileAtomic(filepath.Join(dir, SummaryFile), buf.Bytes(), 0o644)
		}
	}
	return m
}

// writeSummary writes summary.json's content: Slim(m) as one JSON line.
func writeSummary(w io.Writer, m Metrics) error { return json.NewEncoder(w).Encode(Slim(m)) }

// Slim is the part of a deploy's metrics that history uses (Summarize, the
// trend, plan's expected readiness, rollback's choice of deploy): its
// identity, outcome, duration and totals, and per service the name, class,
// outcome and time to ready. A history entry read from summary.json has only
// these fields; the deploy's own report reads metrics.json.
func Slim(m Metrics) Metrics {
	s := Metrics{
		SchemaVersion: m.SchemaVersion, DeployID: m.DeployID, Project: m.Project,
		StartedAt: m.StartedAt, FinishedAt: m.FinishedAt, DurationMS: m.DurationMS, TimeoutMS: m.TimeoutMS,
		Outcome: m.Outcome, RecordsError: m.RecordsError, Totals: m.Totals,
		RolledBack: m.RolledBack, RollbackCause: m.RollbackCause,
	}
	for _, sv := range m.Services {
		s.Services = append(s.Services, Service{Name: sv.Name, Class: sv.Class, Outcome: sv.Outcome, TimeToReadyMS: sv.TimeToReadyMS})
	}
	return s
}

func sortHistory(h []HistoryEntry) {
	sort.SliceStable(h, func(i, j int) bool {
		a, b := h[i].Metrics, h[j].Metrics
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.Before(b.StartedAt)
		}
		return a.DeployID < b.DeployID
	})
}

// Percentiles summarises a set of durations. P50/P95/P99 are
// stat.Quantile(p, stat.Empirical, sorted, nil): the smallest sample whose
// empirical CDF is ≥ p, so always one of the samples, never an interpolation.
type Percentiles struct {
	Count  int     `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Percentile is the empirical p-quantile of xs (any order): the smallest
// value whose share of samples ≤ it is at least p. NaN for no samples.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return stat.Quantile(p, stat.Empirical, s, nil)
}

// NewPercentiles summarises xs (any order). Zero for no samples.
func NewPercentiles(xs []float64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	q := func(p float64) float64 { return stat.Quantile(p, stat.Empirical, s, nil) }
	return Percentiles{
		Count: len(s), MinMS: s[0], MaxMS: s[len(s)-1], MeanMS: round3(stat.Mean(s, nil)),
		P50MS: q(0.50), P95MS: q(0.95), P99MS: q(0.99),
	}
}

// DeployPoint is one deploy in the history.
type DeployPoint struct {
	DeployID   string    `json:"deploy_id"`
	StartedAt  time.Time `json:"started_at"`
	Outcome    string    `json:"outcome"`
	DurationMS float64   `json:"duration_ms"`
	Ready      int       `json:"ready"`
	Failed     int       `json:"failed"`
	// RecordsError says what of this deploy's records is missing.
	RecordsError string `json:"records_error,omitempty"`
	// RolledBack: the deploy was rolled back (Metrics.RolledBack).
	RolledBack string `json:"rolled_back,omitempty"`
}

// ServiceSummary is one service's time to ready (start issued → ready) over
// the deploys in which its outcome was ready.
type ServiceSummary struct {
	Service     string      `json:"service"`
	Class       string      `json:"class"`
	TimeToReady Percentiles `json:"time_to_ready"`
	Failures    int         `json:"failures"`
}

// Trend compares the last Window deploys with the Window before them.
// Only deploys that succeeded (success or degraded) count.
type Trend struct {
	Window           int     `json:"window"`
	RecentCount      int     `json:"recent_count"`
	PreviousCount    int     `json:"previous_count"`
	RecentMeanMS     float64 `json:"recent_mean_ms"`
	RecentP50MS      float64 `json:"recent_p50_ms"`
	PreviousMeanMS   float64 `json:"previous_mean_ms"`
	PreviousP50MS    float64 `json:"previous_p50_ms"`
	DeltaMeanPercent float64 `json:"delta_mean_percent"`
	DeltaP50Percent  float64 `json:"delta_p50_percent"`
	// Verdict is faster, slower or steady (p50 moved less than
	// TrendThresholdPercent), or unknown when either window is empty.
	Verdict string `json:"verdict"`
}

// TrendThresholdPercent is how much the p50 deploy duration must move
// between the two windows before the trend is called faster or slower.
const TrendThresholdPercent = 10.0

// Summary is the history of a project's deploys.
type Summary struct {
	Project  string         `json:"project"`
	Deploys  int            `json:"deploys"`
	Outcomes map[string]int `json:"outcomes"`
	History  []DeployPoint  `json:"history"`
	// Duration is over the deploys that succeeded (success or degraded):
	// a failed deploy's duration says when it gave up, not how long a deploy
	// takes.
	Duration Percentiles      `json:"deploy_duration"`
	Services []ServiceSummary `json:"services"`
	Trend    Trend            `json:"trend"`
}

// Summarize computes the deploy-duration and per-service time-to-ready
// percentiles over all entries, and the trend of the last lastN successful
// deploys against the lastN before them.
func Summarize(entries []HistoryEntry, lastN int) Summary {
	if lastN <= 0 {
		lastN = 5
	}
	h := append([]HistoryEntry(nil), entries...)
	sortHistory(h)
	sum := Summary{Deploys: len(h), Outcomes: map[string]int{}, History: []DeployPoint{}, Services: []ServiceSummary{}}
	var durs []float64
	ttr := map[string][]float64{}
	fails := map[string]int{}
	class := map[string]string{}
	var order []string
	for _, e := range h {
		m := e.Metrics
		if m.Project != "" {
			sum.Project = m.Project
		}
		sum.Outcomes[m.Outcome]++
		sum.History = append(sum.History, DeployPoint{
			DeployID: m.DeployID, StartedAt: m.StartedAt, Outcome: m.Outcome, DurationMS: m.DurationMS,
			Ready: m.Totals.Ready + m.Totals.Reused, Failed: m.Totals.Failed, RecordsError: m.RecordsError, RolledBack: m.RolledBack,
		})
		if m.Succeeded() {
			durs = append(durs, m.DurationMS)
		}
		for _, s := range m.Services {
			if _, ok := class[s.Name]; !ok {
				order = append(order, s.Name)
			}
			if s.Class != "" {
				class[s.Name] = s.Class
			} else if _, ok := class[s.Name]; !ok {
				class[s.Name] = ""
			}
			switch {
			case s.Outcome == OutcomeReady && s.TimeToReadyMS != nil:
				ttr[s.Name] = append(ttr[s.Name], *s.TimeToReadyMS)
			case s.Outcome == OutcomeFailed:
				fails[s.Name]++
			}
		}
	}
	sum.Duration = NewPercentiles(durs)
	for _, n := range order {
		sum.Services = append(sum.Services, ServiceSummary{Service: n, Class: class[n], TimeToReady: NewPercentiles(ttr[n]), Failures: fails[n]})
	}
	sum.Trend = trend(durs, lastN)
	return sum
}

func trend(durs []float64, n int) Trend {
	t := Trend{Window: n, Verdict: "unknown"}
	recent := durs[max(0, len(durs)-n):]
	prev := durs[max(0, len(durs)-2*n):max(0, len(durs)-n)]
	t.RecentCount, t.PreviousCount = len(recent), len(prev)
	if len(recent) > 0 {
		p := NewPercentiles(recent)
		t.RecentMeanMS, t.RecentP50MS = p.MeanMS, p.P50MS
	}
	if len(prev) > 0 {
		p := NewPercentiles(prev)
		t.PreviousMeanMS, t.PreviousP50MS = p.MeanMS, p.P50MS
	}
	if len(recent) == 0 || len(prev) == 0 {
		return t
	}
	pct := func(now, before float64) float64 {
		if before == 0 {
			return 0
		}
		return math.Round((now-before)/before*1000) / 10
	}
	t.DeltaMeanPercent = pct(t.RecentMeanMS, t.PreviousMeanMS)
	t.DeltaP50Percent = pct(t.RecentP50MS, t.PreviousP50MS)
	switch {
	case t.DeltaP50Percent <= -TrendThresholdPercent:
		t.Verdict = "faster"
	case t.DeltaP50Percent >= TrendThresholdPercent:
		t.Verdict = "slower"
	default:
		t.Verdict = "steady"
	}
	return t
}

// WriteHistoryText writes the summary as plain-text tables.
func WriteHistoryText(w io.Writer, s Summary) error {
	ew := &errWriter{w: w}
	title := "Deploy history"
	if s.Project != "" {
		title += " of " + s.Project
	}
	ew.printf("%s: %d deploys (%s)\n\n", title, s.Deploys, outcomeCounts(s.Outcomes))
	if s.Deploys == 0 {
		return ew.err
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOY\tSTARTED (UTC)\tOUTCOME\tDURATION\tUP\tFAILED\t")
	for _, d := range s.History {
		outcome := d.Outcome
		if d.RolledBack == "complete" || d.RolledBack == "incomplete" {
			outcome += ", rolled back"
			if d.RolledBack == "incomplete" {
				outcome += " (incomplete)"
			}
		}
		if d.RecordsError != "" {
			outcome += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t\n", d.DeployID, d.StartedAt.UTC().Format("2006-01-02 15:04:05"), outcome, fmtSeconds(d.DurationMS), d.Ready, d.Failed)
	}
	_ = tw.Flush()
	for _, d := range s.History {
		if d.RecordsError != "" {
			ew.printf("* %s: %s\n", d.DeployID, d.RecordsError)
		}
	}

	ew.printf("\nDeploy duration (succeeded deploys, n=%d): %s\n", s.Duration.Count, pctLine(s.Duration))
	t := s.Trend
	if t.Verdict == "unknown" {
		ew.printf("Trend: not enough deploys to compare (last %d: %d, the %d before: %d)\n", t.Window, t.RecentCount, t.Window, t.PreviousCount)
	} else {
		ew.printf("Trend: %s — last %d: mean %s, p50 %s; the %d before: mean %s, p50 %s (mean %+.1f %%, p50 %+.1f %%)\n",
			t.Verdict, t.RecentCount, fmtSeconds(t.RecentMeanMS), fmtSeconds(t.RecentP50MS),
			t.PreviousCount, fmtSeconds(t.PreviousMeanMS), fmtSeconds(t.PreviousP50MS), t.DeltaMeanPercent, t.DeltaP50Percent)
	}

	ew.printf("\nTime to ready per service (start issued → ready, outcome ready only):\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCLASS\tN\tP50\tP95\tP99\tMAX\tFAILED\t")
	for _, sv := range s.Services {
		p := sv.TimeToReady
		if p.Count == 0 {
			fmt.Fprintf(tw, "%s\t%s\t0\t–\t–\t–\t–\t%d\t\n", sv.Service, orDash(sv.Class), sv.Failures)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t\n", sv.Service, orDash(sv.Class), p.Count,
			fmtSeconds(p.P50MS), fmtSeconds(p.P95MS), fmtSeconds(p.P99MS), fmtSeconds(p.MaxMS), sv.Failures)
	}
	_ = tw.Flush()
	ew.printf("\nPercentiles are empirical (the smallest sample whose CDF ≥ p); with few deploys p95 and p99 are the slowest one.\n")
	return ew.err
}

func pctLine(p Percentiles) string {
	if p.Count == 0 {
		return "no data"
	}
	return fmt.Sprintf("p50 %s · p95 %s · p99 %s · mean %s · min %s · max %s",
		fmtSeconds(p.P50MS), fmtSeconds(p.P95MS), fmtSeconds(p.P99MS), fmtSeconds(p.MeanMS), fmtSeconds(p.MinMS), fmtSeconds(p.MaxMS))
}

func outcomeCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := map[string]int{DeploySuccess: 0, DeployDegraded: 1, DeployFailed: 2, DeployInterrupted: 3, DeployIncomplete: 4}
	sort.Slice(keys, func(i, j int) bool {
		ri, oki := rank[keys[i]]
		rj, okj := rank[keys[j]]
		if oki != okj {
			return oki
		}
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// errWriter remembers the first write error so writers can print freely.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) {
	fmt.Fprintf(e, format, a...)
}

// deployIDPattern is the form of a deploy ID (newDeployID in internal/cli):
// its UTC start time, then six hex digits.
var deployIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// unfinishedFor is how long after its last event an unfinished deploy's
// folder (no metrics.json) is left alone: it may still be running, or
// waiting for the lock.
const unfinishedFor = time.Hour

// PruneDeploys removes the records of the oldest deploys of project so that
// at most keep remain, never one protect names (the deploy running now, the
// configurations a rollback would go back to) nor an unfinished one whose
// events.jsonl changed within unfinishedFor. Only folders named exactly as
// deploy IDs are touched; keep ≤ 0 keeps everything. It returns the IDs it
// removed and the first error (it goes on past one).
func PruneDeploys(stateDir, project string, keep int, protect func(id string) bool) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	root := DeploysDir(stateDir, project)
	dirents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string // oldest first: IDs start with their UTC start time
	for _, de := range dirents {
		if deployIDPattern.MatchString(de.Name()) && de.IsDir() {
			ids = append(ids, de.Name())
		}
	}
	sort.Strings(ids)
	var removed []string
	var firstErr error
	for i := 0; i < len(ids) && len(ids)-len(removed) > keep; i++ {
		if protect != nil && protect(ids[i]) || mayBeRunning(filepath.Join(root, ids[i])) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, ids[i])); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("removing the records of deploy %s: %w", ids[i], err)
			}
			continue
		}
		removed = append(removed, ids[i])
	}
	return removed, firstErr
}

// mayBeRunning says whether a deploy folder has no metrics.json yet and an
// events.jsonl written to within unfinishedFor.
func mayBeRunning(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, MetricsFile)); err == nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, EventsFile))
	return err == nil && time.Since(fi.ModTime()) < unfinishedFor
}
