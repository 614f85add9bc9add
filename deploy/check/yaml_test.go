package check

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"
)

// object is a decoded YAML document.
type object = map[string]any

// loadYAMLDocs decodes every document of a YAML file.
func loadYAMLDocs(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

// loadYAML decodes a single-document YAML file.
func loadYAML(t *testing.T, path string) object {
	t.Helper()
	docs := loadYAMLDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	return docs[0]
}

// yamlFiles lists the *.yaml and *.yml files of dir, sorted.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// get walks a path of map keys and list indexes through a decoded YAML
// value; it returns nil when a step is missing.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func getString(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func getList(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func getMap(v any, path ...any) map[string]any {
	m, _ := get(v, path...).(map[string]any)
	return m
}

// getInt returns an integer field (YAML decodes integers as int).
func getInt(v any, path ...any) (int, bool) {
	i, ok := get(v, path...).(int)
	return i, ok
}
