package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeRun is a compared run of a baseline and a backlog with the given CPU
// per event (1,000 events).
func fakeRun(round, bin int, baseline, backlog time.Duration) compareRun {
	mk := func(name string, perEvent time.Duration) result {
		return result{name: name, n: 1000, cpu: 1000 * perEvent, active: time.Second, peakRSS: 90 << 20}
	}
	return compareRun{round: round, bin: bin, results: []result{mk("baseline", baseline), mk("backlog", backlog)}}
}

func TestPrintComparison(t *testing.T) {
	runs := []compareRun{
		fakeRun(1, 0, 3*time.Microsecond, 12*time.Microsecond), // A: 4.0 × baseline
		fakeRun(1, 1, 3*time.Microsecond, 9*time.Microsecond),  // B: 3.0 ×, 0.75 of A
		fakeRun(2, 0, 2*time.Microsecond, 10*time.Microsecond), // A: 5.0 ×
		fakeRun(2, 1, 4*time.Microsecond, 11*time.Microsecond), // B: 2.75 ×, 1.1 of A, 0.55 of A's ratio
	}
	out := printComparison(io.Discard, "test machine", []string{"/bin/a", "/bin/b"}, runs)
	for _, want := range []string{
		"A = /bin/a", "B = /bin/b",
		"| 2 | B | backlog | 1000 | 11.00 | 2.75 | 90 MB |",
		// A: mean 11 µs, mean ratio 4.5; B: mean 10 µs, ratio 2.875,
		// against A (0.75 + 1.1)/2 = 0.925 and (0.75 + 0.55)/2 = 0.65.
		"| backlog | A | 11.00 | 4.50 |  |  |  |",
		"| backlog | B | 10.00 | 2.88 | -7.5 % | -35.0 % | 1 of 2 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| baseline | A |") {
		t.Errorf("the baseline is summarised as a run:\n%s", out)
	}
}

func TestCompareBinaries(t *testing.T) {
	exists := func(string) error { return nil }
	if bins, err := compareBinaries(" /x/a , /x/b ,", exists); err != nil || len(bins) != 2 || bins[0] != "/x/a" || bins[1] != "/x/b" {
		t.Fatalf("compareBinaries = %q, %v", bins, err)
	}
	if _, err := compareBinaries("/x/a", exists); err == nil {
		t.Fatal("one binary is accepted")
	}
	missing := func(p string) error { return errors.New("no " + p) }
	if _, err := compareBinaries("/x/a,/x/b", missing); err == nil || !strings.Contains(err.Error(), "no /x/a") {
		t.Fatalf("a missing binary gives %v", err)
	}
}
