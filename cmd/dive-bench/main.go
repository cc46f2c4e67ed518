// Command dive-bench measures dive against docker compose on synthetic stacks
// whose readiness delays are known, so the numbers can be compared with the
// stacks' critical path. `make bench` runs it through scripts/bench.sh;
// docs/performance.md is written from its output.
//
// Every stack is deployed, in one run of this program, by both tools side by
// side, alternating which goes first:
//
//	dive:    bin/dive hub deploy -f F -p P --state-dir S --wait-all   (fresh, then again: no-op), hub down -v
//	compose: docker compose -p P -f F up -d --wait                    (fresh, then again: no-op), down -v
//
// Wall times are process start to exit, measured here. Every service is the
// stand-in (the dive binary as `dive standin`, see internal/standin) told by
// STANDIN_READY_AFTER how long it takes to become ready, and by
// STANDIN_REQUIRES which dependencies must already answer when it starts, so
// a start before a dependency is ready crashes the service and fails the run.
//
// The critical path comes from internal/graph: (i) the applications' own
// readiness delays only, (ii) the same plus the container start cost measured
// from dive's events.jsonl in this run (service_starting -> service_started,
// less the time the start queued at dive's own operation gate; see
// startCall). The "<= 1.35x critical path" target is judged against (ii).
//
// Every project this program creates is named bench-* and is taken down
// (down -v) before it exits, on failure and on Ctrl-C too.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// Targets (issue 3, item 5).
const (
	targetHubVsCP      = 1.35 // hub-shaped dive wall <= 1.35 x critical path (ii)
	targetHubVsCompose = 0.70 // hub-shaped dive wall <= 0.70 x compose wall
	targetChainCompose = 0.40 // chain-20 dive wall <= 0.40 x compose wall
	targetDemoNoop     = 500 * time.Millisecond
	loadWarn           = 1.5
	healthcheckTest    = `["CMD", "/dive", "standin", "probe"]`
)

// defaultStacks: the project's own shapes, then the shapes users have
// (issues 10 and 16): a chain and a fan-out at 1 s healthcheck intervals
// (the engine's own checks saturate 2 CPUs), the same at the DIVE hub
// file's cadence, 100 and 200 wide, and 200 services without healthchecks.
const defaultStacks = "hub-shaped,chain-20,fanout-50,chain-20@1s,fanout-50@1s,chain-20@5s,fanout-50@5s,fanout-100@5s,fanout-200@5s,fanout-100@1s,flat-200"

type options struct {
	dive        string
	runs        int
	scale       float64
	write       string
	stacks      string
	demo        bool
	compose     string
	chainDelay  time.Duration
	fanoutRoot  time.Duration
	fanoutLeaf  time.Duration
	interval    time.Duration
	cmdTimeout  time.Duration
	keep        bool
	verbose     bool
	rsInitDelay time.Duration
	noprobe     bool
}

func main() {
	var o options
	flag.StringVar(&o.dive, "dive", "bin/dive", "the dive binary to benchmark (a static linux build; it is also the stand-in image's binary)")
	flag.IntVar(&o.runs, "runs", 3, "runs per stack and tool (the median is reported)")
	flag.Float64Var(&o.scale, "scale", 0.25, "hub-shaped: factor applied to the real hub's seconds-to-healthy")
	flag.StringVar(&o.write, "write", "", "write the results as markdown to this file (e.g. docs/performance.md)")
	flag.StringVar(&o.stacks, "stacks", defaultStacks, "comma-separated stacks to run: hub-shaped, chain-20, fanout-50 (the -chain-*/-fanout-*/-interval flags), chain-N@INTERVAL, fanout-N@INTERVAL (see cadenceStack), flat-N (N services without healthcheck)")
	flag.BoolVar(&o.noprobe, "noprobe", true, "also run dive with its own probe off (the engine's health events alone)")
	flag.BoolVar(&o.demo, "demo", true, "also measure `dive hub deploy --demo` (fresh, then no-op)")
	flag.StringVar(&o.compose, "compose", "auto", "compare with docker compose: auto (when `docker compose version` works), on, off")
	flag.DurationVar(&o.chainDelay, "chain-delay", 300*time.Millisecond, "chain-20: readiness delay of every link")
	flag.DurationVar(&o.fanoutRoot, "fanout-root", time.Second, "fanout-50: readiness delay of the root")
	flag.DurationVar(&o.fanoutLeaf, "fanout-leaf", 500*time.Millisecond, "fanout-50: readiness delay of every leaf")
	flag.DurationVar(&o.interval, "interval", 2*time.Second, "chain-20 and fanout-50: healthcheck interval")
	flag.DurationVar(&o.rsInitDelay, "rs-init", 300*time.Millisecond, "hub-shaped: run time of the mongodb-rs-init job (not scaled)")
	flag.DurationVar(&o.cmdTimeout, "cmd-timeout", 5*time.Minute, "deadline of every single deploy/down command")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (compose files, dive state, outputs)")
	flag.BoolVar(&o.verbose, "v", false, "print every command's output")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dive-bench: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if o.runs < 1 {
		fmt.Fprintln(os.Stderr, "dive-bench: -runs must be at least 1")
		os.Exit(2)
	}
	os.Exit(run(o))
}
