package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// compareRun is one binary's pass over the scenarios in one round of a
// comparison (-compare).
type compareRun struct {
	round   int
	bin     int // index into the compared binaries
	results []result
}

// compare runs the scenarios with each binary in turn, rounds times, so
// that the binaries share the machine's slow and fast spells alike: the
// way docs/performance.md compares two versions on a shared machine. Every
// other round takes the binaries in reverse order (A B, B A, …), so that a
// drift of the machine during a round favours none of them.
func (e *env) compare(ctx context.Context, bins []string, rounds int, scenarios []string, log io.Writer) ([]compareRun, error) {
	var runs []compareRun
	for r := 1; r <= rounds; r++ {
		for k := range bins {
			i := k
			if r%2 == 0 {
				i = len(bins) - 1 - k
			}
			bin := bins[i]
			fmt.Fprintf(log, "round %d of %d: %s\n", r, rounds, bin)
			e.bin = bin
			run := compareRun{round: r, bin: i}
			for _, s := range scenarios {
				rs, err := e.scenario(ctx, s)
				run.results = append(run.results, rs...)
				if err != nil {
					return append(runs, run), fmt.Errorf("%s, round %d: %s: %w", bin, r, s, err)
				}
			}
			runs = append(runs, run)
		}
	}
	return runs, nil
}

// printComparison writes every run of a comparison and, per scenario, each
// binary's mean CPU per event, its mean ratio to the baseline of its own
// run (when the baseline scenario ran), and how each binary compares with
// the first, pair by pair. It returns what it wrote.
func printComparison(w io.Writer, machine string, bins []string, runs []compareRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMachine: %s\n\n", machine)
	for i, bin := range bins {
		fmt.Fprintf(&b, "%c = %s\n", 'A'+i, bin)
	}
	fmt.Fprintln(&b, "\n| round | binary | run | events/s | CPU µs/event | × baseline | peak RSS | allocs/event | bytes/event |")
	fmt.Fprintln(&b, "|---:|---|---|---:|---:|---:|---:|---:|---:|")
	var names []string
	seen := map[string]bool{}
	for _, run := range runs {
		base := baselineOf(run.results)
		for _, r := range run.results {
			ratio, allocs, bytesPer := "", "", ""
			if base != nil && r.isGateway() {
				ratio = fmt.Sprintf("%.2f", baselineRatio(r, base))
			}
			if r.mallocs > 0 {
				allocs = fmt.Sprintf("%.1f", r.mallocs/float64(r.n))
				bytesPer = fmt.Sprintf("%.0f", r.allocBytes/float64(r.n))
			}
			fmt.Fprintf(&b, "| %d | %c | %s | %.0f | %.2f | %s | %s | %s | %s |\n", run.round, 'A'+run.bin, r.name,
				r.eventsPerSec(), micros(r.cpuPerEvent()), ratio, mb(r.peakRSS), allocs, bytesPer)
			if r.isGateway() && r.rate == 0 && !seen[r.name] {
				seen[r.name] = true
				names = append(names, r.name)
			}
		}
	}
	fmt.Fprintln(&b, "\nMeans over the rounds; \"against A\" is the mean of the per-round ratios to A's run of the same round:")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| run | binary | CPU µs/event | × baseline | CPU against A | × baseline against A | rounds better than A |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|---:|")
	for _, name := range names {
		for i := range bins {
			s := summarize(runs, name, i)
			if s.rounds == 0 {
				continue
			}
			against, ratioAgainst, better := "", "", ""
			if i > 0 && s.pairs > 0 {
				against = fmt.Sprintf("%+.1f %%", 100*(s.cpuAgainst/float64(s.pairs)-1))
				better = fmt.Sprintf("%d of %d", s.better, s.pairs)
				if s.ratioPairs > 0 {
					ratioAgainst = fmt.Sprintf("%+.1f %%", 100*(s.ratioAgainst/float64(s.ratioPairs)-1))
				}
			}
			ratio := ""
			if s.ratioRounds > 0 {
				ratio = fmt.Sprintf("%.2f", s.ratio/float64(s.ratioRounds))
			}
			fmt.Fprintf(&b, "| %s | %c | %.2f | %s | %s | %s | %s |\n", name, 'A'+i, s.cpu/float64(s.rounds), ratio, against, ratioAgainst, better)
		}
	}
	out := b.String()
	fmt.Fprint(w, out)
	return out
}

// summary is one binary's figures for one scenario over the rounds.
type summary struct {
	rounds, ratioRounds int
	cpu, ratio          float64 // sums of CPU µs per event and of ratios to the baseline
	pairs, ratioPairs   int     // rounds in which A ran the scenario too
	cpuAgainst          float64 // sum of CPU per event / A's, per round
	ratioAgainst        float64 // sum of baseline ratio / A's, per round
	better              int     // rounds with less CPU per event than A
}

func summarize(runs []compareRun, name string, bin int) summary {
	var s summary
	for _, run := range runs {
		if run.bin != bin {
			continue
		}
		r, ok := find(run.results, name)
		if !ok {
			continue
		}
		s.rounds++
		s.cpu += micros(r.cpuPerEvent())
		base := baselineOf(run.results)
		if base != nil {
			s.ratioRounds++
			s.ratio += baselineRatio(r, base)
		}
		if bin == 0 {
			continue
		}
		a, ok := roundRun(runs, run.round, 0)
		if !ok {
			continue
		}
		ar, ok := find(a.results, name)
		if !ok || ar.cpuPerEvent() <= 0 {
			continue
		}
		s.pairs++
		s.cpuAgainst += float64(r.cpuPerEvent()) / float64(ar.cpuPerEvent())
		if r.cpuPerEvent() < ar.cpuPerEvent() {
			s.better++
		}
		if abase := baselineOf(a.results); base != nil && abase != nil {
			s.ratioPairs++
			s.ratioAgainst += baselineRatio(r, base) / baselineRatio(ar, abase)
		}
	}
	return s
}

func baselineOf(rs []result) *result {
	for i := range rs {
		if rs[i].name == "baseline" && rs[i].cpuPerEvent() > 0 {
			return &rs[i]
		}
	}
	return nil
}

func baselineRatio(r result, base *result) float64 {
	return float64(r.cpuPerEvent()) / float64(base.cpuPerEvent())
}

func find(rs []result, name string) (result, bool) {
	for _, r := range rs {
		if r.name == name {
			return r, true
		}
	}
	return result{}, false
}

func roundRun(runs []compareRun, round, bin int) (compareRun, bool) {
	for _, run := range runs {
		if run.round == round && run.bin == bin {
			return run, true
		}
	}
	return compareRun{}, false
}

// compareBinaries splits -compare's list and checks that each names a
// file.
func compareBinaries(list string, stat func(string) error) ([]string, error) {
	var bins []string
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if err := stat(b); err != nil {
			return nil, fmt.Errorf("-compare: %w", err)
		}
		abs, err := filepath.Abs(b)
		if err != nil {
			return nil, err
		}
		bins = append(bins, abs)
	}
	if len(bins) < 2 {
		return nil, fmt.Errorf("-compare needs two gateway binaries or more, got %d", len(bins))
	}
	return bins, nil
}
