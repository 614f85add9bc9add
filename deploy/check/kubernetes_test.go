package check

import (
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazegw/gateway/app"
)

const kubeDir = "deploy/kubernetes"

// kubeBase is the kustomize base, decoded.
type kubeBase struct {
	kustomization object
	objects       map[string]object // by kind
	configPath    string            // the gateway configuration file of the ConfigMap
}

func loadKubeBase(t *testing.T) kubeBase {
	t.Helper()
	dir := repoPath(kubeDir)
	kb := kubeBase{kustomization: loadYAML(t, filepath.Join(dir, "kustomization.yaml")), objects: map[string]object{}}
	for _, r := range getList(kb.kustomization, "resources") {
		name, _ := r.(string)
		for _, o := range loadYAMLDocs(t, filepath.Join(dir, name)) {
			kind := getString(o, "kind")
			if _, dup := kb.objects[kind]; dup {
				t.Fatalf("%s: a second %s; this check expects one of each kind", name, kind)
			}
			kb.objects[kind] = o
		}
	}
	for _, g := range getList(kb.kustomization, "configMapGenerator") {
		if getString(g, "name") != "braze-gateway-config" {
			continue
		}
		for _, f := range getList(g, "files") {
			if s, _ := f.(string); filepath.Base(s) == "config.yaml" {
				kb.configPath = filepath.Join(dir, s)
			}
		}
	}
	if kb.configPath == "" {
		t.Fatalf("kustomization.yaml: no configMapGenerator braze-gateway-config with config.yaml")
	}
	return kb
}

func (kb kubeBase) object(t *testing.T, kind string) object {
	t.Helper()
	o, ok := kb.objects[kind]
	if !ok {
		t.Fatalf("%s: no %s among the kustomization's resources", kubeDir, kind)
	}
	return o
}

// gatewayContainer returns the Deployment's gateway container.
func (kb kubeBase) gatewayContainer(t *testing.T) object {
	t.Helper()
	for _, c := range getList(kb.object(t, "Deployment"), "spec", "template", "spec", "containers") {
		if getString(c, "name") == "gateway" {
			return c.(map[string]any)
		}
	}
	t.Fatalf("Deployment: no container named gateway")
	return nil
}

// env returns the container's literal environment.
func containerEnv(c object) map[string]string {
	env := map[string]string{}
	for _, e := range getList(c, "env") {
		if v, ok := get(e, "value").(string); ok {
			env[getString(e, "name")] = v
		}
	}
	return env
}

// loadGatewayConfig loads a configuration file exactly as the gateway does,
// with env as its environment, and validates it.
func loadGatewayConfig(t *testing.T, path string, env map[string]string) app.Config {
	t.Helper()
	cfg, err := app.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("gateway rejects %s: %v", path, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("gateway rejects %s: %v", path, err)
	}
	return cfg
}

// defaultAdminPort is the admin port of the gateway's defaults.
func defaultAdminPort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(app.DefaultConfig().Admin.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKustomization(t *testing.T) {
	kb := loadKubeBase(t)
	res := getList(kb.kustomization, "resources")
	for _, r := range res {
		if s, _ := r.(string); strings.Contains(s, "secret") {
			t.Errorf("resource %s: the API key Secret is created by the operator, not by the base", s)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "PodMonitor", "PodDisruptionBudget", "ScaledObject", "ServiceAccount"} {
		if _, ok := kb.objects[kind]; !ok {
			t.Errorf("no %s in the base", kind)
		}
	}
	if _, err := os.Stat(repoPath(kubeDir, "secret.example.yaml")); err != nil {
		t.Errorf("secret.example.yaml: %v", err)
	}
}

func TestDeployment(t *testing.T) {
	kb := loadKubeBase(t)
	dep := kb.object(t, "Deployment")
	pod := getMap(dep, "spec", "template", "spec")
	c := kb.gatewayContainer(t)
	env := containerEnv(c)

	// The configuration: mounted from the ConfigMap where -config says.
	args := getList(c, "args")
	cfgArg := ""
	for i, a := range args {
		if a == "-config" && i+1 < len(args) {
			cfgArg, _ = args[i+1].(string)
		}
	}
	if cfgArg == "" {
		t.Fatalf("gateway args %v: no -config FILE", args)
	}
	if !mountedFrom(pod, c, cfgArg, "configMap", "braze-gateway-config", "config.yaml") {
		t.Errorf("-config %s is not the config.yaml key of ConfigMap braze-gateway-config", cfgArg)
	}

	// The API key: a mounted Secret file, or an env var from a Secret.
	keyFile := env[app.EnvAPIKeyFile]
	switch {
	case keyFile != "":
		if !mountedFrom(pod, c, keyFile, "secret", "", "") {
			t.Errorf("%s=%s is not in a mounted Secret", app.EnvAPIKeyFile, keyFile)
		}
	default:
		if getString(envVar(c, app.EnvAPIKey), "valueFrom", "secretKeyRef", "name") == "" {
			t.Errorf("the API key comes neither from %s nor from a secretKeyRef in %s", app.EnvAPIKeyFile, app.EnvAPIKey)
		}
	}
	if _, literal := env[app.EnvAPIKey]; literal {
		t.Errorf("%s has a literal value", app.EnvAPIKey)
	}

	// The gateway accepts the configuration with the Deployment's environment.
	cfg := loadGatewayConfig(t, kb.configPath, env)
	host, port, _ := net.SplitHostPort(cfg.Admin.Addr)
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("admin address %s: probes and scrapes from outside the pod need 0.0.0.0 (%s)", cfg.Admin.Addr, app.EnvAdminAddr)
	}
	adminPort, _ := strconv.Atoi(port)
	if want := defaultAdminPort(t); adminPort != want {
		t.Errorf("admin port %d, want the gateway's default %d", adminPort, want)
	}

	// Probes on the admin port.
	for _, p := range []struct{ probe, path string }{
		{"livenessProbe", "/healthz"},
		{"readinessProbe", "/readyz"},
		{"startupProbe", "/healthz"},
	} {
		pr := getMap(c, p.probe)
		if pr == nil {
			if p.probe != "startupProbe" {
				t.Errorf("no %s", p.probe)
			}
			continue
		}
		if got := getString(pr, "httpGet", "path"); got != p.path {
			t.Errorf("%s path %q, want %q", p.probe, got, p.path)
		}
		if got := resolvePort(c, get(pr, "httpGet", "port")); got != adminPort {
			t.Errorf("%s port resolves to %d, want the admin port %d", p.probe, got, adminPort)
		}
	}

	// SIGTERM ends in a drain, not a kill.
	grace, ok := getInt(pod, "terminationGracePeriodSeconds")
	if !ok || time.Duration(grace)*time.Second <= cfg.Drain {
		t.Errorf("terminationGracePeriodSeconds %d must exceed drain_timeout %v", grace, cfg.Drain)
	}

	// Non-root, read-only, no privileges.
	sc, psc := getMap(c, "securityContext"), getMap(pod, "securityContext")
	if get(sc, "runAsNonRoot") != true && get(psc, "runAsNonRoot") != true {
		t.Errorf("runAsNonRoot is not set")
	}
	uid, ok := getInt(sc, "runAsUser")
	if !ok {
		uid, ok = getInt(psc, "runAsUser")
	}
	if !ok || uid == 0 {
		t.Errorf("runAsUser %d: want a non-root uid", uid)
	}
	if du := dockerfileUser(t); ok && du != strconv.Itoa(uid) {
		t.Errorf("runAsUser %d differs from the image's USER %s", uid, du)
	}
	if get(sc, "readOnlyRootFilesystem") != true {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if get(sc, "allowPrivilegeEscalation") != false {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if !slices.Contains(getList(sc, "capabilities", "drop"), any("ALL")) {
		t.Errorf("capabilities.drop does not hold ALL")
	}

	// Resources.
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		kind, name, _ := strings.Cut(r, ".")
		if getString(c, "resources", kind, name) == "" {
			t.Errorf("resources.%s is not set", r)
		}
	}

	// Selector matches the pod labels.
	if !labelsMatch(getMap(dep, "spec", "selector", "matchLabels"), getMap(dep, "spec", "template", "metadata", "labels")) {
		t.Errorf("Deployment selector does not match its pod labels")
	}
}

func TestMonitoringAndScaling(t *testing.T) {
	kb := loadKubeBase(t)
	dep := kb.object(t, "Deployment")
	podLabels := getMap(dep, "spec", "template", "metadata", "labels")
	c := kb.gatewayContainer(t)

	pm := kb.object(t, "PodMonitor")
	if v := getString(pm, "apiVersion"); v != "monitoring.coreos.com/v1" {
		t.Errorf("PodMonitor apiVersion %q", v)
	}
	if !labelsMatch(getMap(pm, "spec", "selector", "matchLabels"), podLabels) {
		t.Errorf("PodMonitor selector does not select the gateway pods")
	}
	// The alerts expect job="braze-gateway".
	if jl := getString(pm, "spec", "jobLabel"); podLabels[jl] != "braze-gateway" {
		t.Errorf("PodMonitor jobLabel %q gives job %v, want braze-gateway", jl, podLabels[jl])
	}
	for _, ep := range getList(pm, "spec", "podMetricsEndpoints") {
		if resolvePort(c, get(ep, "port")) != defaultAdminPort(t) || getString(ep, "path") != "/metrics" {
			t.Errorf("PodMonitor endpoint %v is not the admin port's /metrics", ep)
		}
	}

	svc := kb.object(t, "Service")
	if !labelsMatch(getMap(svc, "spec", "selector"), podLabels) {
		t.Errorf("Service selector does not select the gateway pods")
	}
	for _, p := range getList(svc, "spec", "ports") {
		if resolvePort(c, get(p, "targetPort")) != defaultAdminPort(t) {
			t.Errorf("Service port %v does not target the admin port", p)
		}
	}

	pdb := kb.object(t, "PodDisruptionBudget")
	if !labelsMatch(getMap(pdb, "spec", "selector", "matchLabels"), podLabels) {
		t.Errorf("PodDisruptionBudget selector does not select the gateway pods")
	}

	so := kb.object(t, "ScaledObject")
	if getString(so, "spec", "scaleTargetRef", "name") != getString(dep, "metadata", "name") {
		t.Errorf("ScaledObject does not scale the Deployment")
	}
	partitions, err := strconv.Atoi(getString(so, "metadata", "annotations", "gateway.brazegw.io/input-topic-partitions"))
	if err != nil {
		t.Fatalf("ScaledObject annotation gateway.brazegw.io/input-topic-partitions: %v", err)
	}
	maxR, _ := getInt(so, "spec", "maxReplicaCount")
	minR, _ := getInt(so, "spec", "minReplicaCount")
	if maxR < 1 || maxR > partitions {
		t.Errorf("maxReplicaCount %d: want 1..%d (the partition count; more replicas sit idle)", maxR, partitions)
	}
	if minR < 1 || minR > maxR {
		t.Errorf("minReplicaCount %d: want 1..maxReplicaCount (0 would stop consuming)", minR)
	}
	cfg := loadGatewayConfig(t, kb.configPath, containerEnv(c))
	// Replicas share Braze's budgets by their share of partitions; without
	// that, each would spend the whole share and N replicas N times it.
	if share := cfg.RateLimit.Share; !cfg.RateLimit.SharePartitions && (share == 0 || share*float64(maxR) > 1+1e-9) {
		t.Errorf("ratelimit.share_by_partitions is off and share %v × maxReplicaCount %d > 1: the replicas together could exceed Braze's budgets", share, maxR)
	}
	var topics []string
	for _, tr := range getList(so, "spec", "triggers") {
		if getString(tr, "type") != "kafka" {
			t.Errorf("trigger %v is not a kafka trigger", tr)
			continue
		}
		if g := getString(tr, "metadata", "consumerGroup"); g != cfg.Kafka.GroupID {
			t.Errorf("trigger consumerGroup %q, want the gateway's group %q", g, cfg.Kafka.GroupID)
		}
		topics = append(topics, getString(tr, "metadata", "topic"))
	}
	for _, tp := range cfg.Kafka.Topics {
		if !slices.Contains(topics, tp.Name) {
			t.Errorf("no ScaledObject trigger for topic %s", tp.Name)
		}
	}
}

// envVar returns the container's env entry called name.
func envVar(c object, name string) any {
	for _, e := range getList(c, "env") {
		if getString(e, "name") == name {
			return e
		}
	}
	return nil
}

// mountedFrom reports whether file is mounted into container c from a pod
// volume of the given source kind ("configMap", "secret"), optionally of a
// given name and key.
func mountedFrom(pod, c object, file, source, name, key string) bool {
	for _, vm := range getList(c, "volumeMounts") {
		dir := getString(vm, "mountPath")
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(dir, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range getList(pod, "volumes") {
			if getString(v, "name") != getString(vm, "name") {
				continue
			}
			src := getMap(v, source)
			if src == nil {
				return false
			}
			n := getString(src, "name")
			if source == "secret" {
				n = getString(src, "secretName")
			}
			if name != "" && n != name {
				return false
			}
			items := getList(src, "items")
			if len(items) == 0 {
				return key == "" || rel == key
			}
			for _, it := range items {
				if getString(it, "path") == rel && (key == "" || getString(it, "key") == key) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(c object, p any) int {
	switch v := p.(type) {
	case int:
		return v
	case string:
		for _, cp := range getList(c, "ports") {
			if getString(cp, "name") == v {
				n, _ := getInt(cp, "containerPort")
				return n
			}
		}
	}
	return -1
}

// labelsMatch reports whether selector is non-empty and every one of its
// labels is on labels.
func labelsMatch(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range maps.All(selector) {
		if labels[k] != v {
			return false
		}
	}
	return true
}
