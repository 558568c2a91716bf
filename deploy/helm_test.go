package deploy

// The Helm chart (helm/authd) against the kustomize manifests: with its
// default values it must render the objects of `kustomize build base`, and
// with helm/example-values.yaml those of `kustomize build overlays/example`,
// field by field once the differences that are Helm's own are normalised
// away (see normalize). The checks of deploy_test.go and features_test.go
// then hold for the chart too. helm comes from PATH or $(go env GOPATH)/bin:
//
//	go install helm.sh/helm/v4/cmd/helm@v4.3.2
//
// Without it these tests are skipped, or fail when CI is set.

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/testenv"
)

const (
	chartDir      = "helm/authd"
	exampleValues = "helm/example-values.yaml"
	// releaseName gives the objects the base's names: a release name that
	// contains the chart's is used as the full name.
	releaseName = "authd"
)

// goTool finds a go-installed command on PATH or in $(go env GOPATH)/bin.
// When it is missing the test skips, or fails under CI.
func goTool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		gopath = strings.TrimSpace(string(out))
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testenv.Missing(t, fmt.Sprintf("%s not found on PATH or in $(go env GOPATH)/bin; install it with: go install %s", name, install))
	return ""
}

func helmBinary(t *testing.T) string {
	t.Helper()
	return goTool(t, "helm", "helm.sh/helm/v4/cmd/helm@v4.3.2")
}

// helmTemplate runs `helm template <release> helm/authd args...` and returns
// the objects, or the error and helm's stderr.
func helmTemplate(t *testing.T, release string, args ...string) ([]map[string]any, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBinary(t), append([]string{"template", release, chartDir}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return parseObjects(t, "helm template", &stdout), nil
}

func mustHelmTemplate(t *testing.T, release string, args ...string) []map[string]any {
	t.Helper()
	objs, err := helmTemplate(t, release, args...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func kustomizeObjects(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kustomizeBinary(t), "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	return parseObjects(t, "kustomize build "+dir, &stdout)
}

// parseObjects decodes a multi-document YAML stream into generic objects.
func parseObjects(t *testing.T, what string, r io.Reader) []map[string]any {
	t.Helper()
	var objs []map[string]any
	dec := yaml.NewDecoder(r)
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", what, len(objs)+1, err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s: rendered nothing", what)
	}
	return objs
}

func kindName(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v", o["kind"], md["name"])
}

func byKindName(objs []map[string]any) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, o := range objs {
		m[kindName(o)] = o
	}
	return m
}

// helmOnlyLabels are the labels Helm charts carry and kustomize's do not (and
// managed-by, which says which of the two): removed from every label map and
// selector before comparing. app.kubernetes.io/instance is in the chart's
// selectors too, so two releases in one namespace select only their own pods.
var helmOnlyLabels = []string{
	"app.kubernetes.io/instance",
	"app.kubernetes.io/version",
	"app.kubernetes.io/managed-by",
	"helm.sh/chart",
}

// kustomizeHash is the suffix kustomize gives a generated ConfigMap's name.
var kustomizeHash = regexp.MustCompile(`^(authd-config)-[0-9a-z]{10}$`)

// normalize rewrites objects, from either tool, so that only differences that
// matter remain:
//   - no metadata.namespace (Helm's templates set the release's namespace,
//     the base leaves it to kubectl or an overlay);
//   - no helmOnlyLabels in any label map or selector;
//   - no annotation of Helm's (helm.sh/hook...) or of the chart's config
//     checksum, which rolls the pods as kustomize's hash suffix does;
//   - the ConfigMap authd-config-<hash> named authd-config;
//   - every container's envFrom configMapRef replaced by the ConfigMap's
//     entries, in name order, ahead of its env: what the container gets,
//     whether the chart passes the settings by ConfigMap or inline (its
//     migration Job, a hook that runs before the ConfigMap is applied);
//   - no serviceAccountName in a Job's pod: the chart's Job runs before the
//     release's ServiceAccount exists (both mount no token).
func normalize(t *testing.T, objs []map[string]any) []map[string]any {
	t.Helper()
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if v["app.kubernetes.io/name"] == "authd" {
				for _, k := range helmOnlyLabels {
					delete(v, k)
				}
			}
			if ann, ok := v["annotations"].(map[string]any); ok {
				for k := range ann {
					if strings.HasPrefix(k, "helm.sh/") || strings.HasPrefix(k, "checksum/") {
						delete(ann, k)
					}
				}
				if len(ann) == 0 {
					delete(v, "annotations")
				}
			}
			for k, x := range v {
				v[k] = walk(x)
			}
			return v
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
			return v
		case string:
			return kustomizeHash.ReplaceAllString(v, "$1")
		}
		return v
	}
	configMaps := map[string]map[string]any{}
	for _, o := range objs {
		if md, ok := o["metadata"].(map[string]any); ok {
			delete(md, "namespace")
		}
		walk(o)
		if o["kind"] == "ConfigMap" {
			data, _ := o["data"].(map[string]any)
			configMaps[o["metadata"].(map[string]any)["name"].(string)] = data
		}
	}
	for _, o := range objs {
		spec, _ := o["spec"].(map[string]any)
		tmpl, _ := spec["template"].(map[string]any)
		pod, _ := tmpl["spec"].(map[string]any)
		if pod == nil {
			continue
		}
		if o["kind"] == "Job" {
			delete(pod, "serviceAccountName")
		}
		for _, key := range []string{"initContainers", "containers"} {
			cs, _ := pod[key].([]any)
			for _, c := range cs {
				expandEnvFrom(t, kindName(o), c.(map[string]any), configMaps)
			}
		}
	}
	return objs
}

func expandEnvFrom(t *testing.T, where string, c map[string]any, configMaps map[string]map[string]any) {
	t.Helper()
	froms, _ := c["envFrom"].([]any)
	var keep, env []any
	for _, f := range froms {
		ref, _ := f.(map[string]any)["configMapRef"].(map[string]any)
		if ref == nil || len(f.(map[string]any)) != 1 {
			keep = append(keep, f)
			continue
		}
		data, ok := configMaps[ref["name"].(string)]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %v is not rendered", where, ref["name"])
			continue
		}
		names := make([]string, 0, len(data))
		for k := range data {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			env = append(env, map[string]any{"name": k, "value": data[k]})
		}
	}
	if len(env) == 0 {
		return
	}
	if own, ok := c["env"].([]any); ok {
		env = append(env, own...)
	}
	c["env"] = env
	if len(keep) > 0 {
		c["envFrom"] = keep
	} else {
		delete(c, "envFrom")
	}
}

// diff lists where want and got differ, by path.
func diff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var out []string
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var out []string
		for i := range w {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s:\n\tkustomize: %s\n\thelm:      %s", path, show(want), show(got))}
}

func show(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := yaml.Marshal(v)
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n\t           ")
}

// compareObjects wants the same objects, by kind and name, equal once
// normalised.
func compareObjects(t *testing.T, want, got []map[string]any) {
	t.Helper()
	w, g := byKindName(normalize(t, want)), byKindName(normalize(t, got))
	var names []string
	for n := range w {
		names = append(names, n)
	}
	for n := range g {
		if _, ok := w[n]; !ok {
			t.Errorf("%s: rendered by the chart only", n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := g[n]; !ok {
			t.Errorf("%s: rendered by kustomize only", n)
			continue
		}
		for _, d := range diff(n, w[n], g[n]) {
			t.Errorf("%s", d)
		}
	}
	if len(names) < 7 {
		t.Errorf("only %d objects compared: %q", len(names), names)
	}
}

// TestHelmMatchesKustomize: the chart with its default values renders the
// base's objects, and with example-values.yaml the example overlay's (mail
// on, the relay's range, an Ingress, 3 replicas, the image).
func TestHelmMatchesKustomize(t *testing.T) {
	cases := []struct {
		kustomize string
		values    []string
	}{
		{"base", nil},
		{"overlays/example", []string{"--namespace", "authd", "-f", exampleValues}},
	}
	for _, c := range cases {
		t.Run(c.kustomize, func(t *testing.T) {
			compareObjects(t, kustomizeObjects(t, c.kustomize), mustHelmTemplate(t, releaseName, c.values...))
		})
	}
}

// TestHelmPodMonitor: podMonitor.enabled renders the PodMonitor of
// base/podmonitor.example.yaml, with podMonitor.labels.
func TestHelmPodMonitor(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("base", "podmonitor.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := parseObjects(t, "podmonitor.example.yaml", bytes.NewReader(b))
	objs := mustHelmTemplate(t, releaseName, "--set", "podMonitor.enabled=true", "--set", "podMonitor.labels.release=kube-prometheus-stack")
	got, ok := byKindName(normalize(t, objs))["PodMonitor authd"]
	if !ok {
		t.Fatal("podMonitor.enabled=true: no PodMonitor authd")
	}
	w := normalize(t, want)[0]
	for _, d := range diff("PodMonitor.spec", w["spec"], got["spec"]) {
		t.Error(d)
	}
	labels := got["metadata"].(map[string]any)["labels"].(map[string]any)
	if labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PodMonitor labels %v: want release: kube-prometheus-stack from podMonitor.labels", labels)
	}
}

// TestHelmLint runs helm lint, strict (warnings fail), with the default and
// the example values.
func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", exampleValues}} {
		cmd := exec.Command(helmBinary(t), append([]string{"lint", "--strict", chartDir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("helm lint --strict %s %s: %v\n%s", chartDir, strings.Join(args, " "), err, out)
		}
	}
}

// TestHelmValues: what the values switch on and off, and the values the
// chart refuses, with a message that names the value.
func TestHelmValues(t *testing.T) {
	kinds := func(objs []map[string]any) []string {
		var ks []string
		for _, o := range objs {
			ks = append(ks, kindName(o))
		}
		sort.Strings(ks)
		return ks
	}
	t.Run("defaults: no Ingress, no PodMonitor, no Secret", func(t *testing.T) {
		got := kinds(mustHelmTemplate(t, releaseName))
		want := []string{"ConfigMap authd-config", "Deployment authd", "Job authd-migrate", "NetworkPolicy authd",
			"PodDisruptionBudget authd", "Service authd", "ServiceAccount authd"}
		if !slices.Equal(got, want) {
			t.Errorf("objects %q, want %q", got, want)
		}
	})
	off := []struct{ set, kind string }{
		{"networkPolicy.enabled=false", "NetworkPolicy authd"},
		{"podDisruptionBudget.enabled=false", "PodDisruptionBudget authd"},
		{"migrationJob.enabled=false", "Job authd-migrate"},
		{"serviceAccount.create=false", "ServiceAccount authd"},
	}
	for _, o := range off {
		t.Run(o.set, func(t *testing.T) {
			got := kinds(mustHelmTemplate(t, releaseName, "--set", o.set))
			if slices.Contains(got, o.kind) {
				t.Errorf("%s: %s still rendered", o.set, o.kind)
			}
			if len(got) != 6 {
				t.Errorf("%s: objects %q, want the 6 others", o.set, got)
			}
		})
	}
	refused := []struct {
		set  []string
		want string
	}{
		{[]string{"mail.enabled=true", "mail.from=a@example.com", "mail.smtp.host=smtp.example.com"}, "mail.egressCIDR"},
		{[]string{"mail.enabled=true", "mail.egressCIDR=203.0.113.25/32", "mail.smtp.host=smtp.example.com"}, "mail.from"},
		{[]string{"mail.enabled=true", "mail.egressCIDR=203.0.113.25/32", "mail.from=a@example.com"}, "mail.smtp.host"},
		{[]string{"config.MAIL_TRANSPORT=smtp"}, "set it under mail"},
		{[]string{"config.SMTP_HOST=smtp.example.com"}, "set it under mail"},
		{[]string{"existingSecret="}, "existingSecret"},
	}
	for _, r := range refused {
		t.Run("refuses "+strings.Join(r.set, ","), func(t *testing.T) {
			var args []string
			for _, s := range r.set {
				args = append(args, "--set", s)
			}
			_, err := helmTemplate(t, releaseName, args...)
			if err == nil || !strings.Contains(err.Error(), r.want) {
				t.Errorf("err = %v, want one naming %q", err, r.want)
			}
		})
	}
	t.Run("METRICS_ADDR moves the metrics port everywhere", func(t *testing.T) {
		objs := byKindName(mustHelmTemplate(t, releaseName, "--set", "config.METRICS_ADDR=:9100", "--set", "podMonitor.enabled=true"))
		d := objs["Deployment authd"]
		if got := lookup(d, "spec", "template", "metadata", "annotations", "prometheus.io/port"); got != "9100" {
			t.Errorf("prometheus.io/port = %v, want 9100", got)
		}
		if got := lookup(d, "spec", "template", "spec", "containers", 0, "ports", 1); !reflect.DeepEqual(got, map[string]any{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}) {
			t.Errorf("metrics container port %v, want 9100", got)
		}
		if got := lookup(objs["NetworkPolicy authd"], "spec", "ingress", 1, "ports", 0, "port"); got != 9100 {
			t.Errorf("NetworkPolicy metrics rule port %v, want 9100", got)
		}
	})
	t.Run("mail on: settings, credentials' keys and egress on SMTP_PORT", func(t *testing.T) {
		objs := byKindName(mustHelmTemplate(t, releaseName, "--set", "mail.enabled=true", "--set", "mail.from=a@example.com",
			"--set", "mail.smtp.host=smtp.example.com", "--set", "mail.smtp.port=465", "--set", "mail.smtp.tls=implicit",
			"--set", "mail.egressCIDR=198.51.100.7/32"))
		data := lookup(objs["ConfigMap authd-config"], "data").(map[string]any)
		for k, v := range map[string]string{"MAIL_TRANSPORT": "smtp", "EMAIL_FROM": "a@example.com", "SMTP_HOST": "smtp.example.com", "SMTP_PORT": "465", "SMTP_TLS": "implicit"} {
			if data[k] != v {
				t.Errorf("ConfigMap %s = %v, want %s", k, data[k], v)
			}
		}
		rule := lookup(objs["NetworkPolicy authd"], "spec", "egress", 2)
		want := map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "198.51.100.7/32"}}},
			"ports": []any{map[string]any{"protocol": "TCP", "port": 465}}}
		if !reflect.DeepEqual(rule, want) {
			t.Errorf("SMTP egress rule %v, want %v", rule, want)
		}
	})
	t.Run("a settings change changes the pods' checksum", func(t *testing.T) {
		sum := func(args ...string) any {
			return lookup(byKindName(mustHelmTemplate(t, releaseName, args...))["Deployment authd"],
				"spec", "template", "metadata", "annotations", "checksum/config")
		}
		if a, b := sum(), sum("--set", "config.LOG_LEVEL=debug"); a == nil || a == b {
			t.Errorf("checksum/config %v, then %v: want a checksum that changes with the settings", a, b)
		}
	})
	t.Run("image.tag", func(t *testing.T) {
		objs := byKindName(mustHelmTemplate(t, releaseName, "--set", "image.repository=registry.example.com/authd", "--set", "image.tag=1.2.3"))
		for _, n := range []string{"Deployment authd", "Job authd-migrate"} {
			if got := lookup(objs[n], "spec", "template", "spec", "containers", 0, "image"); got != "registry.example.com/authd:1.2.3" {
				t.Errorf("%s: image %v", n, got)
			}
		}
	})
}

// TestHelmOtherRelease: under another release name every object is named
// <release>-authd, the references follow (ConfigMap, ServiceAccount,
// Service backend), and the selectors pick this release's pods only: the
// Service and the PDB the server pods, not the Job's; the NetworkPolicy both.
func TestHelmOtherRelease(t *testing.T) {
	objs := mustHelmTemplate(t, "blue", "--set", "ingress.enabled=true", "--set", "podMonitor.enabled=true")
	for _, o := range objs {
		name := lookup(o, "metadata", "name").(string)
		if !strings.HasPrefix(name, "blue-authd") {
			t.Errorf("%s: not named blue-authd...", kindName(o))
		}
	}
	m := byKindName(objs)
	podLabels := func(n string) map[string]any {
		return lookup(m[n], "spec", "template", "metadata", "labels").(map[string]any)
	}
	server, job := podLabels("Deployment blue-authd"), podLabels("Job blue-authd-migrate")
	selects := func(sel any, labels map[string]any) bool {
		s, _ := sel.(map[string]any)
		if len(s) == 0 {
			return false
		}
		for k, v := range s {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	for _, c := range []struct {
		what      string
		sel       any
		serv, job bool
	}{
		{"Service selector", lookup(m["Service blue-authd"], "spec", "selector"), true, false},
		{"Deployment selector", lookup(m["Deployment blue-authd"], "spec", "selector", "matchLabels"), true, false},
		{"PDB selector", lookup(m["PodDisruptionBudget blue-authd"], "spec", "selector", "matchLabels"), true, false},
		{"PodMonitor selector", lookup(m["PodMonitor blue-authd"], "spec", "selector", "matchLabels"), true, false},
		{"NetworkPolicy podSelector", lookup(m["NetworkPolicy blue-authd"], "spec", "podSelector", "matchLabels"), true, true},
	} {
		if got := selects(c.sel, server); got != c.serv {
			t.Errorf("%s %v selects the server pods: %v, want %v", c.what, c.sel, got, c.serv)
		}
		if got := selects(c.sel, job); got != c.job {
			t.Errorf("%s %v selects the Job's pod: %v, want %v", c.what, c.sel, got, c.job)
		}
		if s, _ := c.sel.(map[string]any); s["app.kubernetes.io/instance"] != "blue" {
			t.Errorf("%s %v: does not select by release (app.kubernetes.io/instance)", c.what, c.sel)
		}
	}
	pod := m["Deployment blue-authd"]
	for _, c := range []struct {
		path []any
		want string
	}{
		{[]any{"spec", "template", "spec", "serviceAccountName"}, "blue-authd"},
		{[]any{"spec", "template", "spec", "containers", 0, "envFrom", 0, "configMapRef", "name"}, "blue-authd-config"},
	} {
		if got := lookup(pod, c.path...); got != c.want {
			t.Errorf("Deployment %v = %v, want %s", c.path, got, c.want)
		}
	}
	if _, ok := m["ConfigMap blue-authd-config"]; !ok {
		t.Error("no ConfigMap blue-authd-config")
	}
	if got := lookup(m["Ingress blue-authd"], "spec", "rules", 0, "http", "paths", 0, "backend", "service", "name"); got != "blue-authd" {
		t.Errorf("Ingress backend %v, want the Service blue-authd", got)
	}
}

// TestHelmValuesFile: values.yaml's config holds only authd's non-secret
// settings (secrets come from existingSecret, never from values), and none
// of the mail settings that mail stands for.
func TestHelmValuesFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config         map[string]any `yaml:"config"`
		ExistingSecret string         `yaml:"existingSecret"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	vars := map[string]config.Variable{}
	for _, v := range config.Variables() {
		vars[v.Name] = v
	}
	for k := range values.Config {
		v, ok := vars[k]
		switch {
		case !ok:
			t.Errorf("values.yaml config.%s: not one of authd's settings", k)
		case v.Secret:
			t.Errorf("values.yaml config.%s: a secret setting; it belongs in existingSecret", k)
		}
	}
	if values.ExistingSecret != secretName {
		t.Errorf("existingSecret = %q, want %q (the base's)", values.ExistingSecret, secretName)
	}
}

// lookup follows a path of map keys and list indexes; nil when absent.
func lookup(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		case int:
			l, ok := v.([]any)
			if !ok || p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}
