package report

import (
	"fmt"
	"io"
	"strings"
)

// outcomeMark is a short, terminal-safe mark for a deploy outcome.
func outcomeMark(o string) string {
	switch o {
	case DeploySuccess:
		return "✅"
	case DeployDegraded:
		return "⚠️"
	case DeployFailed:
		return "❌"
	default:
		return "⏹"
	}
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	if s == "" {
		return "–"
	}
	return s
}

// WriteMarkdown writes report.md: the deploy at a glance, a text timeline,
// the critical path, one row per service, failures with their logs,
// retries, warnings, phases, images and, when hist is not empty, the trend.
func WriteMarkdown(w io.Writer, m Metrics, hist History) error {
	ew := &errWriter{w: w}
	p := ew.printf
	mdSummary(p, m)
	p("## Timeline\n\n```text\n%s```\n\n", textGantt(m, 60))
	mdCriticalPath(p, m)
	mdServices(p, m)
	mdFailuresAndSkips(p, m)
	mdReplaced(p, m)
	mdRetries(p, m)
	mdWarnings(p, m)
	mdPhasesAndImages(p, m)
	if len(hist) > 0 {
		mdHistory(p, m, hist)
	}
	p("---\nTimes are offsets from the deploy start. Start → ready runs from dive issuing the start to dive seeing the service ready; detection lag is how late dive saw it.\n")
	return ew.err
}

// mdPrintf writes formatted markdown.
type mdPrintf func(format string, a ...any)

// mdSummary writes the title, the outcome line, the totals and any error.
func mdSummary(p mdPrintf, m Metrics) {
	p("# dive deploy report: %s\n\n", orDash(m.Project))
	p("%s **%s** in **%s** · deploy `%s` · started %s UTC\n\n", outcomeMark(m.Outcome), m.Outcome, fmtSeconds(m.DurationMS),
		m.DeployID, m.StartedAt.UTC().Format("2006-01-02 15:04:05"))
	t := m.Totals
	p("%d services: %d ready · %d reused · %d failed · %d skipped · %d pending — %s, %s, %s, %s\n\n",
		t.Services, t.Ready, t.Reused, t.Failed, t.Skipped, t.Pending, plural(t.Attempts, "start attempt", "start attempts"),
		plural(t.Retries, "retry", "retries"), plural(t.EngineRetries, "engine retry", "engine retries"), plural(t.Warnings, "warning", "warnings"))
	if m.Error != "" {
		p("> **Error:** %s\n\n", strings.ReplaceAll(m.Error, "\n", "\n> "))
	}
	if m.RecordsError != "" {
		p("> **Incomplete records:** %s\n\n", m.RecordsError)
	}
}

func mdCriticalPath(p mdPrintf, m Metrics) {
	p("## Critical path\n\n")
	cp := m.CriticalPath
	if len(cp.Links) == 0 {
		p("No service became ready, so there is no critical path.\n\n")
		return
	}
	p("**%s**: %s from the first start to the last ready (services booting %s, dive handing over %s), after a lead-in of %s; the path ends at +%s.\n\n",
		strings.Join(cp.Services, " → "), fmtSeconds(cp.LengthMS), fmtSeconds(cp.BootMS), fmtSeconds(cp.HandoffMS), fmtSeconds(cp.LeadInMS), fmtSeconds(cp.EndOffsetMS))
	if len(m.PlannedPath) > 0 && strings.Join(m.PlannedPath, ",") != strings.Join(cp.Services, ",") {
		p("The plan expected %s.\n\n", strings.Join(m.PlannedPath, " → "))
	}
	p("| # | Service | Class | Start issued | Ready | Waited on deps | Start → ready | Handoff | Detection lag |\n")
	p("|---:|---|---|---:|---:|---:|---:|---:|---:|\n")
	for i, l := range cp.Links {
		p("| %d | %s | %s | +%s | +%s | %s | %s | %s | %s |\n", i+1, mdCell(l.Service), mdCell(l.Class),
			fmtSeconds(l.StartIssuedOffsetMS), fmtSeconds(l.ReadyOffsetMS), fmtSeconds(l.WaitMS), fmtSeconds(l.TimeToReadyMS),
			fmtSeconds(l.HandoffMS), fmtMS(l.DetectionLagMS))
	}
	p("\n")
}

func mdServices(p mdPrintf, m Metrics) {
	p("## Services\n\n")
	p("| Service | Class | Outcome | Start issued | Ready / ended | Start → ready | Waited | Signal | Lag | Attempts | CPU peak | Mem peak |\n")
	p("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, s := range m.Services {
		end, took := serviceEnd(s)
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", mdCell(s.Name), mdCell(s.Class), s.Outcome,
			fmtOffset(s.StartIssuedOffsetMS), end, took, fmtSecondsPtr(s.WaitMS), mdCell(s.ReadySignal), fmtMS(s.DetectionLagMS),
			s.Attempts, fmtPercent(s.CPUPeakPercent), fmtBytes(s.MemPeakBytes))
	}
	p("\n")
}

// mdReplaced lists the services whose previous container this deploy kept,
// and what the rollback (if any) did with each.
func mdReplaced(p mdPrintf, m Metrics) {
	var rows []Service
	for _, s := range m.Services {
		if s.Replaced != "" || s.RolledBack != "" {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("## Replaced and rolled back\n\n")
	switch m.RolledBack {
	case "complete":
		p("**Rolled back** after %s failed: the hub runs the previous configuration.\n\n", m.RollbackCause)
	case "incomplete":
		p("**The rollback after %s failed did not complete**: see what each service runs below.\n\n", m.RollbackCause)
	case "services":
		p("Optional/stretch services that failed were rolled back alone.\n\n")
	}
	p("| Service | Previous container | Kept | Rollback | Failure → ready again | Restart → ready | Runs now |\n|---|---|---|---|---:|---:|---|\n")
	for _, s := range rows {
		runs := s.RollbackRuns
		if runs == "" && s.RolledBack == "restored" {
			runs = "its previous container"
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(s.Name), mdCell(s.KeptContainer), mdCell(s.Replaced), mdCell(s.RolledBack),
			fmtSecondsPtr(s.RollbackSinceFailureMS), fmtSecondsPtr(s.RollbackReadyMS), mdCell(runs))
	}
	p("\n")
}

func mdFailuresAndSkips(p mdPrintf, m Metrics) {
	var failed, skipped []Service
	for _, s := range m.Services {
		switch s.Outcome {
		case OutcomeFailed:
			failed = append(failed, s)
		case OutcomeSkipped:
			skipped = append(skipped, s)
		}
	}
	if len(failed) > 0 {
		p("## Failures\n\n")
		for _, s := range failed {
			mdFailure(p, s)
		}
	}
	if len(skipped) > 0 {
		p("## Skipped\n\n")
		for _, s := range skipped {
			because := ""
			if len(s.SkipBecause) > 0 {
				because = " (because of " + strings.Join(s.SkipBecause, ", ") + ")"
			}
			p("- **%s**: %s%s\n", s.Name, orDash(s.SkipReason), because)
		}
		p("\n")
	}
}

func mdFailure(p mdPrintf, s Service) {
	p("### %s (%s): %s\n\n", s.Name, orDash(s.Class), orDash(s.FailureReason))
	var facts []string
	if s.ExitCode != nil {
		facts = append(facts, fmt.Sprintf("exit code %d", *s.ExitCode))
	}
	if s.OOMKilled {
		facts = append(facts, "OOM-killed")
	}
	facts = append(facts, fmt.Sprintf("failed at %s after %s", fmtOffset(s.FailedOffsetMS), fmtSecondsPtr(s.TimeToFailMS)),
		fmt.Sprintf("%d attempts", s.Attempts))
	p("- %s\n", strings.Join(facts, " · "))
	if s.Hint != "" {
		p("- **Hint:** %s\n", strings.ReplaceAll(s.Hint, "\n", " "))
	}
	if s.HealthOutput != "" {
		p("- Last health check output:\n\n```text\n%s\n```\n", strings.TrimRight(s.HealthOutput, "\n"))
	}
	if s.LogsTail != "" {
		p("- Last log lines:\n\n```text\n%s\n```\n", s.LogsTail)
	}
	p("\n")
}

func mdRetries(p mdPrintf, m Metrics) {
	var retries int
	for _, s := range m.Services {
		retries += len(s.Retries)
	}
	if retries+len(m.EngineRetries) == 0 {
		return
	}
	p("## Retries\n\n| At | Service / operation | Attempt | Reason | Backoff |\n|---:|---|---:|---|---:|\n")
	for _, s := range m.Services {
		for _, r := range s.Retries {
			p("| +%s | %s | %d | %s | %s |\n", fmtSeconds(r.OffsetMS), mdCell(s.Name), r.Attempt, mdCell(r.Reason), fmtMS(&r.BackoffMS))
		}
	}
	for _, r := range m.EngineRetries {
		p("| +%s | engine: %s | %d | %s | %s |\n", fmtSeconds(r.OffsetMS), mdCell(r.Op), r.Attempt, mdCell(r.Reason), fmtMS(&r.BackoffMS))
	}
	p("\n")
}

func mdWarnings(p mdPrintf, m Metrics) {
	if len(m.Warnings) == 0 {
		return
	}
	p("## Warnings\n\n")
	for _, n := range m.Warnings {
		who := ""
		if n.Service != "" {
			who = " **" + n.Service + "**:"
		}
		p("- +%s%s %s\n", fmtSeconds(n.OffsetMS), who, strings.ReplaceAll(n.Message, "\n", " "))
	}
	p("\n")
}

func mdPhasesAndImages(p mdPrintf, m Metrics) {
	if len(m.Phases) > 0 {
		p("## Phases\n\nWall is the time during which at least one service was in the phase; sum adds up every service.\n\n")
		p("| Phase | Count | From | To | Wall | Sum |\n|---|---:|---:|---:|---:|---:|\n")
		for _, ph := range m.Phases {
			p("| %s | %d | +%s | +%s | %s | %s |\n", ph.Phase, ph.Count, fmtSeconds(ph.FirstOffsetMS), fmtSeconds(ph.LastOffsetMS), fmtSeconds(ph.WallMS), fmtSeconds(ph.SumMS))
		}
		p("\n")
	}
	if len(m.Images) > 0 {
		p("## Images\n\n| Image | Services | Source | Took | Ready at |\n|---|---|---|---:|---:|\n")
		for _, img := range m.Images {
			p("| %s | %s | %s | %s | %s |\n", mdCell(img.Image), mdCell(strings.Join(img.Services, ", ")), imageSource(img), fmtSeconds(img.DurationMS), fmtOffset(img.ReadyOffsetMS))
		}
		p("\n")
	}
}

// mdHistory writes the history of the project's deploys, this one included.
func mdHistory(p mdPrintf, m Metrics, hist History) {
	all := withCurrent(hist, m)
	s := Summarize(all, HistoryWindow)
	p("## History\n\n")
	p("%d deploys of %s (%s). Deploy duration over the %d that succeeded: %s.\n\n", s.Deploys, orDash(s.Project), outcomeCounts(s.Outcomes), s.Duration.Count, pctLine(s.Duration))
	tr := s.Trend
	if tr.Verdict == "unknown" {
		p("Trend: not enough deploys yet to compare the last %d with the %d before.\n\n", tr.Window, tr.Window)
	} else {
		p("Trend: **%s**: the p50 of the last %d successful deploys is %s, against %s for the %d before (%+.1f %%; mean %+.1f %%).\n\n", tr.Verdict, tr.RecentCount,
			fmtSeconds(tr.RecentP50MS), fmtSeconds(tr.PreviousP50MS), tr.PreviousCount, tr.DeltaP50Percent, tr.DeltaMeanPercent)
	}
	p("| Deploy | Started (UTC) | Outcome | Duration |\n|---|---|---|---:|\n")
	pts := s.History
	if len(pts) > 10 {
		pts = pts[len(pts)-10:]
	}
	for _, d := range pts {
		id := d.DeployID
		if id == m.DeployID {
			id = "**" + id + "** (this one)"
		}
		outcome := d.Outcome
		if d.RolledBack != "" {
			outcome += " (rolled back: " + d.RolledBack + ")"
		}
		p("| %s | %s | %s | %s |\n", id, d.StartedAt.UTC().Format("2006-01-02 15:04"), outcome, fmtSeconds(d.DurationMS))
	}
	p("\n")
}

func imageSource(img Image) string {
	switch {
	case img.Built:
		return "built"
	case img.Cached:
		return "cached"
	default:
		return "pulled"
	}
}

// serviceEndShort is serviceEnd for narrow tables: the outcome is shown
// next to it already.
func serviceEndShort(s Service) (string, string) {
	switch s.Outcome {
	case OutcomeReused:
		return fmtOffset(s.ReusedOffsetMS), "–"
	case OutcomeFailed:
		return fmtOffset(s.FailedOffsetMS), "✕ " + fmtSecondsPtr(s.TimeToFailMS)
	case OutcomeSkipped:
		return fmtOffset(s.SkippedOffsetMS), "–"
	case OutcomePending:
		return "–", "…"
	}
	return serviceEnd(s)
}

// serviceEnd gives the "ready / ended" and "start → ready" cells.
func serviceEnd(s Service) (string, string) {
	switch s.Outcome {
	case OutcomeReady:
		return fmtOffset(s.ReadyOffsetMS), fmtSecondsPtr(s.TimeToReadyMS)
	case OutcomeReused:
		return fmtOffset(s.ReusedOffsetMS) + " (reused)", "–"
	case OutcomeFailed:
		return fmtOffset(s.FailedOffsetMS) + " (failed)", "failed after " + fmtSecondsPtr(s.TimeToFailMS)
	case OutcomeSkipped:
		return fmtOffset(s.SkippedOffsetMS) + " (skipped)", "–"
	default:
		return "–", "still starting"
	}
}

// textGantt draws the timeline in monospace: ░ waiting on dependencies,
// ▓ starting (start issued → ready), █ ready, ✗ failed, … still starting.
func textGantt(m Metrics, width int) string {
	total := m.DurationMS
	if total <= 0 {
		total = 1
	}
	nameW := 8
	for _, s := range m.Services {
		nameW = max(nameW, len([]rune(s.Name)))
	}
	col := func(ms float64) int {
		c := int(ms / total * float64(width))
		return min(max(c, 0), width-1)
	}
	var b strings.Builder
	// Axis: a label every ~10 columns.
	step := niceStep(total/1000, 6)
	axis := []rune(strings.Repeat(" ", width+8))
	for v := 0.0; v <= total/1000+1e-9; v += step {
		lbl := []rune(fmtTick(v, step))
		c := col(v * 1000)
		if v*1000 >= total {
			c = width - 1
		}
		for i, r := range lbl {
			if c+i < len(axis) {
				axis[c+i] = r
			}
		}
	}
	fmt.Fprintf(&b, "%-*s  %s\n", nameW, "", strings.TrimRight(string(axis), " "))
	for _, s := range ganttOrder(m.Services) {
		row := []rune(strings.Repeat(" ", width))
		fill := func(from, to float64, r rune) {
			a, z := col(from), col(to)
			if z < a {
				z = a
			}
			for i := a; i <= z && i < width; i++ {
				row[i] = r
			}
		}
		seg := segmentsOf(s, total)
		for _, g := range seg {
			switch g.kind {
			case segWait:
				fill(g.from, g.to, '░')
			case segStart:
				fill(g.from, g.to, '▓')
			case segReady:
				fill(g.from, g.to, '█')
			}
		}
		suffix := ""
		switch s.Outcome {
		case OutcomeFailed:
			if s.FailedOffsetMS != nil {
				row[col(*s.FailedOffsetMS)] = '✗'
			}
			suffix = " failed"
		case OutcomePending:
			suffix = " …"
		case OutcomeSkipped:
			suffix = " skipped"
		case OutcomeReused:
			suffix = " reused"
		case OutcomeReady:
			suffix = " " + fmtSecondsPtr(s.TimeToReadyMS)
		}
		fmt.Fprintf(&b, "%-*s  %s%s\n", nameW, s.Name, strings.TrimRight(string(row), " "), suffix)
	}
	fmt.Fprintf(&b, "\n%-*s  ░ waiting on dependencies  ▓ starting  █ ready  ✗ failed\n", nameW, "")
	return b.String()
}
