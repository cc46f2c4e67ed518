package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

type card struct {
	Label, Value, Sub, Accent string
}

type serviceRow struct {
	S                                       Service
	Pill, PillBg, PillFg                    string
	Start, End, Took, Waited, Lag, CPU, Mem string
	Critical                                bool
	Retries                                 int
	Note                                    string
}

type pathChip struct {
	Service, Class, Took, Handoff string
	First                         bool
}

type noteRow struct {
	At, Service, Message string
}

type retryRow struct {
	At, Who, Reason, Backoff string
	Attempt                  int
}

type phaseRow struct {
	Phase, From, To, Wall, Sum string
	Count                      int
	BarX, BarW                 float64
}

type imageRow struct {
	Image, Services, Source, Took, Ready string
}

type htmlView struct {
	M            Metrics
	Title        string
	OutcomeColor string
	Started      string
	Duration     string
	Cards        []card
	Gantt        ganttSVG
	Rows         []serviceRow
	Failures     []Service
	Replaced     []Service
	RollbackText string
	Skipped      []Service
	Chips        []pathChip
	PathSummary  string
	PlannedPath  string
	Retries      []retryRow
	Warnings     []noteRow
	Phases       []phaseRow
	Images       []imageRow
	HasHistory   bool
	Trend        trendSVG
	Summary      Summary
	TrendText    string
	CoreFailed   []string
	Legend       []legendItem
	TrendLegend  []legendItem
	SchemaVer    int
}

type legendItem struct {
	Label, Color, Kind string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{"f1": f1, "secs": func(ms float64) float64 { return ms / 1000 }, "deref": func(p *float64) float64 { return *p }}).Parse(htmlTemplate))

// WriteHTML writes report.html: a self-contained page (inline CSS and SVG,
// no scripts, no external assets) with the deploy summary, an SVG Gantt
// timeline, the critical path, the service table, failures, warnings,
// phases and, when hist is not empty, an SVG trend of deploy durations.
func WriteHTML(w io.Writer, m Metrics, hist []HistoryEntry) error {
	return htmlTmpl.Execute(w, buildHTMLView(m, hist))
}

func buildHTMLView(m Metrics, hist []HistoryEntry) htmlView {
	v := htmlView{
		M:            m,
		Title:        fmt.Sprintf("dive deploy · %s · %s", orDash(m.Project), m.Outcome),
		OutcomeColor: deployColor(m.Outcome),
		Started:      m.StartedAt.UTC().Format("Mon 2 Jan 2006, 15:04:05 UTC"),
		Duration:     fmtSeconds(m.DurationMS),
		Gantt:        buildGantt(m),
		SchemaVer:    m.SchemaVersion,
	}
	v.addCards(m)
	v.addServiceRows(m)
	v.addPath(m)
	v.addTables(m)
	if len(hist) > 0 {
		v.addHistory(m, hist)
	}
	return v
}

// addCards sets the summary cards and the legend of the chart.
func (v *htmlView) addCards(m Metrics) {
	t := m.Totals
	up := t.Ready + t.Reused
	cp := m.CriticalPath
	notUp := t.Failed + t.Skipped + t.Pending
	v.Cards = []card{
		{Label: "Duration", Value: fmtSeconds(m.DurationMS), Sub: "start → finish", Accent: v.OutcomeColor},
		{Label: "Services up", Value: fmt.Sprintf("%d / %d", up, t.Services), Sub: fmt.Sprintf("%d ready · %d reused", t.Ready, t.Reused), Accent: "#16a34a"},
		{Label: "Not up", Value: strconv.Itoa(notUp), Sub: nonZero("none", t.Failed, "failed", t.Skipped, "skipped", t.Pending, "pending"), Accent: accentIf(notUp > 0, "#dc2626")},
		{Label: "Critical path", Value: fmtSeconds(cp.LengthMS), Sub: plural(len(cp.Services), "service", "services"), Accent: "#0f172a"},
		{Label: "Start attempts", Value: strconv.Itoa(t.Attempts), Sub: retriesSub(t), Accent: accentIf(t.Retries+t.EngineRetries > 0, "#d97706")},
		{Label: "Warnings", Value: strconv.Itoa(t.Warnings), Sub: fmt.Sprintf("%s, %d built", plural(t.Images, "image", "images"), t.ImagesBuilt), Accent: accentIf(t.Warnings > 0, "#d97706")},
	}
	v.Legend = []legendItem{
		{Label: "waiting on dependencies", Kind: "wait"},
		{Label: "creating container", Color: "#94a3b8", Kind: "create"},
		{Label: "starting: ready", Color: outcomePalette[OutcomeReady].Strong},
		{Label: "starting: failed", Color: outcomePalette[OutcomeFailed].Strong},
		{Label: "starting: still pending", Color: outcomePalette[OutcomePending].Strong},
		{Label: "up (ready)", Color: outcomePalette[OutcomeReady].Tint},
		{Label: "up (reused)", Color: outcomePalette[OutcomeReused].Tint},
		{Label: "critical path", Kind: "critical"},
	}
}

// addServiceRows adds one row per service, and the failed and skipped ones.
func (v *htmlView) addServiceRows(m Metrics) {
	cp := m.CriticalPath
	onPath := map[string]bool{}
	for _, s := range cp.Services {
		onPath[s] = true
	}
	for _, s := range m.Services {
		pal := paletteOf(s.Outcome)
		end, took := serviceEndShort(s)
		r := serviceRow{S: s, Pill: s.Outcome, PillBg: pal.Tint, PillFg: pal.Text, Start: fmtOffset(s.StartIssuedOffsetMS), End: end, Took: took,
			Waited: fmtSecondsPtr(s.WaitMS), Lag: fmtMS(s.DetectionLagMS), CPU: fmtPercent(s.CPUPeakPercent), Mem: fmtBytes(s.MemPeakBytes),
			Critical: onPath[s.Name], Retries: len(s.Retries)}
		switch s.Outcome {
		case OutcomeFailed:
			r.Note = s.FailureReason
			v.Failures = append(v.Failures, s)
			if isCore(s.Class) {
				v.CoreFailed = append(v.CoreFailed, fmt.Sprintf("Core service %s failed at %s, so the path covers only the services that became ready.", s.Name, fmtOffset(s.FailedOffsetMS)))
			}
		case OutcomeSkipped:
			r.Note = s.SkipReason
			v.Skipped = append(v.Skipped, s)
		}
		if s.Replaced != "" || s.RolledBack != "" {
			v.Replaced = append(v.Replaced, s)
		}
		v.Rows = append(v.Rows, r)
	}
	switch m.RolledBack {
	case "complete":
		v.RollbackText = "Rolled back after " + m.RollbackCause + " failed: the hub runs the previous configuration."
	case "incomplete":
		v.RollbackText = "The rollback after " + m.RollbackCause + " failed did not complete: see what each service runs."
	case "services":
		v.RollbackText = "Optional/stretch services that failed were rolled back alone."
	}
}

// addPath sets the chips and the summary of the critical path.
func (v *htmlView) addPath(m Metrics) {
	cp := m.CriticalPath
	for i, l := range cp.Links {
		c := pathChip{Service: l.Service, Class: l.Class, Took: fmtSeconds(l.TimeToReadyMS), First: i == 0}
		if l.Outcome == OutcomeReused {
			c.Took = "reused"
		}
		if i > 0 {
			c.Handoff = "+" + fmtSeconds(l.HandoffMS)
			if l.HandoffMS < 0 {
				c.Handoff = fmtSeconds(l.HandoffMS)
			}
		}
		v.Chips = append(v.Chips, c)
	}
	if len(cp.Links) > 0 {
		v.PathSummary = fmt.Sprintf("%s from the first start to the last ready: %s inside the services, %s between a dependency being ready and dive starting the next one. Before the first start: %s of images, networks and containers.",
			fmtSeconds(cp.LengthMS), fmtSeconds(cp.BootMS), fmtSeconds(cp.HandoffMS), fmtSeconds(cp.LeadInMS))
		if len(m.PlannedPath) > 0 && strings.Join(m.PlannedPath, ",") != strings.Join(cp.Services, ",") {
			v.PlannedPath = strings.Join(m.PlannedPath, " → ")
		}
	}
}

// addTables adds the rows of the retries, warnings, phases and images tables.
func (v *htmlView) addTables(m Metrics) {
	for _, s := range m.Services {
		for _, r := range s.Retries {
			v.Retries = append(v.Retries, retryRow{At: "+" + fmtSeconds(r.OffsetMS), Who: s.Name, Attempt: r.Attempt, Reason: r.Reason, Backoff: fmtMS(fptr(r.BackoffMS))})
		}
	}
	for _, r := range m.EngineRetries {
		v.Retries = append(v.Retries, retryRow{At: "+" + fmtSeconds(r.OffsetMS), Who: "engine: " + r.Op, Attempt: r.Attempt, Reason: r.Reason, Backoff: fmtMS(fptr(r.BackoffMS))})
	}
	for _, n := range m.Warnings {
		v.Warnings = append(v.Warnings, noteRow{At: "+" + fmtSeconds(n.OffsetMS), Service: n.Service, Message: n.Message})
	}
	total := m.DurationMS
	if total <= 0 {
		total = 1
	}
	for _, p := range m.Phases {
		v.Phases = append(v.Phases, phaseRow{Phase: p.Phase, Count: p.Count, From: "+" + fmtSeconds(p.FirstOffsetMS), To: "+" + fmtSeconds(p.LastOffsetMS),
			Wall: fmtSeconds(p.WallMS), Sum: fmtSeconds(p.SumMS), BarX: p.FirstOffsetMS / total * 200, BarW: max(1.5, (p.LastOffsetMS-p.FirstOffsetMS)/total*200)})
	}
	for _, img := range m.Images {
		v.Images = append(v.Images, imageRow{Image: img.Image, Services: strings.Join(img.Services, ", "), Source: imageSource(img), Took: fmtSeconds(img.DurationMS), Ready: fmtOffset(img.ReadyOffsetMS)})
	}
}

// addHistory sets the trend of the project's deploys, this one included.
func (v *htmlView) addHistory(m Metrics, hist []HistoryEntry) {
	all := withCurrent(hist, m)
	v.HasHistory = true
	v.Trend = buildTrend(all, m.DeployID)
	v.Summary = Summarize(all, HistoryWindow)
	tr := v.Summary.Trend
	if tr.Verdict == "unknown" {
		v.TrendText = fmt.Sprintf("Not enough deploys yet to compare the last %d with the %d before.", tr.Window, tr.Window)
	} else {
		v.TrendText = fmt.Sprintf("%s: p50 of the last %d successful deploys is %s against %s for the %d before (%+.1f %%; mean %+.1f %%).",
			strings.ToUpper(tr.Verdict[:1])+tr.Verdict[1:], tr.RecentCount, fmtSeconds(tr.RecentP50MS), fmtSeconds(tr.PreviousP50MS), tr.PreviousCount, tr.DeltaP50Percent, tr.DeltaMeanPercent)
	}
	for _, o := range []string{DeploySuccess, DeployDegraded, DeployFailed, DeployInterrupted} {
		v.TrendLegend = append(v.TrendLegend, legendItem{Label: o, Color: deployColor(o)})
	}
}

func retriesSub(t Totals) string {
	if t.Retries+t.EngineRetries == 0 {
		return "no retries"
	}
	var parts []string
	if t.Retries > 0 {
		parts = append(parts, plural(t.Retries, "retry", "retries"))
	}
	if t.EngineRetries > 0 {
		parts = append(parts, plural(t.EngineRetries, "engine retry", "engine retries"))
	}
	return strings.Join(parts, " · ")
}

// nonZero lists the non-zero counts: nonZero("none", 1, "failed", 0, "skipped") is "1 failed".
func nonZero(none string, kv ...any) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if n := kv[i].(int); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, kv[i+1].(string)))
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, " · ")
}

func accentIf(cond bool, color string) string {
	if cond {
		return color
	}
	return "#cbd5e1"
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="dive report schema v{{.SchemaVer}}">
<title>{{.Title}}</title>
<style>
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f1f5f9; --card:#ffffff; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; background:var(--bg); color:var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 24px 40px; }
header.top { display:flex; align-items:flex-start; justify-content:space-between; gap:16px; margin-bottom:18px; }
h1 { font-size: 22px; margin: 0 0 4px; letter-spacing: -0.01em; }
h1 .project { font-weight: 800; }
h1 .dim { color: var(--muted); font-weight: 500; }
.meta { color: var(--muted); font-size: 13px; }
.meta code { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; font-size: 12.5px; color: #334155; background:#e2e8f0; padding: 1px 6px; border-radius: 4px; }
.badge { display:inline-block; padding: 6px 14px; border-radius: 999px; color:#fff; font-weight: 700; font-size: 13px; letter-spacing: .04em; text-transform: uppercase; white-space: nowrap; }
.error { background:#fef2f2; border:1px solid #fecaca; color:#7f1d1d; border-radius:8px; padding:10px 14px; margin: 0 0 16px; }
.cards { display:grid; grid-template-columns: repeat(6, minmax(0,1fr)); gap: 12px; margin-bottom: 18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding: 10px 14px 11px; border-top: 3px solid var(--accent, #cbd5e1); }
.card .label { color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .06em; font-weight: 600; }
.card .value { font-size: 22px; font-weight: 700; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
section.panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding: 16px 18px 14px; margin-bottom: 18px; }
section.panel h2 { font-size: 15px; margin: 0 0 2px; }
section.panel p.lead { color: var(--muted); margin: 0 0 10px; font-size: 13px; }
svg.chart { display:block; width:100%; height:auto; }
svg.chart text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
.legend { display:flex; flex-wrap:wrap; gap: 6px 18px; margin-top: 8px; color:#475569; font-size: 12.5px; }
.legend span.sw { display:inline-block; width:14px; height:10px; border-radius:2px; vertical-align:-1px; margin-right:6px; }
.legend span.sw.wait { background: repeating-linear-gradient(135deg, #cbd5e1 0 2px, #e2e8f0 2px 5px); }
.legend span.sw.create { height:4px; vertical-align: 2px; }
.legend span.sw.critical { background:#fff; border: 1.5px solid #0f172a; }
.scroll { overflow-x: auto; }
table { width:100%; border-collapse: collapse; font-size: 13px; }
th { text-align:left; color: var(--muted); font-weight: 600; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; border-bottom: 1px solid var(--line); padding: 6px 6px; vertical-align: bottom; }
td { border-bottom: 1px solid #f1f5f9; padding: 6px 6px; vertical-align: baseline; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.svc { font-weight: 600; white-space: nowrap; }
td.svc .note { white-space: normal; font-weight: 500; max-width: 220px; }
td.svc .cp { color:#0f172a; font-size: 11px; margin-left: 4px; }
.pill { display:inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.cls { color: var(--muted); font-size: 12px; }
.note { color: #7f1d1d; font-size: 12px; }
.chips { display:flex; flex-wrap: wrap; align-items:center; gap: 6px; margin: 4px 0 10px; }
.chip { border:1.5px solid #0f172a; border-radius: 8px; padding: 4px 10px; background:#f8fafc; }
.chip b { font-weight: 700; }
.chip .t { color:#334155; font-variant-numeric: tabular-nums; margin-left: 6px; }
.chip .c { color: var(--muted); font-size: 11.5px; margin-left: 6px; }
.arrow { color:#475569; font-size: 12px; text-align:center; line-height: 1.1; }
.arrow small { display:block; color: var(--muted); font-size: 11px; }
.fail { border-left: 4px solid #dc2626; padding: 8px 12px; margin: 10px 0; background: #fff7f7; border-radius: 0 8px 8px 0; }
.fail h3 { margin: 0 0 4px; font-size: 14px; }
.fail .facts { color:#7f1d1d; font-size: 13px; }
.fail .hint { margin-top: 4px; font-size: 13px; }
pre { background:#0f172a; color:#e2e8f0; border-radius: 6px; padding: 8px 10px; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; overflow-x:auto; white-space: pre-wrap; word-break: break-word; margin: 6px 0 0; }
.cols { display:grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.cols section.panel { margin-bottom: 0; }
ul.plain { margin: 4px 0 0; padding-left: 18px; }
ul.plain li { margin: 3px 0; }
.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(3, minmax(0,1fr)); } .cols { grid-template-columns: 1fr; } }
@media print { body { background:#fff; } section.panel, .card { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<header class="top">
  <div>
    <h1><span class="dim">dive deploy ·</span> <span class="project">{{.M.Project}}</span></h1>
    <div class="meta">deploy <code>{{.M.DeployID}}</code> · started {{.Started}} · {{.Duration}}</div>
  </div>
  <span class="badge" style="background: {{.OutcomeColor}}">{{.M.Outcome}}</span>
</header>
{{if .M.Error}}<div class="error"><b>Error:</b> {{.M.Error}}</div>{{end}}

<div class="cards">
{{range .Cards}}  <div class="card" style="--accent: {{.Accent}}"><div class="label">{{.Label}}</div><div class="value">{{.Value}}</div><div class="sub">{{.Sub}}</div></div>
{{end}}</div>

<section class="panel" id="timeline">
  <h2>Timeline</h2>
  <p class="lead">One bar per service, in the order they started. Hatched: waiting on dependencies; solid: starting (start issued → ready); light: up until the end of the deploy. Dashed lines follow the critical path.</p>
  <svg class="chart gantt" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{f1 .Gantt.Width}} {{f1 .Gantt.Height}}" width="{{f1 .Gantt.Width}}" height="{{f1 .Gantt.Height}}" role="img" aria-label="Deploy timeline">
    <defs>
      <pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
        <rect width="6" height="6" fill="#e2e8f0"/>
        <line x1="0" y1="0" x2="0" y2="6" stroke="#a3b1c4" stroke-width="2"/>
      </pattern>
    </defs>
    {{- range .Gantt.Rows}}{{if .Stripe}}
    <rect x="0" y="{{f1 .Y}}" width="{{f1 $.Gantt.Width}}" height="30" fill="#f8fafc"/>{{end}}{{end}}
    {{- range .Gantt.Grid}}
    <line x1="{{f1 .X1}}" y1="{{f1 .Y1}}" x2="{{f1 .X2}}" y2="{{f1 .Y2}}" stroke="{{.Stroke}}" stroke-width="{{f1 .Width}}"/>{{end}}
    {{- range .Gantt.Ticks}}
    <text x="{{f1 .X}}" y="{{f1 .Y}}" text-anchor="{{.Anchor}}" fill="{{.Fill}}" font-size="{{f1 .Size}}">{{.Text}}</text>{{end}}
    <line x1="{{f1 .Gantt.PlotX}}" y1="{{f1 .Gantt.RowsY}}" x2="{{f1 .Gantt.PlotX}}" y2="{{f1 .Gantt.BottomY}}" stroke="#94a3b8" stroke-width="1"/>
    {{- range .Gantt.Rows}}
    <g class="gantt-row" data-service="{{.Service}}" data-outcome="{{.Outcome}}">
      <title>{{.RowTitle}}</title>
      <text x="{{f1 $.Gantt.LabelX}}" y="{{f1 .LabelY}}" font-size="13" fill="#0f172a" font-weight="{{if .Critical}}700{{else}}500{{end}}">{{.Service}}</text>
      <text x="{{f1 $.Gantt.ClassX}}" y="{{f1 .LabelY}}" font-size="11" fill="#94a3b8" text-anchor="end">{{.ClassName}}</text>
      {{- range .Rects}}
      <rect class="{{.Class}}" x="{{f1 .X}}" y="{{f1 .Y}}" width="{{f1 .W}}" height="{{f1 .H}}" rx="{{f1 .Rx}}" fill="{{if .Pattern}}{{.Pattern}}{{else}}{{.Fill}}{{end}}"{{if .Stroke}} stroke="{{.Stroke}}" stroke-width="{{f1 .StrokeW}}"{{end}}><title>{{.Title}}</title></rect>{{end}}
      {{- range .Texts}}
      <text class="{{.Class}}" x="{{f1 .X}}" y="{{f1 .Y}}" text-anchor="{{.Anchor}}" font-size="{{f1 .Size}}" font-weight="{{.Weight}}" fill="{{.Fill}}"{{if .Halo}} stroke="{{.Halo}}" stroke-width="3.5" stroke-linejoin="round" paint-order="stroke"{{end}}>{{.Text}}</text>{{end}}
    </g>{{end}}
    {{- range .Gantt.Links}}
    <path d="{{.D}}" fill="none" stroke="{{.Stroke}}" stroke-width="{{f1 .Width}}" stroke-dasharray="{{.Dash}}"/>{{end}}
    <line x1="{{f1 .Gantt.EndLine.X1}}" y1="{{f1 .Gantt.EndLine.Y1}}" x2="{{f1 .Gantt.EndLine.X2}}" y2="{{f1 .Gantt.EndLine.Y2}}" stroke="{{.Gantt.EndLine.Stroke}}" stroke-width="{{f1 .Gantt.EndLine.Width}}" stroke-dasharray="{{.Gantt.EndLine.Dash}}"/>
    <text x="{{f1 .Gantt.EndLabel.X}}" y="{{f1 .Gantt.EndLabel.Y}}" font-size="{{f1 .Gantt.EndLabel.Size}}" font-weight="600" fill="{{.Gantt.EndLabel.Fill}}">{{.Gantt.EndLabel.Text}}</text>
  </svg>
  <div class="legend">{{range .Legend}}<span><span class="sw {{.Kind}}"{{if .Color}} style="background: {{.Color}}"{{end}}></span>{{.Label}}</span>{{end}}</div>
</section>

<section class="panel" id="critical-path">
  <h2>Critical path</h2>
  {{- if .Chips}}
  <p class="lead">Walking back from the core service that became ready last, through the dependency that became ready last. {{.PathSummary}}</p>
  <div class="chips">{{range .Chips}}{{if not .First}}<div class="arrow">→<small>{{.Handoff}}</small></div>{{end}}<div class="chip"><b>{{.Service}}</b><span class="t">{{.Took}}</span><span class="c">{{.Class}}</span></div>{{end}}</div>
  {{- if .PlannedPath}}<p class="muted">The plan expected {{.PlannedPath}}.</p>{{end}}
  {{- range .CoreFailed}}<p class="note">{{.}}</p>{{end}}
  {{- else}}
  <p class="lead">No service became ready, so there is no critical path.</p>
  {{- end}}
</section>

<section class="panel" id="services">
  <h2>Services</h2>
  <p class="lead">Times are offsets from the deploy start. Start → ready runs from dive issuing the start to dive seeing the service ready; lag is how late dive saw it.</p>
  <div class="scroll"><table>
    <thead><tr><th>Service</th><th>Class</th><th>Outcome</th><th class="num">Start issued</th><th class="num">Ready / ended</th><th class="num">Start → ready</th><th class="num">Waited</th><th>Signal</th><th class="num">Lag</th><th class="num">Attempts</th><th class="num">CPU peak</th><th class="num">Mem peak</th></tr></thead>
    <tbody>
    {{- range .Rows}}
      <tr data-service="{{.S.Name}}"><td class="svc">{{.S.Name}}{{if .Critical}}<span class="cp" title="on the critical path">◆</span>{{end}}{{if .Note}}<div class="note">{{.Note}}</div>{{end}}</td><td class="cls">{{.S.Class}}</td><td><span class="pill" style="background: {{.PillBg}}; color: {{.PillFg}}">{{.Pill}}</span></td><td class="num">{{.Start}}</td><td class="num">{{.End}}</td><td class="num">{{.Took}}</td><td class="num">{{.Waited}}</td><td>{{.S.ReadySignal}}</td><td class="num">{{.Lag}}</td><td class="num"{{if .Retries}} title="{{.Retries}} retried"{{end}}>{{.S.Attempts}}</td><td class="num">{{.CPU}}</td><td class="num">{{.Mem}}</td></tr>
    {{- end}}
    </tbody>
  </table></div>
  <p class="muted" style="margin: 6px 0 0; font-size: 12px">◆ on the critical path.</p>
</section>

{{- if .Failures}}
<section class="panel" id="failures">
  <h2>Failures</h2>
  {{- range .Failures}}
  <div class="fail">
    <h3>{{.Name}} <span class="cls">{{.Class}}</span>: {{.FailureReason}}</h3>
    <div class="facts">{{if .ExitCode}}exit code {{.ExitCode}} · {{end}}{{if .OOMKilled}}OOM-killed · {{end}}{{.Attempts}} attempts</div>
    {{- if .Hint}}<div class="hint"><b>Hint:</b> {{.Hint}}</div>{{end}}
    {{- if .HealthOutput}}<div class="hint">Last health check output:</div><pre>{{.HealthOutput}}</pre>{{end}}
    {{- if .LogsTail}}<div class="hint">Last log lines:</div><pre>{{.LogsTail}}</pre>{{end}}
  </div>
  {{- end}}
</section>
{{- end}}

{{- if .Replaced}}
<section class="panel" id="rollback">
  <h2>Replaced and rolled back</h2>
  {{- if .RollbackText}}<p class="lead"><b>{{.RollbackText}}</b></p>{{end}}
  <div class="scroll"><table>
    <thead><tr><th>Service</th><th>Previous container</th><th>Kept</th><th>Rollback</th><th class="num">Failure → ready again</th><th class="num">Restart → ready</th><th>Runs now</th></tr></thead>
    <tbody>
    {{- range .Replaced}}
      <tr data-rollback="{{.Name}}"><td class="svc">{{.Name}}</td><td>{{.KeptContainer}}</td><td>{{.Replaced}}</td><td>{{if .RolledBack}}{{.RolledBack}}{{else}}–{{end}}</td><td class="num">{{if .RollbackSinceFailureMS}}{{f1 (secs (deref .RollbackSinceFailureMS))}} s{{else}}–{{end}}</td><td class="num">{{if .RollbackReadyMS}}{{f1 (secs (deref .RollbackReadyMS))}} s{{else}}–{{end}}</td><td>{{.RollbackRuns}}</td></tr>
    {{- end}}
    </tbody>
  </table></div>
</section>
{{- end}}

{{- if .Skipped}}
<section class="panel" id="skipped">
  <h2>Skipped</h2>
  <ul class="plain">{{range .Skipped}}<li><b>{{.Name}}</b>: {{.SkipReason}}{{if .SkipBecause}} <span class="muted">(because of {{range $i, $b := .SkipBecause}}{{if $i}}, {{end}}{{$b}}{{end}})</span>{{end}}</li>{{end}}</ul>
</section>
{{- end}}

<div class="cols">
<section class="panel" id="warnings">
  <h2>Warnings and retries</h2>
  {{- if or .Warnings .Retries}}
  <ul class="plain">
  {{- range .Warnings}}<li><span class="muted">{{.At}}</span> {{if .Service}}<b>{{.Service}}</b>: {{end}}{{.Message}}</li>{{end}}
  {{- range .Retries}}<li><span class="muted">{{.At}}</span> <b>{{.Who}}</b> retry after attempt {{.Attempt}}: {{.Reason}} <span class="muted">(backoff {{.Backoff}})</span></li>{{end}}
  </ul>
  {{- else}}<p class="lead">None.</p>{{end}}
</section>
<section class="panel" id="phases">
  <h2>Phases</h2>
  <table>
    <thead><tr><th>Phase</th><th class="num">Count</th><th>Span</th><th class="num">From</th><th class="num">To</th><th class="num">Wall</th><th class="num">Sum</th></tr></thead>
    <tbody>
    {{- range .Phases}}
      <tr><td>{{.Phase}}</td><td class="num">{{.Count}}</td><td><svg xmlns="http://www.w3.org/2000/svg" width="120" height="10" viewBox="0 0 200 10" preserveAspectRatio="none"><rect x="0" y="3" width="200" height="4" fill="#f1f5f9"/><rect x="{{f1 .BarX}}" y="1" width="{{f1 .BarW}}" height="8" rx="2" fill="#64748b"/></svg></td><td class="num">{{.From}}</td><td class="num">{{.To}}</td><td class="num">{{.Wall}}</td><td class="num">{{.Sum}}</td></tr>
    {{- end}}
    </tbody>
  </table>
</section>
</div>

{{- if .Images}}
<section class="panel" id="images" style="margin-top: 18px">
  <h2>Images</h2>
  <table>
    <thead><tr><th>Image</th><th>Services</th><th>Source</th><th class="num">Took</th><th class="num">Ready at</th></tr></thead>
    <tbody>
    {{- range .Images}}
      <tr><td><code>{{.Image}}</code></td><td>{{.Services}}</td><td>{{.Source}}</td><td class="num">{{.Took}}</td><td class="num">{{.Ready}}</td></tr>
    {{- end}}
    </tbody>
  </table>
</section>
{{- end}}

{{- if .HasHistory}}
<section class="panel" id="trend" style="margin-top: 18px">
  <h2>Deploy duration trend</h2>
  <p class="lead">{{if eq .Trend.Shown .Trend.Count}}All {{.Trend.Count}}{{else}}The {{.Trend.Shown}} most recent of {{.Trend.Count}}{{end}} deploys of {{.M.Project}}. {{.TrendText}}</p>
  <svg class="chart trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{f1 .Trend.Width}} {{f1 .Trend.Height}}" width="{{f1 .Trend.Width}}" height="{{f1 .Trend.Height}}" role="img" aria-label="Deploy durations">
    {{- range .Trend.YGrid}}
    <line x1="{{f1 .X1}}" y1="{{f1 .Y1}}" x2="{{f1 .X2}}" y2="{{f1 .Y2}}" stroke="{{.Stroke}}" stroke-width="{{f1 .Width}}"/>{{end}}
    {{- range .Trend.YTicks}}
    <text x="{{f1 .X}}" y="{{f1 .Y}}" text-anchor="{{.Anchor}}" fill="{{.Fill}}" font-size="{{f1 .Size}}">{{.Text}}</text>{{end}}
    <line x1="{{f1 .Trend.Baseline.X1}}" y1="{{f1 .Trend.Baseline.Y1}}" x2="{{f1 .Trend.Baseline.X2}}" y2="{{f1 .Trend.Baseline.Y2}}" stroke="{{.Trend.Baseline.Stroke}}" stroke-width="1"/>
    {{- range .Trend.Bars}}
    <g class="trend-bar">
      <rect x="{{f1 .X}}" y="{{f1 .Y}}" width="{{f1 .W}}" height="{{f1 .H}}" rx="3" fill="{{.Fill}}"{{if .StrokeColor}} stroke="{{.StrokeColor}}" stroke-width="2"{{end}}><title>{{.Title}}</title></rect>
      {{- if .ShowValue}}
      <text x="{{f1 .Value.X}}" y="{{f1 .Value.Y}}" text-anchor="middle" font-size="{{f1 .Value.Size}}" fill="{{.Value.Fill}}"{{if .Value.Weight}} font-weight="{{.Value.Weight}}"{{end}}>{{.Value.Text}}</text>{{end}}
      {{- if .ShowLabel}}
      <text x="{{f1 .Label.X}}" y="{{f1 .Label.Y}}" text-anchor="middle" font-size="{{f1 .Label.Size}}" fill="{{.Label.Fill}}"{{if .Label.Weight}} font-weight="{{.Label.Weight}}"{{end}}>{{.Label.Text}}</text>
      <text x="{{f1 .LabelLine2.X}}" y="{{f1 .LabelLine2.Y}}" text-anchor="middle" font-size="{{f1 .LabelLine2.Size}}" fill="{{.LabelLine2.Fill}}">{{.LabelLine2.Text}}</text>{{end}}
    </g>{{end}}
    {{- if .Trend.P50}}
    <line x1="{{f1 .Trend.P50.X1}}" y1="{{f1 .Trend.P50.Y1}}" x2="{{f1 .Trend.P50.X2}}" y2="{{f1 .Trend.P50.Y2}}" stroke="{{.Trend.P50.Stroke}}" stroke-width="{{f1 .Trend.P50.Width}}" stroke-dasharray="{{.Trend.P50.Dash}}"/>
    <text x="{{f1 .Trend.P50Label.X}}" y="{{f1 .Trend.P50Label.Y}}" font-size="{{f1 .Trend.P50Label.Size}}" font-weight="600" fill="{{.Trend.P50Label.Fill}}">{{.Trend.P50Label.Text}}</text>{{end}}
  </svg>
  <div class="legend">{{range .TrendLegend}}<span><span class="sw" style="background: {{.Color}}"></span>{{.Label}}</span>{{end}}<span><span class="sw critical"></span>this deploy</span><span><span class="sw" style="background: #2563eb; height: 2px; vertical-align: 3px"></span>p50 of successful deploys</span></div>
  {{- if .Summary.Services}}
  <table style="margin-top: 12px">
    <thead><tr><th>Service</th><th>Class</th><th class="num">Times ready</th><th class="num">p50 start → ready</th><th class="num">p95</th><th class="num">p99</th><th class="num">Failures</th></tr></thead>
    <tbody>
    {{- range .Summary.Services}}
      <tr><td class="svc">{{.Service}}</td><td class="cls">{{.Class}}</td><td class="num">{{.TimeToReady.Count}}</td><td class="num">{{if .TimeToReady.Count}}{{f1 (secs .TimeToReady.P50MS)}} s{{else}}–{{end}}</td><td class="num">{{if .TimeToReady.Count}}{{f1 (secs .TimeToReady.P95MS)}} s{{else}}–{{end}}</td><td class="num">{{if .TimeToReady.Count}}{{f1 (secs .TimeToReady.P99MS)}} s{{else}}–{{end}}</td><td class="num">{{.Failures}}</td></tr>
    {{- end}}
    </tbody>
  </table>
  <p class="muted" style="margin: 6px 0 0; font-size: 12px">Percentiles are empirical: the smallest observed value whose share of samples at or below it is at least p.</p>
  {{- end}}
</section>
{{- end}}

<footer>Generated by dive from the deploy's events (metrics schema v{{.SchemaVer}}). Self-contained: no scripts, no external assets.</footer>
</main>
</body>
</html>
`
