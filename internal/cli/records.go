package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/redact"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/spf13/cobra"
)

// plainSetting matches env-file variables that configure rather than
// authenticate (ports, hosts, names, paths, levels): their values are not
// masked, so that `dive-hub` or `8080` do not vanish from every output.
// Everything else from an env file is treated as a secret, and so is any
// variable whose name looks like a password, secret, token or key.
var plainSetting = regexp.MustCompile(`(?i)(^|_)(PORT|HOST|HOSTNAME|NAME|PROJECT|PROJECT_NAME|PROFILES|URL|URI|ENDPOINT|DIR|PATH|FILE|LEVEL|MODE|ENV|VERSION|TZ|LANG|REGION|DOMAIN|REALM|TIMEOUT|AFTER|INTERVAL|NETWORK|IMAGE|TAG|COUNT|SIZE|ENABLED|USER|USERNAME|DB|DATABASE)$`)

func newRedactor(st *stack.Stack) *redact.Redactor {
	return redact.New(outputSecrets(st))
}

// stackSecrets are the secret values of a stack (see newRedactor): those of
// the interpolation environment and the project's env files, and, as `hub
// logs` finds them in a container's environment, those of every service's
// resolved environment (its environment: and env_file: entries) and hooks,
// plus every value a service's env_file sets under a name that looks like a
// secret, also one its environment: overrides.
func stackSecrets(st *stack.Stack) []string {
	fileValues := map[string]string{}
	for k, v := range st.EnvFileValues {
		if redact.IsSensitiveName(k) || !plainSetting.MatchString(k) {
			fileValues[k] = v
		}
	}
	secrets := redact.SecretsFromEnv(st.Environment, fileValues)
	add := func(env types.MappingWithEquals) {
		vals := map[string]string{}
		for k, v := range env {
			if v != nil {
				vals[k] = *v
			}
		}
		secrets = append(secrets, redact.SecretsFromEnv(vals, nil)...)
	}
	for name, svc := range st.Project.Services {
		add(svc.Environment)
		for _, h := range slices.Concat(svc.PostStart, svc.PreStop) {
			add(h.Environment)
		}
		for _, h := range svc.PreStart {
			add(h.Environment)
		}
		secrets = append(secrets, redact.SecretsFromEnv(st.ServiceEnvFiles[name], nil)...)
	}
	slices.Sort(secrets)
	return slices.Compact(secrets)
}

// outputSecrets are stackSecrets but the project's and the services' names:
// a password written as `postgres` in a file with a postgres service would
// otherwise erase that name from every event, metric and report. The config
// record still counts them (keepConfig): it is not kept with such a value.
func outputSecrets(st *stack.Stack) []string {
	names := map[string]bool{st.Project.Name: true}
	for n := range st.Project.Services {
		names[n] = true
	}
	return slices.DeleteFunc(stackSecrets(st), func(v string) bool { return names[v] })
}

// writeRecords writes metrics.json, report.{md,json,html}, validation.json,
// the Prometheus textfile and (when configured) OTLP traces for a deploy.
// Failures to write records are reported but never change the deploy's
// outcome. evLog is the events.jsonl sink: when it could not write every
// event, the deploy says so, and metrics.json (computed from the events in
// memory) records it.
func (a *app) writeRecords(l *loaded, deployID string, evs []events.Event, res *deploy.Result, validation any, evLog *events.JSONLSink) {
	st := l.st
	d := report.Deploy{ID: deployID, Project: st.Project.Name}
	d.RecordsError = a.recordsHole(evLog, l.stateDir)
	for _, n := range l.g.Order() {
		var deps []string
		for _, e := range l.g.Deps(n) {
			deps = append(deps, e.To)
		}
		d.Services = append(d.Services, report.ServiceInfo{Name: n, Class: string(st.Services[n].Class), DependsOn: deps})
	}
	m := report.Compute(d, evs)
	dir := report.DeployDir(l.stateDir, st.Project.Name, deployID)
	hist, _ := l.history() // the deploys before this one
	warn := func(what string, err error) {
		fmt.Fprintf(a.stderr, "dive: warning: could not write %s: %v\n", what, err)
	}
	if err := report.WriteDeployFiles(dir, m, hist); err != nil {
		warn("the deploy report", err)
	}
	if validation != nil {
		if b, err := json.MarshalIndent(validation, "", "  "); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "validation.json"), append(b, '\n'), 0o644); err != nil {
				warn("validation.json", err)
			}
		}
	}
	prom := []string{filepath.Join(l.stateDir, st.Project.Name, "dive.prom")}
	if td := a.env.TextfileDir; td != "" {
		prom = append(prom, filepath.Join(td, "dive_"+st.Project.Name+".prom"))
	}
	for _, p := range prom {
		if err := report.WritePrometheus(p, m); err != nil {
			warn(p, err)
		}
	}
	if a.env.OTLP {
		ctx, cancel := context.WithTimeout(context.Background(), report.ExportTimeout)
		defer cancel()
		if err := report.ExportTraces(ctx, m); err != nil {
			warn("OTLP traces", err)
		}
	}
}

const (
	envKeepDeploys = "DIVE_KEEP_DEPLOYS"
	// defaultKeepDeploys is how many deploys' records a project keeps:
	// months of a team's deploys, a few MB to some hundreds on disk, and a
	// history every deploy reads (summary.json) in milliseconds.
	defaultKeepDeploys = 200
)

// keepDeploys is DIVE_KEEP_DEPLOYS (0: keep every deploy's records), or
// the default, with a warning when it is not a number ≥ 0.
func (a *app) keepDeploys() int {
	v := strings.TrimSpace(a.env.KeepDeploys)
	if v == "" {
		return defaultKeepDeploys
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		fmt.Fprintf(a.stderr, "dive: warning: %s=%q is not a whole number ≥ 0 (0 keeps every deploy's records); keeping the last %d\n", envKeepDeploys, v, defaultKeepDeploys)
		return defaultKeepDeploys
	}
	return n
}

// pruneRecords removes the records of the project's oldest deploys beyond
// keepDeploys, at the end of a deploy. It never removes the deploy running
// now nor a newer one, one that may still be running (report.PruneDeploys),
// nor the two newest that kept their configuration (what dive hub rollback
// goes back to, and what the next deploy compares its own with).
func (a *app) pruneRecords(stateDir, project, current string) {
	keep := a.keepDeploys()
	if keep == 0 {
		return
	}
	protected := map[string]bool{current: true}
	if entries, err := os.ReadDir(report.DeploysDir(stateDir, project)); err == nil {
		kept := 0
		for i := len(entries) - 1; i >= 0 && kept < 2; i-- {
			if _, err := os.Stat(filepath.Join(report.DeploysDir(stateDir, project), entries[i].Name(), imagesRecord)); err == nil {
				protected[entries[i].Name()] = true
				kept++
			}
		}
	}
	// A newer folder is a deploy that started after this one (waiting for
	// the lock, or a fleet's, which prunes after its stacks' locks are gone).
	if _, err := report.PruneDeploys(stateDir, project, keep, func(id string) bool { return protected[id] || id >= current }); err != nil {
		fmt.Fprintf(a.stderr, "dive: warning: could not remove old deploy records (%s): %v\n", envKeepDeploys, err)
	}
}

// expectedReadiness is history's p50 start-to-ready per service, for plan.
func (a *app) expectedReadiness(l *loaded) map[string]expectation {
	hist, err := l.history()
	if err != nil || len(hist) == 0 {
		return nil
	}
	s := report.Summarize(hist, report.HistoryWindow)
	out := map[string]expectation{}
	for _, sv := range s.Services {
		if sv.TimeToReady.Count > 0 {
			out[sv.Service] = expectation{P50: time.Duration(sv.TimeToReady.P50MS * float64(time.Millisecond)), Samples: sv.TimeToReady.Count}
		}
	}
	return out
}

func (a *app) recordCommands() []*cobra.Command {
	return []*cobra.Command{a.historyCmd(a.recordsTarget), a.reportCmd(a.recordsTarget, "dive hub history")}
}

// recordsTargetFunc names the state dir and the project whose records a
// history or report command reads (a stack's, or a fleet's).
type recordsTargetFunc func(ctx context.Context) (stateDir, project string, err error)

// recordsTarget resolves the project and state dir without needing the engine.
func (a *app) recordsTarget(ctx context.Context) (stateDir, project string, err error) {
	l, err := a.load(ctx, nil, "")
	if err != nil {
		return "", "", err
	}
	return l.stateDir, l.st.Project.Name, nil
}

func (a *app) historyCmd(target recordsTargetFunc) *cobra.Command {
	var asJSON bool
	var last int
	c := &cobra.Command{
		Use:   "history",
		Short: "Deploys over time, with percentiles of deploy and per-service readiness, and the trend",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stateDir, project, err := target(c.Context())
			if err != nil {
				return err
			}
			hist, err := report.LoadHistory(stateDir, project)
			if err != nil {
				return err
			}
			if last <= 0 {
				return usageError{errors.New("--last must be at least 1")}
			}
			s := report.Summarize(hist, last)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			if len(hist) == 0 {
				fmt.Fprintf(a.stdout, "no deploys of %s recorded under %s yet\n", project, stateDir)
				return nil
			}
			return report.WriteHistoryText(a.stdout, s)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVar(&last, "last", report.HistoryWindow, "the trend compares the last N deploys with the N before")
	return c
}

func (a *app) reportCmd(target recordsTargetFunc, historyCmd string) *cobra.Command {
	var format string
	var lastFlag bool
	c := &cobra.Command{
		Use:   "report [DEPLOY-ID | --last]",
		Short: "Print a deploy's report (Markdown, JSON, or self-contained HTML with a timeline)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && !lastFlag {
				return usageError{fmt.Errorf("name a deploy ID or pass --last (see '%s')", historyCmd)}
			}
			stateDir, project, err := target(c.Context())
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			} else {
				ids, err := deployIDs(stateDir, project)
				if err != nil || len(ids) == 0 {
					return fmt.Errorf("no deploys of %s recorded under %s", project, stateDir)
				}
				id = ids[len(ids)-1]
			}
			dir := report.DeployDir(stateDir, project, id)
			if _, err := os.Stat(dir); err != nil {
				return usageError{fmt.Errorf("no deploy %s of %s under %s (see '%s')", id, project, stateDir, historyCmd)}
			}
			hist, _ := report.LoadHistory(stateDir, project)
			m := report.LoadDeploy(dir, id, project)
			switch format {
			case "md", "markdown":
				return report.WriteMarkdown(a.stdout, m, hist)
			case "json":
				return report.WriteReportJSON(a.stdout, m, hist)
			case "html":
				return report.WriteHTML(a.stdout, m, hist)
			}
			return usageError{fmt.Errorf("--format %q: use md, json or html", format)}
		},
	}
	c.Flags().StringVar(&format, "format", "md", "md, json or html")
	c.Flags().BoolVar(&lastFlag, "last", false, "the latest deploy")
	return c
}

func deployIDs(stateDir, project string) ([]string, error) {
	ents, err := os.ReadDir(report.DeploysDir(stateDir, project))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// recordsHole says, on stderr, when events.jsonl could not take every
// event (a full disk), and returns what metrics.json records of it ("" when
// the log is whole).
func (a *app) recordsHole(evLog *events.JSONLSink, stateDir string) string {
	err := evLog.Err()
	if err == nil {
		return ""
	}
	fmt.Fprintf(a.stderr, "dive: warning: this deploy's records could not be written (%v); "+
		"its history entry and reports are incomplete: free space in %s\n", err, stateDir)
	return "events.jsonl is incomplete: " + err.Error()
}
