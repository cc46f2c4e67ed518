package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/redact"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/spf13/cobra"
)

// The configuration a successful deploy keeps with its records, for
// `dive hub rollback` (docs/rollback.md).
const (
	configRecord = "config.yml"  // the resolved compose file; secrets as ${VAR} references
	imagesRecord = "images.json" // service → image ID
)

func (a *app) rollbackCmd() *cobra.Command {
	var f deployFlags
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Deploy the configuration of an earlier successful deploy again, with its images",
		Long: `Rollback deploys the configuration an earlier successful deploy kept with its
records (its resolved compose file and the image ID of every service) with the
same safety as deploy: a changed container is replaced only once its
successor is ready, and a failure rolls back to what runs now.

Without --to it goes back to the successful deploy before the last one.
Images must still be on the engine: a rollback never builds or pulls.
Secrets are not kept in the records: they come from today's env file.

Exit codes as deploy.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkDeployFlags(f); err != nil {
				return err
			}
			if f.rollbackTo == "" {
				f.rollbackTo = "previous"
			}
			return a.runDeploy(c.Context(), nil, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.rollbackTo, "to", "", "the deploy ID to go back to (default: the successful deploy before the last one; see dive hub history)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "the whole deploy's deadline")
	fl.BoolVar(&f.waitAll, "wait-all", false, "also wait for optional and stretch services")
	fl.BoolVar(&f.noValidate, "no-validate", false, "skip the validation that ends every deploy")
	fl.BoolVar(&f.skipPreflight, "skip-preflight", false, "skip the preflight checks")
	fl.DurationVar(&f.waitLock, "wait-lock", 0, "wait this long for another deploy of the project to finish instead of refusing")
	return c
}

// retarget is the stack a deploy deploys: l, or for dive hub rollback (to
// not empty) the configuration of the deploy to go back to, with its images.
func (a *app) retarget(ctx context.Context, l *loaded, to string) (*loaded, map[string]string, error) {
	if to == "" {
		return l, nil, nil
	}
	rl, pinned, id, err := a.rollbackTarget(ctx, l, to)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(a.stderr, "rolling back to the configuration of deploy %s (its images, never pulled)\n", id)
	return rl, pinned, nil
}

// keepConfig keeps the deploy's configuration for dive hub rollback when
// the hub runs it (keepsConfig); a failure to write it is a warning.
func (a *app) keepConfig(ctx context.Context, runDir string, st *stack.Stack, res *deploy.Result) {
	if !keepsConfig(res) {
		return
	}
	err := writeConfigRecord(runDir, st, res, recordRedactor(st).String)
	if err == nil && !sameAsKept(runDir) {
		err = checkConfigRecord(ctx, runDir, st, a.env.Environ)
	}
	if err != nil {
		_ = os.Remove(filepath.Join(runDir, configRecord))
		_ = os.Remove(filepath.Join(runDir, imagesRecord))
		fmt.Fprintf(a.stderr, "dive: warning: could not keep this deploy's configuration for dive hub rollback: %v\n", err)
	}
}

// recordRedactor masks every secret of the stack in its config record,
// those that are also a service's or the project's name included (outputs
// leave those readable, see outputSecrets): such a record does not load
// back the same, and is not kept.
func recordRedactor(st *stack.Stack) *redact.Redactor { return redact.New(stackSecrets(st)) }

// checkConfigRecord loads the kept configuration back (as a rollback
// would, with today's env files) and compares every service's config hash
// with the deployed one: a secret replaced where it was not a value (a short
// secret that is also a service name) would show here, and such a record is
// not kept.
func checkConfigRecord(ctx context.Context, dir string, st *stack.Stack, environ []string) error {
	again, err := stack.Load(ctx, stack.Options{Files: []string{filepath.Join(dir, configRecord)}, ProjectName: st.Project.Name,
		EnvFiles: st.EnvFile, Environ: environ, Env: map[string]string{}, SkipSchema: true})
	if err != nil {
		return fmt.Errorf("it does not load back: %w", err)
	}
	for _, n := range st.Names {
		b, ok := again.Services[n]
		if !ok || engine.ConfigHash(b.Config, "") != engine.ConfigHash(st.Services[n].Config, "") {
			return fmt.Errorf("service %s does not load back the same (a secret value that is also part of the file's structure?)", n)
		}
	}
	return nil
}

// sameAsKept says whether the config record in dir is byte for byte the
// newest one kept before it in the project's deploys folder (deploy IDs
// start with their time, so names sort by age). That one loaded back the
// same (records that do not are removed), and the same text has its
// ${VAR} references in the same places, so this one does too: a redeploy
// of an unchanged file skips loading it again (a third of a no-op's CPU
// for 50 services).
func sameAsKept(dir string) bool {
	mine, err := os.ReadFile(filepath.Join(dir, configRecord))
	if err != nil {
		return false
	}
	parent, self := filepath.Split(dir)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return false
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !e.IsDir() || e.Name() >= self {
			continue
		}
		if _, err := os.Stat(filepath.Join(parent, e.Name(), imagesRecord)); err != nil {
			continue // not kept
		}
		kept, err := os.ReadFile(filepath.Join(parent, e.Name(), configRecord))
		return err == nil && bytes.Equal(kept, mine)
	}
	return false
}

// keepsConfig says whether a deploy's configuration is what the hub runs
// after it: it succeeded (or degraded) and rolled no service back.
func keepsConfig(res *deploy.Result) bool {
	if res.Outcome != deploy.Success && res.Outcome != deploy.Degraded {
		return false
	}
	for _, r := range res.Services {
		if r.Rollback != nil {
			return false
		}
	}
	return true
}

// writeConfigRecord keeps a successful deploy's configuration: the resolved
// compose file, with every secret value replaced by a ${VAR} reference or,
// when a service's env_file: set it, left to that env_file (the records hold
// no secret; a rollback takes them from the environment and env files of its
// day), and the image ID of every service. mask is the deploy's redactor: a
// value it would mask is a secret; when the file still holds something it
// would mask (a credential written in the compose file itself), the
// configuration is not kept.
func writeConfigRecord(dir string, st *stack.Stack, res *deploy.Result, mask func(string) string) error {
	b, err := withoutEnvFileSecrets(st, mask).MarshalYAML()
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "$", "$$")
	for _, s := range secretRefs(st, mask) {
		text = strings.ReplaceAll(text, strings.ReplaceAll(s.value, "$", "$$"), "${"+s.name+"}")
	}
	if mask(text) != text {
		return errors.New("the resolved configuration holds a secret that is no variable's whole value (a credential written in the compose file?); it is not kept")
	}
	images := map[string]string{}
	for n, r := range res.Services {
		if r.ImageID != "" {
			images[n] = r.ImageID
		}
	}
	ib, err := json.MarshalIndent(images, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, configRecord), []byte(text), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, imagesRecord), append(ib, '\n'), 0o644)
}

// withoutEnvFileSecrets is st's project with every environment entry that
// holds a secret and has the value the service's env_file gives it removed:
// the service keeps its env_file: entries (absolute paths), so loading the
// record reads the secret from that file again, as the deploy did. st's
// project is not changed.
func withoutEnvFileSecrets(st *stack.Stack, mask func(string) string) *types.Project {
	p := *st.Project
	p.Services = make(types.Services, len(st.Project.Services))
	for name, svc := range st.Project.Services {
		var drop []string
		for k, v := range svc.Environment {
			if fv, ok := st.ServiceEnvFiles[name][k]; ok && v != nil && *v == fv && mask(fv) != fv {
				drop = append(drop, k)
			}
		}
		if len(drop) > 0 {
			svc.Environment = maps.Clone(svc.Environment)
			for _, k := range drop {
				delete(svc.Environment, k)
			}
		}
		p.Services[name] = svc
	}
	return &p
}

type secretRef struct{ name, value string }

// secretRefs names every secret value of the stack by a variable that holds
// it: the redactor's secrets, and every variable whose value the redactor
// would change (a token inside a URL). Env-file variables come first, then
// the environment; longest values first so that a secret containing another
// is replaced whole.
func secretRefs(st *stack.Stack, mask func(string) string) []secretRef {
	secret := map[string]bool{}
	for _, v := range stackSecrets(st) {
		secret[v] = true
	}
	seen := map[string]bool{}
	var out []secretRef
	for _, vars := range []map[string]string{st.EnvFileValues, st.Environment} {
		for _, k := range sortedKeys(vars) {
			v := vars[k]
			if len(v) < redact.MinLen || seen[v] || (!secret[v] && mask(v) == v) {
				continue
			}
			seen[v] = true
			out = append(out, secretRef{name: k, value: v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].value) > len(out[j].value) })
	return out
}

// rollbackTarget loads the configuration of the deploy to go back to: to
// names it, or "previous" (the successful deploy before the last one). The
// stack is loaded from its config record with today's environment (env
// files included) for the secrets.
func (a *app) rollbackTarget(ctx context.Context, l *loaded, to string) (*loaded, map[string]string, string, error) {
	project := l.st.Project.Name
	id, err := pickRollbackDeploy(l.stateDir, project, to)
	if err != nil {
		return nil, nil, "", err
	}
	dir := report.DeployDir(l.stateDir, project, id)
	var images map[string]string
	b, err := os.ReadFile(filepath.Join(dir, imagesRecord))
	if err == nil {
		err = json.Unmarshal(b, &images)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("deploy %s kept no configuration to roll back to (%v): only successful deploys of this dive keep one", id, err)
	}
	st, err := stack.Load(ctx, stack.Options{Files: []string{filepath.Join(dir, configRecord)}, ProjectName: project,
		EnvFiles: l.st.EnvFile, Environ: a.env.Environ, Env: map[string]string{}})
	if err != nil {
		return nil, nil, "", fmt.Errorf("the configuration of deploy %s: %w", id, err)
	}
	// the env files read are given to this load; the label lists only those
	// the user gave (a default .env is none)
	st.GivenEnvFiles = l.st.GivenEnvFiles
	g, err := st.Graph()
	if err != nil {
		return nil, nil, "", err
	}
	return &loaded{st: st, g: g, stateDir: l.stateDir}, images, id, nil
}

// pickRollbackDeploy finds the deploy to go back to in the history.
func pickRollbackDeploy(stateDir, project, to string) (string, error) {
	hist, err := report.LoadHistory(stateDir, project)
	if err != nil {
		return "", err
	}
	var ok []string // successful deploys with a config record, oldest first
	for _, e := range hist {
		m := e.Metrics
		if (m.Outcome == report.DeploySuccess || m.Outcome == report.DeployDegraded) && hasConfigRecord(stateDir, project, m.DeployID) {
			ok = append(ok, m.DeployID)
		}
	}
	if to != "previous" {
		for _, id := range ok {
			if id == to {
				return id, nil
			}
		}
		return "", usageError{fmt.Errorf("deploy %s is not a successful deploy of %s with a kept configuration still on record (see dive hub history; a project keeps the records of its last %d deploys unless %s says otherwise)", to, project, defaultKeepDeploys, envKeepDeploys)}
	}
	if len(ok) < 2 {
		return "", usageError{errors.New("no earlier successful deploy to roll back to: fewer than two successful deploys with a kept configuration (see dive hub history)")}
	}
	return ok[len(ok)-2], nil
}

func hasConfigRecord(stateDir, project, id string) bool {
	_, err := os.Stat(filepath.Join(report.DeployDir(stateDir, project, id), imagesRecord))
	return err == nil
}
