package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printReport writes the results as a Markdown table, with ratios to the
// baseline and to the targets of docs/performance.md, and returns it.
func printReport(w io.Writer, machine string, rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMachine: %s\n\n", machine)
	fmt.Fprintln(&b, "| run | system | events | partitions | replicas | events/s | CPU µs/event | CPU cores | bench CPU µs/event | peak RSS | requests | full (50) | allocs/event | bytes/event | p50 | p99 | wall |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	base := baselineOf(rs)
	for _, r := range rs {
		full, allocs, bytesPer, lat50, lat99 := "", "", "", "", ""
		if r.requests > 0 {
			full = fmt.Sprintf("%.1f %%", 100*float64(r.full)/float64(r.requests))
		}
		if r.mallocs > 0 {
			allocs = fmt.Sprintf("%.1f", r.mallocs/float64(r.n))
			bytesPer = fmt.Sprintf("%.0f", r.allocBytes/float64(r.n))
		}
		if r.p99 > 0 {
			lat50, lat99 = ms(r.p50), ms(r.p99)
		}
		rate := fmt.Sprintf("%.0f", r.eventsPerSec())
		if r.rate > 0 {
			rate = fmt.Sprintf("%d (offered)", r.rate)
		}
		reqs := ""
		if r.requests > 0 {
			reqs = fmt.Sprint(r.requests)
		}
		cores := 0.0
		if r.wall > 0 {
			cores = r.cpu.Seconds() / r.wall.Seconds()
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, r.system, r.n, r.partitions, r.replicas, rate, micros(r.cpuPerEvent()), cores,
			micros(r.benchCPU/time.Duration(max(r.n, 1))), mb(r.peakRSS), reqs, full, allocs, bytesPer, lat50, lat99,
			r.wall.Round(100*time.Millisecond))
	}
	if base != nil && base.eventsPerSec() > 0 {
		fmt.Fprintln(&b, "\nRatios to the kafka-go baseline of this run (gateway / baseline):")
		ratioTable(&b, rs, base)
	}
	if ref := referenceOf(rs); ref != nil && ref.eventsPerSec() > 0 {
		fmt.Fprintf(&b, "\nAgainst the reference pipeline of this run (gateway / reference, %.2f µs per event; the CPU target,\n", micros(ref.cpuPerEvent()))
		fmt.Fprintln(&b, "10 µs against the reference's 15–20, is 0.50–0.67):")
		ratioTable(&b, rs, ref)
	}
	s := b.String()
	fmt.Fprint(w, s)
	return s
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }

// ratioTable writes the throughput, CPU per event and peak RSS of each
// gateway backlog run of rs as ratios to those of against.
func ratioTable(b *strings.Builder, rs []result, against *result) {
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| run | throughput | CPU per event | peak RSS |")
	fmt.Fprintln(b, "|---|---:|---:|---:|")
	for _, r := range rs {
		if !r.isGateway() || r.rate > 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %.2f |\n", r.name, r.eventsPerSec()/against.eventsPerSec(),
			float64(r.cpuPerEvent())/float64(max(against.cpuPerEvent(), 1)), float64(r.peakRSS)/float64(max(against.peakRSS, 1)))
	}
}

// referenceOf returns the reference pipeline's run of rs, if it ran; when
// it ran more than once (-scenario reference,backlog,reference brackets
// the gateway's run, so that the machine's drift during it evens out), the
// runs pooled: their events, CPU and active time summed, the highest RSS.
func referenceOf(rs []result) *result {
	var ref *result
	for _, r := range rs {
		if r.name != "reference" || r.cpuPerEvent() <= 0 {
			continue
		}
		if ref == nil {
			ref = &result{name: r.name, system: r.system, partitions: r.partitions, replicas: r.replicas}
		}
		ref.n += r.n
		ref.cpu += r.cpu
		ref.active += r.active
		ref.peakRSS = max(ref.peakRSS, r.peakRSS)
	}
	return ref
}
