// Package validate checks a deployed stack against its compose file: every
// check is derived from the file (no hard-coded service lists), every result
// is a Check, and the verdict is class-aware: a failing check of a core
// service (or of the stack as a whole) fails the validation, the same
// failure on an optional or stretch service is a warning.
//
// The Check/Report model and its renderers are shared with package
// preflight, which runs before a deploy.
package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dive-hub/dive/internal/stack"
)

// Status of one check.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn"
)

// Check is one verified fact about the stack.
type Check struct {
	// Name is the kind of check: container, health, port, network, volume,
	// order, restarts, job (validate); engine, disk, memory, port, env file,
	// env, network, volume, image, compose file (preflight).
	Name string `json:"name"`
	// Service is the service the check is about; empty for stack-wide checks.
	Service string `json:"service,omitempty"`
	// Class of the service (or the strongest class of the services involved);
	// empty for stack-wide checks, which count as core.
	Class stack.Class `json:"class,omitempty"`
	// Status after grading: a failure of an optional/stretch check is a warning.
	Status Status `json:"status"`
	// Detail is one sentence saying what was found.
	Detail string `json:"detail"`
	// Fix says what to do about a failure or warning.
	Fix string `json:"fix,omitempty"`
	// Downgraded marks a failure turned into a warning by the service's class.
	Downgraded bool `json:"downgraded,omitempty"`
}

// Line is the check as one line: the detail, then its fix.
func (c Check) Line() string {
	if c.Fix == "" {
		return c.Detail
	}
	return c.Detail + "; " + c.Fix
}

// IsCore reports whether a failure of a check of this class fails the verdict.
func IsCore(c stack.Class) bool { return c == "" || c == stack.Core }

// Grade turns a raw failure of a non-core check into a warning.
func Grade(c Check) Check {
	if c.Status == Fail && !IsCore(c.Class) {
		c.Status, c.Downgraded = Warn, true
	}
	return c
}

// StrongestClass is the class that weighs most among classes: core when any
// is core (or unknown), else stretch, else optional.
func StrongestClass(classes ...stack.Class) stack.Class {
	if len(classes) == 0 {
		return ""
	}
	out := stack.Optional
	for _, c := range classes {
		switch c {
		case "", stack.Core:
			return stack.Core
		case stack.Stretch:
			out = stack.Stretch
		}
	}
	return out
}

// Counts of checks by status.
type Counts struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// Report is the result of a validation or a preflight.
type Report struct {
	// Kind is "validate" or "preflight".
	Kind    string `json:"kind"`
	Project string `json:"project,omitempty"`
	// Verdict is fail when any check failed, warn when any warned, else pass.
	Verdict Status `json:"verdict"`
	OK      bool   `json:"ok"`
	Counts  Counts `json:"counts"`
	// Duration of the whole run.
	Duration   time.Duration `json:"-"`
	DurationMS float64       `json:"duration_ms"`
	// Window is the restart-stability window used (validate only).
	Window   time.Duration `json:"-"`
	WindowMS int64         `json:"window_ms,omitempty"`
	Checks   []Check       `json:"checks"`
}

// Finish grades every check, counts them and sets the verdict.
func (r *Report) Finish(d time.Duration) {
	r.Counts = Counts{}
	for i := range r.Checks {
		r.Checks[i] = Grade(r.Checks[i])
		switch r.Checks[i].Status {
		case Pass:
			r.Counts.Pass++
		case Warn:
			r.Counts.Warn++
		default:
			r.Checks[i].Status = Fail
			r.Counts.Fail++
		}
	}
	switch {
	case r.Counts.Fail > 0:
		r.Verdict = Fail
	case r.Counts.Warn > 0:
		r.Verdict = Warn
	default:
		r.Verdict = Pass
	}
	r.OK = r.Counts.Fail == 0
	r.Duration = d
	r.DurationMS = float64(d.Microseconds()) / 1000
	r.Window = max(r.Window, 0)
	r.WindowMS = r.Window.Milliseconds()
}

// Problems returns the checks that did not pass, failures first.
func (r *Report) Problems() []Check {
	var fails, warns []Check
	for _, c := range r.Checks {
		switch c.Status {
		case Fail:
			fails = append(fails, c)
		case Warn:
			warns = append(warns, c)
		}
	}
	return append(fails, warns...)
}

// Summary is one line: the verdict with the counts and the time taken.
func (r *Report) Summary() string {
	verdict := map[Status]string{Pass: "passed", Warn: "passed with warnings", Fail: "FAILED"}[r.Verdict]
	s := fmt.Sprintf("%s %s: %d %s, %d passed, %d %s, %d failed, in %s",
		r.Kind, verdict, len(r.Checks), plural(len(r.Checks), "check"), r.Counts.Pass, r.Counts.Warn, plural(r.Counts.Warn, "warning"), r.Counts.Fail, fmtDuration(r.Duration))
	if r.Project != "" {
		s = r.Kind + " of " + r.Project + strings.TrimPrefix(s, r.Kind)
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Mark is the symbol of a status in text output.
func Mark(s Status) string {
	switch s {
	case Pass:
		return "✔ pass"
	case Warn:
		return "! warn"
	}
	return "✘ fail"
}

// WriteText renders the report as a table of checks, then every problem as
// one line with its fix, then the summary.
func WriteText(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSERVICE\tCLASS\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", Mark(c.Status), c.Name, dash(c.Service), dash(string(c.Class)), c.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintln(w)
		for _, c := range p {
			mark := "✘"
			if c.Status == Warn {
				mark = "!"
			}
			fmt.Fprintf(w, "%s %s\n", mark, c.Line())
		}
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteJSON renders the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
