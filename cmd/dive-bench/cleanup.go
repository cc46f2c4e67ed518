package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tracker remembers every project created and not yet taken down.
type tracker struct {
	mu       sync.Mutex
	projects map[string]*project
	all      []*project
}

type project struct {
	name     string
	tool     string // dive, compose, demo
	file     string
	stateDir string
	env      []string
	rssKB    int64 // the largest peak RSS of its deploys (KiB)
}

func (t *tracker) add(p *project) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.projects[p.name] = p
	t.all = append(t.all, p)
}

func (t *tracker) done(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.projects, name)
}

func (t *tracker) pending() []*project {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*project
	for _, p := range t.projects {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type bench struct {
	o        options
	ctx      context.Context
	tmp      string
	dive     string // the snapshot of the dive binary that runs
	env      []string
	image    string
	compose  bool
	composeV string
	tr       *tracker
	rnd      string

	downRetries int
}

func run(o options) int {
	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range sigs {
			n++
			switch {
			case n == 1:
				fmt.Fprintln(os.Stderr, "\ndive-bench: interrupted: stopping, then taking down every bench project (Ctrl-C 3 more times to abandon the clean-up)")
				cancel()
			case n >= 4:
				fmt.Fprintln(os.Stderr, "dive-bench: clean-up abandoned; bench-* projects may be left behind (docker ps -a --filter name=bench-)")
				os.Exit(130)
			default:
				fmt.Fprintln(os.Stderr, "dive-bench: cleaning up, please wait")
			}
		}
	}()

	b := &bench{o: o, ctx: ctx, tr: &tracker{projects: map[string]*project{}}}
	code := b.main()
	b.cleanup()
	if b.tmp != "" {
		if o.keep {
			fmt.Printf("kept %s\n", b.tmp)
		} else {
			_ = os.RemoveAll(b.tmp)
		}
	}
	fmt.Printf("bench took %s\n", time.Since(started).Round(time.Second))
	if ctx.Err() != nil {
		return 130
	}
	return code
}

// cleanup takes down every project still up, then removes whatever a
// bench-* project of this run left behind (and says so: a leftover after a
// successful down is a bug).
func (b *bench) cleanup() {
	for _, p := range b.tr.pending() {
		fmt.Fprintf(os.Stderr, "cleanup: taking down %s (%s)\n", p.name, p.tool)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		_, out, err := b.down(ctx, p)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "cleanup: down %s: %v\n%s\n", p.name, err, tail(out, 15))
		} else {
			b.tr.done(p.name)
		}
	}
	b.tr.mu.Lock()
	all := append([]*project(nil), b.tr.all...)
	b.tr.mu.Unlock()
	for _, p := range all {
		left := leftovers(p.name)
		if len(left) == 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "cleanup: %s left behind %s; removing them\n", p.name, strings.Join(left, ", "))
		removeLeftovers(p.name)
		if left := leftovers(p.name); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "cleanup: could not remove %s (a network docker says \"has active endpoints\" with no container attached is docker 20.10's stale endpoint count, moby/moby#42119: it goes away with a dockerd restart, or remove it by hand later)\n", strings.Join(left, ", "))
		}
	}
}

// leftovers lists the Docker objects of a bench project that still exist.
func leftovers(name string) []string {
	var out []string
	q := func(kind string, args ...string) {
		o, err := exec.Command("docker", args...).Output()
		if err != nil {
			return
		}
		for _, l := range strings.Fields(string(o)) {
			out = append(out, kind+" "+l)
		}
	}
	lbl := "label=com.docker.compose.project=" + name
	q("container", "ps", "-a", "--format", "{{.Names}}", "--filter", lbl)
	q("network", "network", "ls", "--format", "{{.Name}}", "--filter", lbl)
	q("network", "network", "ls", "--format", "{{.Name}}", "--filter", "label=io.dive.created-for="+name)
	q("volume", "volume", "ls", "--format", "{{.Name}}", "--filter", lbl)
	q("volume", "volume", "ls", "--format", "{{.Name}}", "--filter", "name=dive-lock_"+name)
	return out
}

func removeLeftovers(name string) {
	lbl := "label=com.docker.compose.project=" + name
	list := func(args ...string) []string {
		o, _ := exec.Command("docker", args...).Output()
		return strings.Fields(string(o))
	}
	if ids := list("ps", "-aq", "--filter", lbl); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	ids := append(list("network", "ls", "-q", "--filter", lbl), list("network", "ls", "-q", "--filter", "label=io.dive.created-for="+name)...)
	if len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	var vols []string
	vols = append(vols, list("volume", "ls", "-q", "--filter", lbl)...)
	for _, v := range list("volume", "ls", "-q", "--filter", "name=dive-lock_"+name) {
		if v == "dive-lock_"+name {
			vols = append(vols, v)
		}
	}
	if len(vols) > 0 {
		_ = exec.Command("docker", append([]string{"volume", "rm", "-f"}, vols...)...).Run()
	}
}
