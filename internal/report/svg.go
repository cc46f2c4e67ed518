package report

import (
	"fmt"
	"math"
	"strings"
)

// Geometry and colours of the two SVG charts. Everything is computed here;
// the HTML template only places numbers and strings.

type palette struct{ Strong, Tint, Text string }

var outcomePalette = map[string]palette{
	OutcomeReady:   {Strong: "#16a34a", Tint: "#bbf7d0", Text: "#14532d"},
	OutcomeReused:  {Strong: "#0d9488", Tint: "#99f6e4", Text: "#134e4a"},
	OutcomeFailed:  {Strong: "#dc2626", Tint: "#fecaca", Text: "#7f1d1d"},
	OutcomePending: {Strong: "#d97706", Tint: "#fde68a", Text: "#78350f"},
	OutcomeSkipped: {Strong: "#94a3b8", Tint: "#e2e8f0", Text: "#475569"},
}

var deployPalette = map[string]string{
	DeploySuccess:     "#16a34a",
	DeployDegraded:    "#d97706",
	DeployFailed:      "#dc2626",
	DeployInterrupted: "#64748b",
	DeployIncomplete:  "#94a3b8",
}

func deployColor(outcome string) string {
	if c, ok := deployPalette[outcome]; ok {
		return c
	}
	return "#94a3b8"
}

func paletteOf(outcome string) palette {
	if p, ok := outcomePalette[outcome]; ok {
		return p
	}
	return outcomePalette[OutcomePending]
}

type svgRect struct {
	X, Y, W, H   float64
	Fill, Stroke string
	StrokeW, Rx  float64
	Class, Title string
	Pattern      string
}

type svgText struct {
	X, Y         float64
	Text, Anchor string
	Fill, Weight string
	Size         float64
	Class, Halo  string
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Stroke         string
	Width          float64
	Dash           string
}

type svgPath struct {
	D, Stroke, Fill string
	Width           float64
	Dash            string
}

type ganttRow struct {
	Service   string
	Y, Mid    float64
	Stripe    bool
	Rects     []svgRect
	Texts     []svgText
	Critical  bool
	Outcome   string
	RowTitle  string
	LabelY    float64
	ClassName string
}

type ganttSVG struct {
	Width, Height  float64
	PlotX, PlotW   float64
	AxisY, RowsY   float64
	Ticks          []svgText
	Grid           []svgLine
	Rows           []ganttRow
	Links          []svgPath
	EndLine        svgLine
	EndLabel       svgText
	Bars           int
	LabelX, ClassX float64
	BottomY        float64
}

const (
	ganttWidth  = 1120.0
	ganttLabelW = 200.0
	ganttRight  = 150.0
	ganttRowH   = 30.0
	ganttBarH   = 16.0
	ganttAxisH  = 34.0
)

func buildGantt(m Metrics) ganttSVG {
	total := math.Max(m.DurationMS, 1)
	svcs := ganttOrder(m.Services)
	g := ganttSVG{Width: ganttWidth, PlotX: ganttLabelW, PlotW: ganttWidth - ganttLabelW - ganttRight, AxisY: 22, RowsY: ganttAxisH, LabelX: 14, ClassX: ganttLabelW - 14}
	g.Height = ganttAxisH + float64(len(svcs))*ganttRowH + 12
	x := func(ms float64) float64 { return g.PlotX + ms/total*g.PlotW }
	rowsBottom := ganttAxisH + float64(len(svcs))*ganttRowH
	ganttAxis(&g, total, rowsBottom, x)

	onPath := map[string]bool{}
	for _, s := range m.CriticalPath.Services {
		onPath[s] = true
	}
	mid := map[string]float64{}
	for i, s := range svcs {
		row := ganttRowOf(s, i, onPath[s.Name], x, total, g.PlotX)
		mid[s.Name] = row.Mid
		g.Rows = append(g.Rows, row)
	}
	g.Bars = len(g.Rows)
	g.Links = ganttLinks(m.CriticalPath.Links, mid, x)
	g.BottomY = rowsBottom
	return g
}

// ganttAxis sets the grid, the ticks and the end line of g; x maps an
// offset to its position.
func ganttAxis(g *ganttSVG, total, rowsBottom float64, x func(float64) float64) {
	step := niceStep(total/1000, 10)
	for v := 0.0; v*1000 <= total+1e-6; v += step {
		xx := x(v * 1000)
		g.Grid = append(g.Grid, svgLine{X1: xx, Y1: ganttAxisH - 6, X2: xx, Y2: rowsBottom, Stroke: "#e2e8f0", Width: 1})
		g.Ticks = append(g.Ticks, svgText{X: xx, Y: g.AxisY, Text: fmtTick(v, step), Anchor: "middle", Fill: "#64748b", Size: 12})
	}
	// Drop the last tick label when it would collide with the end label.
	if n := len(g.Ticks); n > 0 && x(total)-g.Ticks[n-1].X < 40 {
		g.Ticks[n-1].Text = ""
	}
	g.EndLine = svgLine{X1: x(total), Y1: ganttAxisH - 8, X2: x(total), Y2: rowsBottom, Stroke: "#334155", Width: 1.5, Dash: "4 3"}
	g.EndLabel = svgText{X: x(total) + 6, Y: g.AxisY, Text: "end " + compactSeconds(total), Anchor: "start", Fill: "#0f172a", Size: 12, Weight: "600"}
}

// ganttRowOf is row i of the chart: service s's bars and the label after
// them; critical says s is on the critical path.
func ganttRowOf(s Service, i int, critical bool, x func(float64) float64, total, plotX float64) ganttRow {
	y := ganttAxisH + float64(i)*ganttRowH
	row := ganttRow{Service: s.Name, Y: y, Mid: y + ganttRowH/2, Stripe: i%2 == 0, Critical: critical, Outcome: s.Outcome, LabelY: y + ganttRowH/2 + 4.5, ClassName: s.Class}
	pal := paletteOf(s.Outcome)
	barY := row.Mid - ganttBarH/2
	var lastEnd float64
	for _, seg := range segmentsOf(s, total) {
		r := svgRect{X: x(seg.from), Y: barY, W: math.Max(x(seg.to)-x(seg.from), 0), H: ganttBarH, Rx: 2}
		switch seg.kind {
		case segCreate:
			r.Y, r.H, r.Fill, r.Class = row.Mid-2, 4, "#94a3b8", "seg-create"
			r.Title = fmt.Sprintf("%s: creating container, %s", s.Name, fmtSeconds(seg.to-seg.from))
		case segWait:
			r.Fill, r.Pattern, r.Class = "#e2e8f0", "url(#hatch)", "seg-wait"
			r.Title = fmt.Sprintf("%s: waiting on %s for %s", s.Name, strings.Join(s.WaitingOn, ", "), fmtSeconds(seg.to-seg.from))
		case segStart:
			r.Fill, r.Class = pal.Strong, "seg-start"
			r.W = math.Max(r.W, 2)
			r.Title = fmt.Sprintf("%s: starting, %s (%s)", s.Name, fmtSeconds(seg.to-seg.from), s.Outcome)
			if critical {
				r.Stroke, r.StrokeW = "#0f172a", 1.5
			}
			lastEnd = x(seg.to)
		case segReady:
			r.Fill, r.Class = pal.Tint, "seg-ready"
			r.Title = fmt.Sprintf("%s: %s from +%s", s.Name, s.Outcome, fmtSeconds(seg.from))
			if lastEnd == 0 {
				lastEnd = x(seg.from)
			}
		}
		row.Rects = append(row.Rects, r)
	}
	// The rollback: the restored container's restart → ready again.
	if s.RolledBack == "restored" && s.RolledBackOffsetMS != nil && s.RollbackReadyMS != nil {
		end := *s.RolledBackOffsetMS
		from := math.Max(end-*s.RollbackReadyMS, 0)
		rb := svgRect{X: x(from), Y: barY, W: math.Max(x(end)-x(from), 2), H: ganttBarH, Rx: 2, Fill: "#7c3aed", Class: "seg-rollback",
			Title: fmt.Sprintf("%s: rolled back, its previous container ready again %s after the failure", s.Name, fmtSecondsPtr(s.RollbackSinceFailureMS))}
		row.Rects = append(row.Rects, rb)
		lastEnd = math.Max(lastEnd, x(end))
	}
	// The label after the bar: what happened and how long it took.
	label, weight := ganttLabel(s)
	if s.Outcome == OutcomeSkipped && s.SkippedOffsetMS != nil {
		lastEnd = x(*s.SkippedOffsetMS)
		row.Rects = append(row.Rects, svgRect{X: lastEnd - 4, Y: row.Mid - 4, W: 8, H: 8, Fill: pal.Strong, Rx: 1, Class: "seg-skip", Title: s.Name + ": skipped"})
	}
	if lastEnd == 0 {
		lastEnd = plotX
	}
	if label != "" {
		row.Texts = append(row.Texts, placeLabel(label, weight, pal, lastEnd, barStart(row.Rects), x(total), row.LabelY-0.5))
	}
	row.RowTitle = s.Name
	return row
}

// ganttLabel is the label after a service's bar and its font weight.
func ganttLabel(s Service) (label, weight string) {
	label, weight = "", "500"
	switch s.Outcome {
	case OutcomeReady:
		label = fmtSecondsPtr(s.TimeToReadyMS)
		if s.Attempts > 1 {
			label += fmt.Sprintf(" · %d attempts", s.Attempts)
		}
	case OutcomeReused:
		label = "reused"
	case OutcomeFailed:
		label = "✕ failed after " + fmtSecondsPtr(s.TimeToFailMS)
		if s.ExitCode != nil {
			label += fmt.Sprintf(" · exit %d", *s.ExitCode)
		}
		if s.OOMKilled {
			label += " · OOM"
		}
		weight = "600"
	case OutcomePending:
		label = "still starting"
		weight = "600"
	case OutcomeSkipped:
		label = "skipped"
		if s.SkipReason != "" {
			label += ": " + s.SkipReason
		}
	}
	switch s.RolledBack {
	case "":
		if s.Replaced != "" {
			label += " · replaced (previous kept " + s.Replaced + ")"
		}
	case "restored":
		label += " · ↺ rolled back in " + fmtSecondsPtr(s.RollbackSinceFailureMS)
	case "removed", "untouched":
		label += " · ↺ rolled back"
	case "failed":
		label += " · rollback failed"
		weight = "600"
	}
	return label, weight
}

// ganttLinks are the critical path connectors: from a link's ready point
// down to the next link's start.
func ganttLinks(links []Link, mid map[string]float64, x func(float64) float64) []svgPath {
	var out []svgPath
	for i := 1; i < len(links); i++ {
		a, b := links[i-1], links[i]
		ya, okA := mid[a.Service]
		yb, okB := mid[b.Service]
		if !okA || !okB {
			continue
		}
		xa, xb := x(a.ReadyOffsetMS), x(b.StartIssuedOffsetMS)
		dir := 1.0
		if yb < ya {
			dir = -1
		}
		y0 := ya + dir*ganttBarH/2
		y1 := yb - dir*ganttBarH/2
		out = append(out, svgPath{D: fmt.Sprintf("M%.1f %.1f V%.1f H%.1f", xa, y0, y1, math.Max(xb, xa)), Stroke: "#0f172a", Width: 1.25, Dash: "3 2", Fill: "none"})
	}
	return out
}

type trendBar struct {
	X, Y, W, H  float64
	Fill        string
	Current     bool
	Title       string
	Value       svgText
	Label       svgText
	LabelLine2  svgText
	ShowValue   bool
	ShowLabel   bool
	StrokeColor string
}

type trendSVG struct {
	Width, Height float64
	PlotX, PlotY  float64
	PlotW, PlotH  float64
	YTicks        []svgText
	YGrid         []svgLine
	Bars          []trendBar
	P50           *svgLine
	P50Label      svgText
	Baseline      svgLine
	Count         int
	Shown         int
}

const maxTrendBars = 30

func buildTrend(hist []HistoryEntry, currentID string) trendSVG {
	pts := hist
	if len(pts) > maxTrendBars {
		pts = pts[len(pts)-maxTrendBars:]
	}
	t := trendSVG{Width: ganttWidth, Height: 250, PlotX: 64, PlotY: 18, Count: len(hist), Shown: len(pts)}
	t.PlotW = t.Width - t.PlotX - 96
	t.PlotH = t.Height - t.PlotY - 52
	var maxMS float64
	var okDurs []float64
	for _, h := range pts {
		maxMS = math.Max(maxMS, h.Metrics.DurationMS)
		if h.Metrics.Succeeded() {
			okDurs = append(okDurs, h.Metrics.DurationMS)
		}
	}
	maxS := math.Max(maxMS/1000, 1)
	step := niceStep(maxS, 5)
	top := math.Ceil(maxS/step) * step
	if top < maxS*1.08 {
		top += step
	}
	y := func(ms float64) float64 { return t.PlotY + t.PlotH - ms/1000/top*t.PlotH }
	for v := 0.0; v <= top+1e-9; v += step {
		yy := y(v * 1000)
		t.YGrid = append(t.YGrid, svgLine{X1: t.PlotX, Y1: yy, X2: t.PlotX + t.PlotW, Y2: yy, Stroke: "#e2e8f0", Width: 1})
		t.YTicks = append(t.YTicks, svgText{X: t.PlotX - 8, Y: yy + 4, Text: fmtTick(v, step), Anchor: "end", Fill: "#64748b", Size: 12})
	}
	t.Baseline = svgLine{X1: t.PlotX, Y1: y(0), X2: t.PlotX + t.PlotW, Y2: y(0), Stroke: "#94a3b8", Width: 1}
	n := len(pts)
	if n == 0 {
		return t
	}
	slot := t.PlotW / float64(n)
	bw := math.Min(44, slot*0.68)
	labelEvery := int(math.Ceil(float64(n) / 10))
	for i, h := range pts {
		mm := h.Metrics
		cx := t.PlotX + slot*(float64(i)+0.5)
		b := trendBar{X: cx - bw/2, W: bw, Y: y(mm.DurationMS), Fill: deployColor(mm.Outcome), Current: mm.DeployID == currentID && currentID != ""}
		b.H = math.Max(y(0)-b.Y, 1)
		b.Y = y(0) - b.H
		b.Title = fmt.Sprintf("%s · %s · %s · %s", mm.DeployID, mm.StartedAt.UTC().Format("2006-01-02 15:04"), mm.Outcome, fmtSeconds(mm.DurationMS))
		b.ShowValue = n <= 16 || b.Current
		b.Value = svgText{X: cx, Y: b.Y - 6, Text: compactSeconds(mm.DurationMS), Anchor: "middle", Fill: "#334155", Size: 11}
		b.ShowLabel = (n-1-i)%labelEvery == 0 || b.Current
		lbl := mm.StartedAt.UTC().Format("Jan 2")
		lbl2 := mm.StartedAt.UTC().Format("15:04")
		if b.Current {
			lbl, lbl2 = "this deploy", mm.StartedAt.UTC().Format("Jan 2 15:04")
			b.StrokeColor = "#0f172a"
			b.Value.Weight = "700"
		}
		b.Label = svgText{X: cx, Y: y(0) + 17, Text: lbl, Anchor: "middle", Fill: "#475569", Size: 11}
		b.LabelLine2 = svgText{X: cx, Y: y(0) + 31, Text: lbl2, Anchor: "middle", Fill: "#94a3b8", Size: 10.5}
		if b.Current {
			b.Label.Fill, b.Label.Weight = "#0f172a", "700"
		}
		t.Bars = append(t.Bars, b)
	}
	if len(okDurs) > 0 {
		p50 := Percentile(okDurs, 0.5)
		yy := y(p50)
		t.P50 = &svgLine{X1: t.PlotX, Y1: yy, X2: t.PlotX + t.PlotW, Y2: yy, Stroke: "#2563eb", Width: 1.5, Dash: "6 4"}
		t.P50Label = svgText{X: t.PlotX + t.PlotW + 6, Y: yy + 4, Text: "p50 " + compactSeconds(p50), Anchor: "start", Fill: "#2563eb", Size: 12, Weight: "600"}
	}
	return t
}

// textWidth estimates the width of a bar label at 11.5 px.
func textWidth(s string) float64 { return float64(len([]rune(s))) * 6.4 }

// barStart is where the solid (starting) segment of a row begins.
func barStart(rects []svgRect) float64 {
	for _, r := range rects {
		if r.Class == "seg-start" {
			return r.X
		}
	}
	return -1
}

// placeLabel puts a bar's label where it stays readable: right after the
// starting segment; past the end-of-deploy line when it would straddle it;
// inside the segment (white on colour) when the right margin is too narrow;
// else left of the segment.
func placeLabel(label, weight string, pal palette, end, start, endLine, y float64) svgText {
	t := svgText{X: end + 6, Y: y, Text: label, Anchor: "start", Fill: pal.Text, Size: 11.5, Weight: weight, Class: "bar-label"}
	w := textWidth(label)
	switch {
	case end+6+w <= endLine-3:
		// Fits between the bar and the end line.
	case endLine+6+w <= ganttWidth-4:
		t.X = endLine + 6
	case start >= 0 && end-start >= w+12:
		t.X, t.Anchor, t.Fill, t.Halo = end-6, "end", "#ffffff", ""
		t.Weight = "600"
	case start >= 0 && start-6-w >= ganttLabelW:
		// Over the hatched waiting segment: a white halo keeps it legible.
		t.X, t.Anchor, t.Halo = start-6, "end", "#ffffff"
	default:
		t.X, t.Anchor, t.Halo = end-6, "end", "#ffffff"
	}
	return t
}

// compactSeconds is "41.0s" / "2m05s" for chart labels.
func compactSeconds(ms float64) string {
	s := ms / 1000
	if s < 120 {
		return fmt.Sprintf("%.1fs", s)
	}
	m := int(s) / 60
	return fmt.Sprintf("%dm%02ds", m, int(s)-60*m)
}
