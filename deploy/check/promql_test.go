package check

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// root is the repository root, relative to this package's directory (where
// go test runs).
const root = "../.."

// repoPath returns a path inside the repository.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{root}, elem...)...)
}

// readRepoFile reads a repository file or fails the test.
func readRepoFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(elem...))
	if err != nil {
		t.Fatalf("read %s: %v", filepath.Join(elem...), err)
	}
	return b
}

// query is one PromQL expression and where it was found.
type query struct {
	where string
	expr  string
}

// promqlParser is Prometheus's own PromQL parser with its default options.
func promqlParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// selectors returns every vector selector of expr.
func selectors(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// metricName returns a selector's metric name, from the name or an
// equality matcher on __name__.
func metricName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == "__name__" && m.Type.String() == "=" {
			return m.Value
		}
	}
	return ""
}

// grouping is one aggregation's "by" labels and the metrics it aggregates.
type grouping struct {
	labels  []string
	metrics []string
}

// groupings returns every aggregation of expr that groups "by" labels.
func groupings(expr parser.Expr) []grouping {
	var out []grouping
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		agg, ok := n.(*parser.AggregateExpr)
		if !ok || agg.Without || len(agg.Grouping) == 0 {
			return nil
		}
		g := grouping{labels: agg.Grouping}
		for _, vs := range selectors(agg.Expr) {
			g.metrics = append(g.metrics, metricName(vs))
		}
		out = append(out, g)
		return nil
	})
	return out
}

// metricNames returns the sorted, distinct metric names of exprs.
func metricNames(t *testing.T, qs []query) []string {
	t.Helper()
	p := promqlParser()
	seen := map[string]bool{}
	for _, q := range qs {
		e, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		for _, vs := range selectors(e) {
			n := metricName(vs)
			if n == "" {
				t.Errorf("%s: selector %s names no metric", q.where, vs)
				continue
			}
			seen[n] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// grafanaVar matches a Grafana template variable reference: $name, ${name}
// or ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// grafanaValues are what the dashboard's variables stand for when a query
// is parsed: durations for the interval variables, a regex for the rest.
var grafanaValues = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
	"job":             ".*",
	"instance":        ".*",
}

// expandGrafana replaces the template variables of a dashboard query and
// returns the variables it does not know.
func expandGrafana(expr string) (string, []string) {
	var unknown []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := grafanaValues[name]
		if !ok {
			unknown = append(unknown, name)
			return m
		}
		return v
	})
	return out, unknown
}

// synthetic are series Prometheus makes itself rather than scrapes.
var synthetic = []string{"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}

func isSynthetic(name string) bool { return slices.Contains(synthetic, name) }

// histogramBase returns the family name of a classic histogram series name
// (x_bucket, x_sum, x_count → x).
func histogramBase(name string) (string, bool) {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok {
			return b, true
		}
	}
	return "", false
}

func TestExpandGrafana(t *testing.T) {
	tests := []struct {
		name, in, want string
		unknown        []string
	}{
		{"rate interval", `rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~".*"}[5m])`, nil},
		{"braced", `x{instance=~"${instance}"}`, `x{instance=~".*"}`, nil},
		{"braced with format", `x{instance=~"${instance:regex}"}`, `x{instance=~".*"}`, nil},
		{"range", `increase(x[$__range])`, `increase(x[1h])`, nil},
		{"typo", `x{job=~"$jbo"}`, `x{job=~"$jbo"}`, []string{"jbo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unknown := expandGrafana(tt.in)
			if got != tt.want || !slices.Equal(unknown, tt.unknown) {
				t.Errorf("expandGrafana(%q) = %q, %v; want %q, %v", tt.in, got, unknown, tt.want, tt.unknown)
			}
		})
	}
}

func TestGroupings(t *testing.T) {
	e, err := promqlParser().ParseExpr(`sum by (topic) (rate(a_total[5m])) / on() group_left sum(b)`)
	if err != nil {
		t.Fatal(err)
	}
	gs := groupings(e)
	if len(gs) != 1 || !slices.Equal(gs[0].labels, []string{"topic"}) || !slices.Equal(gs[0].metrics, []string{"a_total"}) {
		t.Errorf("groupings = %+v, want one grouping by topic over a_total", gs)
	}
}
