package report

import (
	"fmt"
	"math"
	"strings"
)

// tailLines keeps the last n lines of s, and at most max bytes of them.
func tailLines(s string, n, max int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > max {
		out = out[len(out)-max:]
		if i := strings.IndexByte(out, '\n'); i >= 0 && i < len(out)-1 {
			out = out[i+1:]
		}
	}
	return out
}

// fmtSeconds renders milliseconds as seconds for humans: "0.42 s", "13.1 s",
// "2 m 05 s".
func fmtSeconds(ms float64) string {
	s := ms / 1000
	switch {
	case math.Abs(s) < 10:
		return fmt.Sprintf("%.2f s", s)
	case math.Abs(s) < 120:
		return fmt.Sprintf("%.1f s", s)
	default:
		m := int(s) / 60
		return fmt.Sprintf("%d m %02d s", m, int(s)-60*m)
	}
}

// fmtSecondsPtr is fmtSeconds, or "–" when the value is missing.
func fmtSecondsPtr(ms *float64) string {
	if ms == nil {
		return "–"
	}
	return fmtSeconds(*ms)
}

// fmtOffset renders an offset from the deploy start, "+13.1 s".
func fmtOffset(ms *float64) string {
	if ms == nil {
		return "–"
	}
	return "+" + fmtSeconds(*ms)
}

func fmtMS(ms *float64) string {
	if ms == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", *ms)
}

func fmtBytes(b *float64) string {
	if b == nil {
		return "–"
	}
	v := *b
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func fmtPercent(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", *p)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
