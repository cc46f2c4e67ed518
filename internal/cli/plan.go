package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/redact"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/spf13/cobra"
)

// planService is one service in `hub plan`.
type planService struct {
	Name         string `json:"name"`
	Class        string `json:"class"`
	Declared     string `json:"declared_class,omitempty"` // the file's class when it is not one of core/optional/stretch
	Image        string `json:"image"`
	Build        bool   `json:"build"`
	Healthcheck  bool   `json:"healthcheck"`
	OneShot      bool   `json:"one_shot,omitempty"`
	BudgetMS     int64  `json:"budget_ms"`
	BudgetSource string `json:"budget_source"`
	ExpectedMS   *int64 `json:"expected_ready_ms,omitempty"` // p50 start->ready from history
	Samples      int    `json:"history_samples,omitempty"`
	Description  string `json:"description,omitempty"`
	ProbeMS      *int64 `json:"probe_interval_ms,omitempty"`
	ProbeOff     bool   `json:"probe_off,omitempty"`
	TCPPort      int    `json:"tcp_port,omitempty"`
	Retries      int    `json:"retries"`
	Level        int    `json:"level"`
}

type planOut struct {
	Project      string              `json:"project"`
	Files        []string            `json:"files"`
	Profiles     []string            `json:"profiles,omitempty"`
	Services     []planService       `json:"services"`
	ByClass      map[string][]string `json:"by_class"`
	Excluded     []string            `json:"excluded"`
	Edges        []graph.Edge        `json:"edges"`
	StartOrder   []string            `json:"start_order"`
	Levels       [][]string          `json:"levels"`
	CriticalPath []graph.Link        `json:"critical_path"`
	CriticalMS   int64               `json:"critical_path_ms"`
	CriticalFrom string              `json:"critical_path_basis"` // "history" or "structure"
	Warnings     []string            `json:"warnings,omitempty"`
	// References are the edges from network_mode/ipc/pid service:, volumes_from and links.
	References   []stack.Reference `json:"references,omitempty"`
	ScaledToZero []string          `json:"scaled_to_zero,omitempty"` // scale 0: no container, not waited on
	Networks     []stack.Network   `json:"networks,omitempty"`
}

func (a *app) planCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "plan [SERVICE...]",
		Short: "Show what a deploy would do: classes, dependencies, budgets, start order and critical path",
		RunE: func(c *cobra.Command, args []string) error {
			l, err := a.load(c.Context(), args, "")
			if err != nil {
				return err
			}
			p := buildPlan(l, a.expectedReadiness(l))
			// The plan shows interpolated values (descriptions, images,
			// warnings): the stack's secrets are masked as in every output.
			out := newRedactor(l.st).Writer(a.stdout).(*redact.LineWriter)
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(p); err != nil {
					return err
				}
				return out.Flush()
			}
			printPlan(out, p)
			return out.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// expectation is history's view of a service: p50 start->ready and sample count.
type expectation struct {
	P50     time.Duration
	Samples int
}

func buildPlan(l *loaded, hist map[string]expectation) planOut {
	st, g := l.st, l.g
	p := planOut{Project: st.Project.Name, Files: st.Files, Profiles: st.Project.Profiles, ByClass: map[string][]string{},
		Excluded: st.Disabled, Edges: g.Edges(), StartOrder: g.Order(), Levels: g.Levels(), Warnings: st.Warnings,
		References: st.References(), ScaledToZero: st.ScaledToZero, Networks: st.Networks()}
	if p.Excluded == nil {
		p.Excluded = []string{}
	}
	level := map[string]int{}
	for i, lv := range p.Levels {
		for _, n := range lv {
			level[n] = i
		}
	}
	for _, n := range st.Names {
		s := st.Services[n]
		ps := planService{Name: n, Class: string(s.Class), Image: s.Config.Image, Build: s.Config.Build != nil, Healthcheck: s.HasHealthcheck(),
			OneShot: s.OneShot, BudgetMS: s.Budget.Milliseconds(), BudgetSource: s.BudgetSource, Description: s.Description,
			ProbeOff: s.ProbeOff, TCPPort: s.TCPPort, Retries: s.Retries, Level: level[n]}
		if ps.Image == "" {
			ps.Image = st.Project.Name + "-" + n
		}
		if s.Declared != string(s.Class) {
			ps.Declared = s.Declared
		}
		if s.ProbeInterval > 0 {
			ms := s.ProbeInterval.Milliseconds()
			ps.ProbeMS = &ms
		}
		if e, ok := hist[n]; ok {
			ms := e.P50.Milliseconds()
			ps.ExpectedMS, ps.Samples = &ms, e.Samples
		}
		p.Services = append(p.Services, ps)
		p.ByClass[string(s.Class)] = append(p.ByClass[string(s.Class)], n)
	}
	core := func(n string) bool { return st.Services[n].Class == stack.Core }
	if len(hist) > 0 {
		p.CriticalFrom = "history"
		p.CriticalPath, _ = g.CriticalPath(func(n string) time.Duration { return hist[n].P50 }, core)
	} else {
		// No history: the structural critical path, one unit per service.
		p.CriticalFrom = "structure"
		p.CriticalPath, _ = g.CriticalPath(func(string) time.Duration { return time.Millisecond }, core)
		for i := range p.CriticalPath {
			p.CriticalPath[i].Start, p.CriticalPath[i].Ready = 0, 0
		}
	}
	if len(p.CriticalPath) > 0 && p.CriticalFrom == "history" {
		p.CriticalMS = p.CriticalPath[len(p.CriticalPath)-1].Ready.Milliseconds()
	}
	return p
}

func printPlan(w io.Writer, p planOut) {
	fmt.Fprintf(w, "project %s (%s)\n", p.Project, strings.Join(p.Files, ", "))
	for _, c := range []string{"core", "optional", "stretch"} {
		if len(p.ByClass[c]) > 0 {
			fmt.Fprintf(w, "  %-9s %s\n", c+":", strings.Join(p.ByClass[c], ", "))
		}
	}
	if len(p.Excluded) > 0 {
		fmt.Fprintf(w, "  excluded by profile: %s\n", strings.Join(p.Excluded, ", "))
	}
	if len(p.ScaledToZero) > 0 {
		fmt.Fprintf(w, "  scaled to 0 (no container; dependents do not wait): %s\n", strings.Join(p.ScaledToZero, ", "))
	}
	printPlanNetworks(w, p.Networks)
	fmt.Fprintln(w, "\nservices:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tCLASS\tLEVEL\tBUDGET\tBUDGET FROM\tEXPECTED READY\tWAITS FOR")
	deps := map[string][]string{}
	for _, e := range p.Edges {
		tag := strings.TrimPrefix(string(e.Condition), "service_")
		if !e.Required {
			tag += ",optional"
		}
		if e.Restart {
			tag += ",restart"
		}
		for _, r := range p.References {
			if r.From == e.From && r.To == e.To {
				tag += "," + r.Key
			}
		}
		deps[e.From] = append(deps[e.From], fmt.Sprintf("%s (%s)", e.To, tag))
	}
	svcs := append([]planService(nil), p.Services...)
	order := map[string]int{}
	for i, n := range p.StartOrder {
		order[n] = i
	}
	sort.Slice(svcs, func(i, j int) bool { return order[svcs[i].Name] < order[svcs[j].Name] })
	for _, s := range svcs {
		exp := "-"
		if s.ExpectedMS != nil {
			exp = fmt.Sprintf("%.2fs (n=%d)", float64(*s.ExpectedMS)/1000, s.Samples)
		}
		class := s.Class
		if s.Declared != "" {
			class = s.Declared + "→" + s.Class
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Name, class, s.Level, time.Duration(s.BudgetMS)*time.Millisecond, s.BudgetSource, exp, dash(strings.Join(deps[s.Name], ", ")))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nstart order (each starts the moment its own dependencies are ready): %s\n", strings.Join(p.StartOrder, ", "))
	if p.CriticalFrom == "history" {
		fmt.Fprintf(w, "critical path (from history, p50): %s = %.2fs\n", graph.PathString(p.CriticalPath), float64(p.CriticalMS)/1000)
		for _, l := range p.CriticalPath {
			fmt.Fprintf(w, "  %-18s starts at %6.2fs, ready at %6.2fs\n", l.Service, l.Start.Seconds(), l.Ready.Seconds())
		}
	} else {
		fmt.Fprintf(w, "critical path (longest dependency chain; no deploy history yet): %s\n", graph.PathString(p.CriticalPath))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func printPlanNetworks(w io.Writer, nets []stack.Network) {
	for _, n := range nets {
		line := "  network " + n.Name
		if len(n.Subnets) > 0 {
			line += " (subnet " + strings.Join(n.Subnets, ", ") + ")"
		}
		if n.Note != "" {
			line += ": " + n.Note
		}
		fmt.Fprintln(w, line)
	}
}
