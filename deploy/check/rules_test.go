package check

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"
)

const (
	alertsFile     = "deploy/prometheus/alerts.yaml"
	alertTestsFile = "deploy/prometheus/alerts_test.yaml"
)

// runbookURL is where every alert's runbook_url must point.
var runbookURL = regexp.MustCompile(`^https://github\.com/brazegw/gateway/blob/main/docs/operations\.md#[a-z0-9]+(-[a-z0-9]+)*$`)

// mainAlerts must each have a unit test that fires and one that does not.
var mainAlerts = []string{
	"BrazeGatewayConsumerLagGrowing",
	"BrazeGatewayDeadLetterRate",
	"BrazeGatewayPaused",
	"BrazeGatewayNoThroughput",
	"BrazeGatewayAuthFailures",
}

// loadRules parses the alert rules with Prometheus's own rule-file parser,
// which also parses every expression and template.
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rgs, errs := rulefmt.ParseFile(repoPath(alertsFile), false, model.LegacyValidation, promqlParser(), log)
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if rgs == nil {
		t.Fatalf("%s: no rule groups", alertsFile)
	}
	return rgs
}

// ruleQueries returns every rule expression.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{where: alertsFile + ": " + r.Alert + r.Record, expr: r.Expr})
		}
	}
	return qs
}

func TestAlertRules(t *testing.T) {
	rgs := loadRules(t)
	p := promqlParser()
	seen := map[string]bool{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			t.Run(r.Alert, func(t *testing.T) {
				if seen[r.Alert] {
					t.Errorf("alert name used twice")
				}
				seen[r.Alert] = true
				if _, err := p.ParseExpr(r.Expr); err != nil {
					t.Errorf("expr: %v", err)
				}
				if time.Duration(r.For) <= 0 {
					t.Errorf("for: missing; every alert needs a for: so that one bad scrape does not page")
				}
				if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
					t.Errorf("labels.severity = %q, want critical, warning or info", s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if r.Annotations[a] == "" {
						t.Errorf("annotation %s is missing", a)
					}
				}
				if u := r.Annotations["runbook_url"]; !runbookURL.MatchString(u) {
					t.Errorf("runbook_url %q does not point at docs/operations.md#<anchor>", u)
				}
			})
		}
	}
	for _, a := range mainAlerts {
		if !seen[a] {
			t.Errorf("alert %s is missing", a)
		}
	}
	// The runbook sections are written in docs/operations.md; say which are
	// not there yet.
	anchors := docAnchors(t, "docs/operations.md")
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if _, a, ok := strings.Cut(r.Annotations["runbook_url"], "#"); ok && !anchors[a] {
				t.Logf("%s: runbook section #%s is not in docs/operations.md yet", r.Alert, a)
			}
		}
	}
}

// docAnchors returns the anchors GitHub gives the headings of a Markdown
// file: lower case, spaces to hyphens, punctuation dropped.
func docAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(repoPath(path))
	if err != nil {
		t.Logf("%s: %v", path, err)
		return nil
	}
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return out
}

// alertUnitTests is the part of promtool's unit-test file this check reads.
type alertUnitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name  string `yaml:"name"`
		Cases []struct {
			Alert     string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func TestAlertUnitTestsCoverMainAlerts(t *testing.T) {
	var f alertUnitTests
	if err := yaml.Unmarshal(readRepoFile(t, alertTestsFile), &f); err != nil {
		t.Fatalf("%s: %v", alertTestsFile, err)
	}
	if !slices.Equal(f.RuleFiles, []string{"alerts.yaml"}) {
		t.Errorf("rule_files = %v, want [alerts.yaml]", f.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	for _, a := range mainAlerts {
		t.Run(a, func(t *testing.T) {
			if !fires[a] {
				t.Errorf("no unit test expects %s to fire", a)
			}
			if !quiet[a] {
				t.Errorf("no unit test expects %s to stay quiet", a)
			}
		})
	}
}

// TestPromtool runs promtool's own checks when promtool is installed.
// run.sh installs it and sets REQUIRE_PROMTOOL=1, which makes its absence a
// failure.
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("promtool is not on PATH (REQUIRE_PROMTOOL=1)")
		}
		t.Log("promtool is not on PATH: only Prometheus's parsers checked the rules (deploy/check/run.sh installs promtool)")
		return
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		t.Run(args[0]+" "+args[1], func(t *testing.T) {
			cmd := exec.Command(path, args...)
			cmd.Dir = repoPath("deploy", "prometheus")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Errorf("promtool %v: %v\n%s", args, err, out.String())
			}
		})
	}
}
