package cli

import (
	"io"
	"strings"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/spf13/cobra"
)

// redactor masks secrets. (stub until internal/redact lands)
type redactor struct{ r *strings.Replacer }

func newRedactor(st *stack.Stack) *redactor {
	var pairs []string
	for _, v := range st.EnvFileValues {
		if len(v) >= 4 {
			pairs = append(pairs, v, "****")
		}
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}
func (r *redactor) String(s string) string       { return r.r.Replace(s) }
func (r *redactor) Writer(w io.Writer) io.Writer { return w }

func (a *app) writeRecords(l *loaded, deployID string, evs []events.Event, res *deploy.Result, validation any) {
}

func (a *app) recordCommands() []*cobra.Command { return nil }

// expectedReadiness reads history for plan. (stub until report history lands)
func (a *app) expectedReadiness(l *loaded) map[string]expectation { return nil }
