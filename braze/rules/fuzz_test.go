package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzCheck feeds arbitrary paths and bodies to every exported function and
// checks that none panics and that their answers agree. The seed corpus in
// testdata/fuzz/FuzzCheck holds realistic valid and invalid bodies of every
// endpoint and runs with every `go test`.
func FuzzCheck(f *testing.F) {
	for path, body := range validBodies() {
		f.Add(path, []byte(body))
	}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	lenient := Options{AllowAudienceWithoutBroadcast: true, AllowCampaignFieldsOnCanvas: true, AllowMissingScheduleID: true}
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		orig := bytes.Clone(body)
		strict := Check(path, body, Options{})
		loose := Check(path, body, lenient)
		clocked := Check(path, body, Options{Now: func() time.Time { return now }})
		for _, err := range []error{strict, loose, clocked} {
			if err == nil {
				continue
			}
			var v *Violation
			if !errors.As(err, &v) || v.Label == "" || v.Error() == "" {
				t.Fatalf("Check returned %#v, want nil or a labelled *Violation", err)
			}
		}
		trusted := Check(path, body, Options{ValidJSON: true}) // any answer on invalid JSON, but no panic
		if json.Valid(body) && fmt.Sprint(trusted) != fmt.Sprint(strict) {
			t.Fatalf("Check with ValidJSON says %v, without %v", trusted, strict)
		}
		if strict == nil && loose != nil {
			t.Fatalf("lenient options reject what strict ones accept: %v", loose)
		}
		n, rerr := Recipients(path, body)
		if strict == nil {
			if rerr != nil {
				t.Fatalf("Check accepts but Recipients fails: %v", rerr)
			}
			if n > MaxRecipients {
				t.Fatalf("Check accepts %d recipients", n)
			}
			if IsBroadcast(path, body) && n != 0 {
				t.Fatalf("broadcast with %d recipients accepted", n)
			}
		}
		for _, method := range []string{"POST", "GET"} {
			charges := Classify(method, path, body)
			if len(charges) == 0 {
				t.Fatalf("Classify(%s, %q) is empty", method, path)
			}
			for _, c := range charges {
				if (c.Budget == BudgetAudience) != (c.Key != "") {
					t.Fatalf("charge %+v: only audience charges carry a key", c)
				}
				if c.Key != "" && !strings.HasPrefix(c.Key, "{") {
					t.Fatalf("audience key %q is not a JSON object", c.Key)
				}
			}
		}
		if !bytes.Equal(body, orig) {
			t.Fatal("body was modified")
		}
	})
}

// TestSeedCorpus pins what the named seed files of FuzzCheck stand for:
// files ending in _valid pass Check, files ending in _invalid do not. Files
// the fuzzer adds (named by hash) are only run by FuzzCheck itself.
func TestSeedCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCheck", "*"))
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, file := range files {
		name := filepath.Base(file)
		valid, invalid := strings.HasSuffix(name, "_valid"), strings.HasSuffix(name, "_invalid")
		if !valid && !invalid {
			continue
		}
		named++
		t.Run(name, func(t *testing.T) {
			path, body := readSeed(t, file)
			err := Check(path, body, Options{})
			if valid && err != nil {
				t.Fatalf("Check(%s) = %v, want nil", path, err)
			}
			if invalid && err == nil {
				t.Fatalf("Check(%s) = nil, want a violation", path)
			}
		})
	}
	if named < len(Endpoints()) {
		t.Fatalf("only %d named seed files, want at least one per endpoint", named)
	}
}

// readSeed reads a corpus file of the form written by the fuzzer:
// a version line, then string(path) and []byte(body) in Go syntax.
func readSeed(t *testing.T, file string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a two-value fuzz corpus file", file)
	}
	unquote := func(line, prefix string) string {
		s, ok := strings.CutPrefix(line, prefix+"(")
		if !ok || !strings.HasSuffix(s, ")") {
			t.Fatalf("%s: want %s(…), got %.40s", file, prefix, line)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return v
	}
	return unquote(lines[1], "string"), []byte(unquote(lines[2], "[]byte"))
}
