package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type sample struct {
	label             string // stack, run and tool, for the failure list
	fresh, noop, down time.Duration
	err               error
	why               string     // the failed command's last output line
	downErr           error      // the down failed (twice); the deploy times stand
	bd                *breakdown // dive: the fresh deploy
	noopBD            *breakdown // dive: the no-op deploy
	rssKB             int64      // the tool's peak RSS over its deploys (KiB), failed or not
}

type stackResult struct {
	def     *stackDef
	file    string
	dive    []*sample
	compose []*sample
	// noprobe: dive with its own probe off (the engine's health events
	// alone), from noprobeFile.
	noprobe     []*sample
	noprobeFile string
}

type stat struct {
	n             int
	med, min, max time.Duration
}

func durStat(ds []time.Duration) stat {
	if len(ds) == 0 {
		return stat{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{n: len(s), med: m, min: s[0], max: s[len(s)-1]}
}

func collect(ss []*sample, f func(*sample) time.Duration) stat {
	var ds []time.Duration
	for _, s := range ss {
		if s.err == nil {
			ds = append(ds, f(s))
		}
	}
	return durStat(ds)
}

// collectDown is the down times of the successful samples whose down
// succeeded at the first try.
func collectDown(ss []*sample) stat {
	var ds []time.Duration
	for _, s := range ss {
		if s.err == nil && s.down > 0 {
			ds = append(ds, s.down)
		}
	}
	return durStat(ds)
}

// medianSample is the successful sample whose fresh wall is the median (the
// lower middle one for an even count).
func medianSample(ss []*sample) *sample {
	return medianBy(ss, func(s *sample) time.Duration { return s.fresh })
}

// medianBy is the successful sample whose key is the median (the lower
// middle one for an even count).
func medianBy(ss []*sample, key func(*sample) time.Duration) *sample {
	var ok []*sample
	for _, s := range ss {
		if s.err == nil {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	sort.Slice(ok, func(i, j int) bool { return key(ok[i]) < key(ok[j]) })
	return ok[(len(ok)-1)/2]
}

func (b *bench) newProject(tool, slug string, run int, file string) *project {
	short := map[string]string{"dive": "d", "compose": "c", "demo": "x", "dive-noprobe": "n"}[tool]
	p := &project{name: fmt.Sprintf("bench-%s-%s-%s%d", slug, b.rnd, short, run), tool: tool, file: file, env: b.env}
	if tool == "dive" || tool == "dive-noprobe" {
		p.stateDir = filepath.Join(b.tmp, "state")
	}
	return p
}

// measure runs one tool once on a stack: fresh deploy, no-op deploy, down -v.
func (b *bench) measure(sr *stackResult, tool string, run int) *sample {
	file := sr.file
	if tool == "dive-noprobe" {
		file = sr.noprobeFile
	}
	p := b.newProject(tool, sr.def.slug, run, file)
	s := &sample{}
	b.tr.add(p)
	label := fmt.Sprintf("[%s run %d/%d] %-12s", sr.def.key, run, b.o.runs, tool)
	seen := map[string]bool{}
	s.label = fmt.Sprintf("%s run %d, %s", sr.def.key, run, tool)
	fail := func(what string, out []byte, err error) {
		s.err = fmt.Errorf("%s: %w", what, err)
		s.why = lastLine(out)
		fmt.Printf("%s %s FAILED: %v\n%s\n", label, what, err, tail(out, 25))
	}
	wall, t0, out, err := b.deploy(b.ctx, p)
	if err != nil {
		fail("fresh deploy", out, err)
	} else {
		s.fresh = wall
		if tool == "dive" {
			if f, err := newEventsFile(p.stateDir, p.name, seen); err != nil {
				fail("fresh deploy events", nil, err)
			} else if de, err := readEvents(f); err != nil {
				fail("fresh deploy events", nil, err)
			} else {
				s.bd = analyze(sr.def, de, t0, wall)
				if s.bd.orderErr != nil {
					fail("dependency order", nil, s.bd.orderErr)
				}
			}
		}
	}
	if s.err == nil && b.ctx.Err() == nil {
		wall, t0, out, err = b.deploy(b.ctx, p)
		if err != nil {
			fail("no-op deploy", out, err)
		} else {
			s.noop = wall
			if tool == "dive" {
				if f, err := newEventsFile(p.stateDir, p.name, seen); err == nil {
					if de, err := readEvents(f); err == nil {
						s.noopBD = analyze(sr.def, de, t0, wall)
					}
				}
			}
		}
	}
	s.rssKB = p.rssKB
	// down even after a failure; never with the interrupted context
	b.takeDown(p, label, s)
	if s.err == nil {
		extra := ""
		if s.bd != nil {
			cost := durStat(s.bd.startCosts).med
			limit := sr.def.criticalPath(appDelay, cost).total
			extra = fmt.Sprintf("  limit %.2fs = readiness path %.2fs + start cost %s per link (%.2f× the limit; start call median %s, starting→started median %s, readiness lag median %s)",
				limit.Seconds(), sr.def.criticalPath(appDelay, 0).total.Seconds(), ms(cost), s.fresh.Seconds()/max(limit.Seconds(), 0.001),
				ms(cost), ms(durStat(s.bd.startSpans).med), ms(durStat(s.bd.lags).med))
		}
		fmt.Printf("%s fresh %6.2fs  no-op %5.2fs  down %s  peak RSS %s%s\n", label, s.fresh.Seconds(), s.noop.Seconds(), downText(s), mib(s.rssKB), extra)
	}
	return s
}

// takeDown runs down -v for the sample's project and records the outcome.
func (b *bench) takeDown(p *project, label string, s *sample) {
	d, err := b.downOnce(p, label)
	switch {
	case err == nil:
		s.down = d
	case errors.Is(err, errDownRetried):
	default:
		s.downErr = err
	}
	if b.ctx.Err() != nil && s.err == nil {
		s.err = errors.New("interrupted")
	}
}

func downText(s *sample) string {
	switch {
	case s.downErr != nil:
		return "FAILED"
	case s.down == 0:
		return "(retried)"
	}
	return fmt.Sprintf("%5.2fs", s.down.Seconds())
}

// downOnce takes a project down (never with the interrupted context). A
// failed down is tried once more, since docker 20.10 sometimes refuses to
// remove a network whose last endpoint is still being released; the time
// reported is the first attempt's when it succeeded.
func (b *bench) downOnce(p *project, label string) (time.Duration, error) {
	var first time.Duration
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), b.o.cmdTimeout)
		d, out, err := b.down(ctx, p)
		cancel()
		if try == 1 {
			first = d
		}
		if err == nil {
			b.tr.done(p.name)
			if try > 1 {
				fmt.Printf("%s down needed a second try (first try failed after %.2fs); its time is not reported\n", label, first.Seconds())
				b.downRetries++
				return 0, errDownRetried
			}
			return d, nil
		}
		fmt.Printf("%s down (try %d) FAILED: %v\n%s\n", label, try, err, tail(out, 6))
		if try == 2 {
			msg := lastLine(out)
			if strings.Contains(string(out), "has active endpoints") {
				msg += " (docker 20.10 keeps a stale endpoint count, moby/moby#42119: only a dockerd restart frees the network)"
			}
			return 0, fmt.Errorf("%w: %s", err, msg)
		}
		time.Sleep(2 * time.Second)
	}
}

// errDownRetried marks a down that needed a second try: the project is gone,
// the sample's deploy times stand, its down time is not reported.
var errDownRetried = errors.New("down needed a second try")

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
