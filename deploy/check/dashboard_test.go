package check

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

const dashboardFile = "deploy/grafana/braze-gateway.json"

// contractSeries are the series of DESIGN.md §3 (histograms by family name):
// the dashboard shows every one of them.
var contractSeries = []string{
	"braze_gateway_events_consumed_total",
	"braze_gateway_events_completed_total",
	"braze_gateway_braze_requests_total",
	"braze_gateway_braze_request_duration_seconds",
	"braze_gateway_batch_recipients",
	"braze_gateway_retries_total",
	"braze_gateway_ratelimit_remaining",
	"braze_gateway_ratelimit_wait_seconds",
	"braze_gateway_inflight_events",
	"braze_gateway_paused",
	"braze_gateway_consumer_lag",
	"braze_gateway_event_latency_seconds",
}

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []panel
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			Expr       string `json:"expr"`
			Datasource dsRef  `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int     `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Datasource *dsRef  `json:"datasource"`
	GridPos    gridPos `json:"gridPos"`
	Targets    []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type gridPos struct{ X, Y, W, H int }

type variable struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Query      any    `json:"query"`
	Definition string `json:"definition"`
	Datasource *dsRef `json:"datasource"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readRepoFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// labelValues matches a Grafana variable query label_values(metric{…}, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{.*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboardQueries returns every PromQL expression of the dashboard (panel
// targets, annotations, and the selectors of variable queries) with the
// template variables expanded.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := loadDashboard(t)
	var qs []query
	add := func(where, expr string) {
		e, unknown := expandGrafana(expr)
		if len(unknown) > 0 {
			t.Errorf("%s: unknown template variables %v in %q", where, unknown, expr)
		}
		qs = append(qs, query{where: where, expr: e})
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			add(fmt.Sprintf("%s: panel %q target %s", dashboardFile, p.Title, tg.RefID), tg.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			add(fmt.Sprintf("%s: annotation %q", dashboardFile, a.Name), a.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("%s: variable %s: query %q is not label_values(metric, label)", dashboardFile, v.Name, v.Definition)
			continue
		}
		add(fmt.Sprintf("%s: variable %s", dashboardFile, v.Name), m[1]+m[2])
	}
	return qs
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are required for provisioning", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion = %d, want about 39", d.SchemaVersion)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != "prometheus" {
		t.Errorf("variable datasource = %+v, want a Prometheus datasource variable", v)
	}
	for _, name := range []string{"job", "instance"} {
		v := vars[name]
		if v.Type != "query" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s = %+v, want a query variable on ${datasource}", name, v)
		}
	}
	ids := map[int]string{}
	var placed []panel
	for _, p := range allPanels(d.Panels) {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
		for _, q := range placed {
			o := q.GridPos
			if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", q.Title, p.Title)
			}
		}
		placed = append(placed, p)
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
}

// TestDashboardQueries parses every query with Prometheus's parser and
// checks that each selector of a gateway series is scoped to the job and
// instance variables.
func TestDashboardQueries(t *testing.T) {
	p := promqlParser()
	for _, q := range dashboardQueries(t) {
		e, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q.where, err, q.expr)
			continue
		}
		for _, vs := range selectors(e) {
			name := metricName(vs)
			if isSynthetic(name) || isVariableQuery(q) {
				continue
			}
			if !hasMatcher(vs.LabelMatchers, "job") {
				t.Errorf("%s: %s is not scoped by job=~\"$job\"", q.where, vs)
			}
			if !hasMatcher(vs.LabelMatchers, "instance") {
				t.Errorf("%s: %s is not scoped by instance=~\"$instance\"", q.where, vs)
			}
		}
	}
}

// isVariableQuery reports whether q is the selector of a template
// variable's query (which the variables themselves cannot scope).
func isVariableQuery(q query) bool {
	return strings.Contains(q.where, ": variable ")
}

// hasMatcher reports whether ms holds name=~".*" (an expanded variable).
func hasMatcher(ms []*labels.Matcher, name string) bool {
	for _, m := range ms {
		if m.Name == name && m.Type == labels.MatchRegexp && m.Value == ".*" {
			return true
		}
	}
	return false
}

func TestDashboardShowsContractSeries(t *testing.T) {
	used := map[string]bool{}
	for _, n := range metricNames(t, dashboardQueries(t)) {
		used[n] = true
		if b, ok := histogramBase(n); ok {
			used[b] = true
		}
	}
	for _, s := range contractSeries {
		if !used[s] {
			t.Errorf("the dashboard shows no panel for %s (DESIGN.md §3)", s)
		}
	}
}
