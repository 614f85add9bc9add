package check

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const composeDir = "deploy/compose"

// composeEnv resolves a compose service's environment map, expanding
// ${VAR:-default} to its default.
func composeEnv(svc any) map[string]string {
	env := map[string]string{}
	defaultRe := regexp.MustCompile(`\$\{[A-Za-z0-9_]+:-([^}]*)\}`)
	for k, v := range getMap(svc, "environment") {
		s, _ := v.(string)
		env[k] = defaultRe.ReplaceAllString(s, "$1")
	}
	return env
}

// composeMounts returns a service's bind mounts, container path → host
// path (relative to deploy/compose).
func composeMounts(t *testing.T, name string, svc any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range getList(svc, "volumes") {
		s, _ := v.(string)
		parts := strings.Split(s, ":")
		if len(parts) < 2 {
			t.Errorf("service %s: volume %q is not host:container", name, s)
			continue
		}
		out[parts[1]] = parts[0]
		if strings.HasPrefix(parts[0], ".") {
			if _, err := os.Stat(repoPath(composeDir, parts[0])); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, parts[0], err)
			}
		}
	}
	return out
}

func stringList(l []any) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func TestCompose(t *testing.T) {
	dc := loadYAML(t, repoPath(composeDir, "docker-compose.yaml"))
	services := getMap(dc, "services")
	for _, s := range []string{"kafka", "kafka-init", "gateway", "brazesim", "prometheus", "grafana"} {
		if services[s] == nil {
			t.Fatalf("no service %s", s)
		}
	}
	mounts := map[string]map[string]string{}
	for name, svc := range services {
		mounts[name] = composeMounts(t, name, svc)
	}

	// Kafka in KRaft mode.
	kafka := services["kafka"]
	if img := getString(kafka, "image"); !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka", img)
	}
	if roles := composeEnv(kafka)["KAFKA_PROCESS_ROLES"]; !strings.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES %q: want KRaft (broker,controller)", roles)
	}

	// The gateway's configuration loads and names the compose services.
	gw := services["gateway"]
	cmd := stringList(getList(gw, "command"))
	i := slices.Index(cmd, "-config")
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("gateway command %v: no -config FILE", cmd)
	}
	host, ok := mounts["gateway"][cmd[i+1]]
	if !ok {
		t.Fatalf("gateway -config %s is not mounted", cmd[i+1])
	}
	cfg := loadGatewayConfig(t, repoPath(composeDir, host), composeEnv(gw))
	_, adminPort, _ := net.SplitHostPort(cfg.Admin.Addr)
	if h, _, _ := net.SplitHostPort(cfg.Admin.Addr); h != "0.0.0.0" {
		t.Errorf("gateway admin address %s: Prometheus scrapes it from another container", cfg.Admin.Addr)
	}
	for _, b := range cfg.Kafka.Brokers {
		if h, _, _ := net.SplitHostPort(b); services[h] == nil {
			t.Errorf("broker %s is not a compose service", b)
		}
	}
	u, err := url.Parse(cfg.Braze.Workspaces["default"].URL)
	if err != nil || u.Hostname() != "brazesim" {
		t.Errorf("default workspace URL %q: want the brazesim service", cfg.Braze.Workspaces["default"].URL)
	}
	simCmd := strings.Join(stringList(getList(services["brazesim"], "command")), " ")
	if !strings.Contains(simCmd, "-addr 0.0.0.0:"+u.Port()) {
		t.Errorf("brazesim command %q does not listen on 0.0.0.0:%s", simCmd, u.Port())
	}

	// Topics: the init job creates every topic the gateway uses.
	script := string(readRepoFile(t, composeDir, "create-topics.sh"))
	topics := []string{cfg.Outputs.DLQTopic, cfg.Outputs.ResultsTopic}
	for _, tp := range cfg.Kafka.Topics {
		topics = append(topics, tp.Name)
	}
	for _, tp := range topics {
		if !strings.Contains(script, tp) {
			t.Errorf("create-topics.sh does not create %s", tp)
		}
	}
	if !regexp.MustCompile(regexp.QuoteMeta(cfg.Outputs.ResultsTopic) + `[^\n]*\n?[^\n]*cleanup\.policy=compact`).MatchString(script) {
		t.Errorf("create-topics.sh does not create %s compacted", cfg.Outputs.ResultsTopic)
	}

	// Prometheus: the alert rules and the gateway scrape job.
	prom := loadYAML(t, repoPath(composeDir, mounts["prometheus"]["/etc/prometheus/prometheus.yml"]))
	ruleFiles := stringList(getList(prom, "rule_files"))
	if len(ruleFiles) == 0 || filepath.Clean(mounts["prometheus"][ruleFiles[0]]) != filepath.Clean("../prometheus/alerts.yaml") {
		t.Errorf("prometheus rule_files %v is not deploy/prometheus/alerts.yaml", ruleFiles)
	}
	scraped := false
	for _, sc := range getList(prom, "scrape_configs") {
		if getString(sc, "job_name") != "braze-gateway" {
			continue
		}
		for _, st := range getList(sc, "static_configs") {
			scraped = scraped || slices.Contains(stringList(getList(st, "targets")), "gateway:"+adminPort)
		}
	}
	if !scraped {
		t.Errorf("prometheus has no job braze-gateway scraping gateway:%s", adminPort)
	}

	// Grafana: provisioning and the dashboard where the provider reads it.
	gm := mounts["grafana"]
	if filepath.Clean(gm["/etc/grafana/provisioning/datasources"]) != filepath.Clean("../grafana/provisioning/datasources") ||
		filepath.Clean(gm["/etc/grafana/provisioning/dashboards"]) != filepath.Clean("../grafana/provisioning/dashboards") {
		t.Errorf("grafana does not mount deploy/grafana/provisioning: %v", gm)
	}
	prov := loadYAML(t, repoPath("deploy/grafana/provisioning/dashboards/braze-gateway.yaml"))
	dir := getString(prov, "providers", 0, "options", "path")
	found := false
	for dst, src := range gm {
		if filepath.Clean(src) == filepath.Clean("../grafana/braze-gateway.json") && filepath.Dir(dst) == dir {
			found = true
		}
	}
	if !found {
		t.Errorf("the dashboard JSON is not mounted under the provider's path %s", dir)
	}
	ds := loadYAML(t, repoPath("deploy/grafana/provisioning/datasources/prometheus.yaml"))
	if getString(ds, "datasources", 0, "type") != "prometheus" {
		t.Errorf("provisioned datasource is not Prometheus")
	}
	if pu, err := url.Parse(composeEnv(services["grafana"])["PROMETHEUS_URL"]); err != nil || services[pu.Hostname()] == nil {
		t.Errorf("grafana PROMETHEUS_URL does not name the prometheus service")
	}
}
