package check

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

// stage is one FROM … stage.
type stage struct {
	from         string
	instructions []instruction
}

// parseDockerfile splits a Dockerfile into stages (instructions before the
// first FROM, i.e. global ARGs, are dropped).
func parseDockerfile(text string) []stage {
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in.args})
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") && cur.Len() == 0 {
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // comment inside a continuation
		}
		if body, cont := strings.CutSuffix(line, "\\"); cont {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// dockerfileUser returns the uid of the final stage's USER.
func dockerfileUser(t *testing.T) string {
	t.Helper()
	stages := parseDockerfile(string(readRepoFile(t, "Dockerfile")))
	if len(stages) == 0 {
		t.Fatalf("Dockerfile: no FROM")
	}
	users := stages[len(stages)-1].all("USER")
	if len(users) == 0 {
		return ""
	}
	uid, _, _ := strings.Cut(users[len(users)-1], ":")
	return uid
}

var goBuild = regexp.MustCompile(`go build ([^&;]*?)\s(\./cmd/[a-z]+)`)

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(string(readRepoFile(t, "Dockerfile")))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.Contains(build.from, "golang:") {
		t.Errorf("builder stage FROM %q, want golang", build.from)
	}
	if !strings.Contains(final.from, "gcr.io/distroless/static") && !strings.HasPrefix(final.from, "scratch") {
		t.Errorf("runtime stage FROM %q, want distroless/static or scratch", final.from)
	}

	// Static, reproducible builds of both binaries.
	buildText := ""
	for _, in := range build.instructions {
		buildText += in.cmd + " " + in.args + "\n"
	}
	if !regexp.MustCompile(`CGO_ENABLED=0`).MatchString(buildText) {
		t.Errorf("builder does not set CGO_ENABLED=0")
	}
	if !slices.ContainsFunc(build.all("ARG"), func(a string) bool { return strings.HasPrefix(a, "VERSION") }) {
		t.Errorf("builder has no ARG VERSION")
	}
	built := map[string]bool{}
	for _, m := range goBuild.FindAllStringSubmatch(buildText, -1) {
		flags := m[1]
		for _, want := range []string{"-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`} {
			if !strings.Contains(flags, want) {
				t.Errorf("go build of %s lacks %s", m[2], want)
			}
		}
		built[m[2]] = true
	}
	for _, cmd := range []string{"./cmd/gateway", "./cmd/brazesim"} {
		if !built[cmd] {
			t.Errorf("the builder does not build %s", cmd)
		}
	}

	// Runtime: no shell needed, non-root, the gateway as entrypoint.
	if runs := final.all("RUN"); len(runs) > 0 {
		t.Errorf("runtime stage runs %v: it has no shell", runs)
	}
	copied := strings.Join(final.all("COPY"), " ")
	for _, bin := range []string{"/out/gateway", "/out/brazesim"} {
		if !strings.Contains(copied, bin) || !strings.Contains(copied, "--from=") {
			t.Errorf("runtime stage does not copy %s from the builder", bin)
		}
	}
	uid := dockerfileUser(t)
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runtime USER %q: want a non-root user", uid)
	}
	if !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) {
		t.Errorf("runtime USER %q: want a numeric uid (runAsNonRoot can only verify numbers)", uid)
	}
	eps := final.all("ENTRYPOINT")
	var ep []string
	if len(eps) == 0 || json.Unmarshal([]byte(eps[len(eps)-1]), &ep) != nil || len(ep) == 0 || filepath.Base(ep[0]) != "gateway" {
		t.Errorf("ENTRYPOINT %v: want the exec form running the gateway binary", eps)
	}
	if !slices.ContainsFunc(final.all("EXPOSE"), func(a string) bool { return strings.Contains(a, "8080") }) {
		t.Errorf("runtime stage does not EXPOSE 8080")
	}
}

// TestDockerignore checks that the build context keeps every file the
// build needs: go.mod, go.sum and every non-test Go file of the module.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(string(readRepoFile(t, ".dockerignore")), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not supported by this check", l)
		}
		patterns = append(patterns, strings.Trim(l, "/"))
	}
	need := []string{"go.mod", "go.sum"}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			// Nested modules (deploy/check) and hidden directories are not part of the build.
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || fileExists(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			need = append(need, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(need) < 10 {
		t.Fatalf("found only %d Go files; is the walk at the repository root?", len(need))
	}
	for _, f := range need {
		if p := dockerignored(patterns, f); p != "" {
			t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, f)
		}
	}
	// And it must drop what makes the context heavy or holds local state.
	for _, f := range []string{".git/config", "deploy/check/go.mod", "docs/operations.md"} {
		if dockerignored(patterns, f) == "" {
			t.Errorf(".dockerignore keeps %s", f)
		}
	}
}

// dockerignored returns the pattern that excludes path (slash-separated,
// relative to the context), or "". It follows Docker's rules for the forms
// used here: a pattern matches the path or any of its parent directories,
// and a leading **/ matches at any depth.
func dockerignored(patterns []string, path string) string {
	parts := strings.Split(path, "/")
	for _, pat := range patterns {
		anyDepth := false
		p := pat
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			anyDepth, p = true, rest
		}
		for start := 0; start < len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + 1; end <= len(parts); end++ {
				if ok, _ := filepath.Match(p, strings.Join(parts[start:end], "/")); ok {
					return pat
				}
			}
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestDockerignored(t *testing.T) {
	pats := []string{".git", "**/*_test.go", "deploy", "*.md"}
	tests := []struct {
		path string
		want string
	}{
		{".git/config", ".git"},
		{"app/app.go", ""},
		{"app/app_test.go", "**/*_test.go"},
		{"deploy/check/go.mod", "deploy"},
		{"README.md", "*.md"},
		{"docs/README.md", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := dockerignored(pats, tt.path); got != tt.want {
				t.Errorf("dockerignored(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}
