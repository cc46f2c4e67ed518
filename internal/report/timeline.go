package report

import (
	"fmt"
	"math"
	"sort"
)

// The timeline shared by the text and SVG Gantt charts.

type segKind int

const (
	segCreate segKind = iota // creating → created
	segWait                  // waiting on dependencies → start issued
	segStart                 // start issued → ready / failed / end of deploy
	segReady                 // ready (or reused) → end of deploy
)

type segment struct {
	kind     segKind
	from, to float64 // ms from the deploy start
}

// segmentsOf cuts one service's life into timeline segments, clipped to
// [0, total].
func segmentsOf(s Service, total float64) []segment {
	var out []segment
	add := func(k segKind, from, to float64) {
		from, to = math.Max(0, from), math.Min(total, to)
		if to > from || (to == from && k == segStart) {
			out = append(out, segment{k, from, to})
		}
	}
	startAt, hasStart := startOffset(s)
	end := total
	switch {
	case s.ReadyOffsetMS != nil:
		end = *s.ReadyOffsetMS
	case s.FailedOffsetMS != nil:
		end = *s.FailedOffsetMS
	case s.SkippedOffsetMS != nil:
		end = *s.SkippedOffsetMS
	}
	if s.CreatingOffsetMS != nil && s.CreatedOffsetMS != nil {
		add(segCreate, *s.CreatingOffsetMS, *s.CreatedOffsetMS)
	}
	if s.WaitingOffsetMS != nil {
		until := end
		if hasStart {
			until = startAt
		}
		add(segWait, *s.WaitingOffsetMS, until)
	}
	if hasStart && s.Outcome != OutcomeSkipped {
		add(segStart, startAt, end)
	}
	if r, ok := s.readyOffset(); ok && s.Up() {
		add(segReady, r, total)
	}
	return out
}

// startOffset is when dive issued the start (or, failing that, saw it start).
func startOffset(s Service) (float64, bool) {
	if s.StartIssuedOffsetMS != nil {
		return *s.StartIssuedOffsetMS, true
	}
	if s.StartedOffsetMS != nil {
		return *s.StartedOffsetMS, true
	}
	return 0, false
}

// ganttOrder sorts services into a waterfall: by when they started (or were
// reused or skipped), then by when they became ready.
func ganttOrder(svcs []Service) []Service {
	out := append([]Service(nil), svcs...)
	key := func(s Service) (float64, float64) {
		first := math.Inf(1)
		if v, ok := startOffset(s); ok {
			first = v
		} else if v, ok := s.readyOffset(); ok {
			first = v
		} else if s.SkippedOffsetMS != nil {
			first = *s.SkippedOffsetMS
		} else if s.WaitingOffsetMS != nil {
			first = *s.WaitingOffsetMS
		}
		second := math.Inf(1)
		if v, ok := s.readyOffset(); ok {
			second = v
		} else if s.FailedOffsetMS != nil {
			second = *s.FailedOffsetMS
		}
		return first, second
	}
	sort.SliceStable(out, func(i, j int) bool {
		a1, a2 := key(out[i])
		b1, b2 := key(out[j])
		if a1 != b1 {
			return a1 < b1
		}
		return a2 < b2
	})
	return out
}

// niceStep picks a tick step (in the unit of total) giving at most about
// target ticks.
func niceStep(total float64, target int) float64 {
	steps := []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600}
	for _, s := range steps {
		if total/s <= float64(target) {
			return s
		}
	}
	return math.Ceil(total/float64(target)/3600) * 3600
}

func fmtTick(v, step float64) string {
	if step < 1 {
		return fmt.Sprintf("%.1fs", v)
	}
	return fmt.Sprintf("%.0fs", v)
}
