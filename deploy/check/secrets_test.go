package check

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// finding is one thing that looks like a secret.
type finding struct {
	line int
	what string
}

var (
	// Braze REST API keys are UUIDs.
	uuidRe       = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	privateKeyRe = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	longHexRe    = regexp.MustCompile(`\b[0-9a-fA-F]{32,}\b`)
	longTokenRe  = regexp.MustCompile(`[A-Za-z0-9+/_-]{40,}={0,2}`)
	// name: value, name=value, "name": "value".
	assignRe = regexp.MustCompile(`([A-Za-z0-9_.-]+)["']?\s*[:=]\s*(.*)$`)
	// In Go source only string literals are values.
	goAssignRe = regexp.MustCompile(`([A-Za-z0-9_]+)\s*[:=]+\s*"([^"]*)"`)
)

// allowedValues are credential-looking values that are not secrets: the
// Braze simulator's public development key (cmd/gateway dev mode, brazesim).
var allowedValues = []string{"dev-api-key"}

// credentialName reports whether a setting's name says it holds a
// credential itself (not a file name, a Secret's name or an env var name).
func credentialName(name string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "", ".", "").Replace(name))
	for _, suf := range []string{"apikey", "password", "passwd", "token", "secret", "secretkey", "accesskey", "privatekey", "credentials"} {
		if strings.HasSuffix(n, suf) {
			return true
		}
	}
	return false
}

// literalSecret reports whether v is a literal credential value rather
// than a placeholder: not empty, not an environment reference, not a path,
// not a <placeholder>, not a known public value.
func literalSecret(v string) bool {
	v = strings.TrimSpace(v)
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	v = strings.Trim(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), ",")), `"'`)
	switch {
	case v == "", v == "{}", v == "|", v == ">", v == "|-", v == ">-", v == "true", v == "false":
		return false
	case strings.HasPrefix(v, "${") || strings.HasPrefix(v, "$("), strings.HasPrefix(v, "/"), strings.HasPrefix(v, "<"):
		return false
	}
	return !slices.Contains(allowedValues, v)
}

// scanText looks for secrets in one file's text.
func scanText(name string, text []byte) []finding {
	var out []finding
	isGo := strings.HasSuffix(name, ".go")
	for i, line := range strings.Split(string(text), "\n") {
		n := i + 1
		add := func(format string, args ...any) { out = append(out, finding{n, fmt.Sprintf(format, args...)}) }
		if uuidRe.MatchString(line) {
			add("a UUID (Braze REST API keys are UUIDs)")
		}
		if privateKeyRe.MatchString(line) {
			add("a private key")
		}
		if longHexRe.MatchString(line) {
			add("a long hex string")
		}
		for _, tok := range longTokenRe.FindAllString(line, -1) {
			if mixedToken(tok) {
				add("a long random-looking token")
			}
		}
		if isGo {
			for _, m := range goAssignRe.FindAllStringSubmatch(line, -1) {
				if credentialName(m[1]) && literalSecret(m[2]) {
					add("%s is set to a literal", m[1])
				}
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if m := assignRe.FindStringSubmatch(line); m != nil && credentialName(m[1]) && literalSecret(m[2]) {
			add("%s is set to a literal", m[1])
		}
	}
	return out
}

// mixedToken reports whether tok mixes upper case, lower case and digits,
// as generated tokens do and paths and words do not.
func mixedToken(tok string) bool {
	var up, low, dig bool
	for _, r := range tok {
		switch {
		case r >= 'A' && r <= 'Z':
			up = true
		case r >= 'a' && r <= 'z':
			low = true
		case r >= '0' && r <= '9':
			dig = true
		}
	}
	return up && low && dig
}

// scanYAML looks for literal values in Kubernetes Secrets and in env lists
// (name/value pairs) whose name is a credential.
func scanYAML(text []byte) []finding {
	var out []finding
	dec := yaml.NewDecoder(bytes.NewReader(text))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return out
		}
		var walk func(n *yaml.Node, secretData bool)
		walk = func(n *yaml.Node, secretData bool) {
			if n.Kind == yaml.MappingNode {
				kv := map[string]*yaml.Node{}
				for i := 0; i+1 < len(n.Content); i += 2 {
					kv[n.Content[i].Value] = n.Content[i+1]
				}
				isSecret := kv["kind"] != nil && kv["kind"].Value == "Secret"
				if nm, v := kv["name"], kv["value"]; nm != nil && v != nil && v.Kind == yaml.ScalarNode &&
					credentialName(nm.Value) && literalSecret(v.Value) {
					out = append(out, finding{v.Line, nm.Value + " has a literal value"})
				}
				for i := 0; i+1 < len(n.Content); i += 2 {
					k, v := n.Content[i].Value, n.Content[i+1]
					if secretData && v.Kind == yaml.ScalarNode && v.Value != "" {
						out = append(out, finding{v.Line, "Secret entry " + k + " holds a value"})
					}
					walk(v, isSecret && (k == "data" || k == "stringData"))
				}
				return
			}
			for _, c := range n.Content {
				walk(c, false)
			}
		}
		walk(&doc, false)
	}
}

// TestNoSecretLiterals scans deploy/ and the Dockerfile for anything that
// looks like a key, a token or a password.
func TestNoSecretLiterals(t *testing.T) {
	files := []string{repoPath("Dockerfile"), repoPath(".dockerignore")}
	err := filepath.WalkDir(repoPath("deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name() != "go.sum" && !strings.HasSuffix(d.Name(), ".png") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("scanned only %d files", len(files))
	}
	for _, f := range files {
		b := readRepoFile(t, strings.TrimPrefix(f, root+string(filepath.Separator)))
		found := scanText(f, b)
		if ext := filepath.Ext(f); ext == ".yaml" || ext == ".yml" {
			found = append(found, scanYAML(b)...)
		}
		for _, fd := range found {
			t.Errorf("%s:%d: %s", f, fd.line, fd.what)
		}
	}
}

// TestScanner shows that the scanner finds what it looks for. The samples
// are assembled at run time so that this file holds none of them.
func TestScanner(t *testing.T) {
	uuid := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", 0x3f2a9c1d, 0x77aa, 0x4b1e, 0x9c0d, 0x5e6f7a8b9c0d)
	keyName := "api" + "_key"
	envName := "GATEWAY_BRAZE_API" + "_KEY"
	tests := []struct {
		name   string
		file   string
		text   string
		secret bool
	}{
		{"uuid", "a.yaml", "url: x\nother: " + uuid, true},
		{"literal api key", "a.yaml", keyName + ": s3cr3tvalue", true},
		{"literal in JSON", "a.json", `{"` + keyName + `": "abc"}`, true},
		{"env list literal", "a.yaml", "env:\n  - name: " + envName + "\n    value: abc\n", true},
		{"secret data", "a.yaml", "kind: Secret\nstringData:\n  api-key: abc\n", true},
		{"private key", "a.txt", "-----BEGIN RSA PRIVATE" + " KEY-----", true},
		{"long token", "a.txt", "x " + strings.Repeat("aZ3", 15), true},
		{"go literal", "a.go", "cfg := Workspace{API" + `Key: "abc"}`, true},
		{"empty secret", "a.yaml", "kind: Secret\nstringData:\n  api-key: \"\"\n", false},
		{"env reference", "a.yaml", envName + ": ${BRAZE_API_KEY:-dev-api-key}", false},
		{"key file", "a.yaml", "env:\n  - name: " + envName + "_FILE\n    value: /var/run/secrets/braze/api-key\n", false},
		{"secret name", "a.yaml", "secretName: braze-gateway-api-key", false},
		{"boolean", "a.yaml", "automountServiceAccountToken: false", false},
		{"go variable", "a.go", "cfg := Workspace{API" + "Key: key}", false},
		{"url path", "a.yaml", "url: https://github.com/brazegw/gateway/blob/main/docs/operations.md#x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := scanText(tt.file, []byte(tt.text))
			if strings.HasSuffix(tt.file, ".yaml") {
				found = append(found, scanYAML([]byte(tt.text))...)
			}
			if got := len(found) > 0; got != tt.secret {
				t.Errorf("scan(%q) found %v, want secret=%v", tt.text, found, tt.secret)
			}
		})
	}
}
