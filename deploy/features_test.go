package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/authd/authd/internal/config"
)

// The checks of the features the manifests carry (issue 23): every secret
// setting wired, settings that authd's own loader accepts, mail with its
// credentials and egress, Ingress and HTTPRoute examples, and no stale
// claims in the comments.

// checkServerSecrets: every secret setting of authd (config.Variables)
// reaches the server container from authd-secrets, optional unless
// required, except the few in notWired; the migrate Job reads only the
// database's.
func checkServerSecrets(t *testing.T, r *rendered) {
	c := r.serverContainer(t)
	refs := map[string]*keyRef{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef
		}
	}
	n := 0
	for _, v := range config.Variables() {
		if !v.Secret {
			continue
		}
		n++
		if why, ok := notWired[v.Name]; ok {
			if refs[v.Name] != nil {
				t.Errorf("server: reads %s from the Secret, which notWired says it does not (%s)", v.Name, why)
			}
			continue
		}
		ref := refs[v.Name]
		switch {
		case ref == nil:
			t.Errorf("server: %s is not read from Secret %s: the feature it belongs to cannot be turned on (add an optional secretKeyRef, or a reason to notWired)", v.Name, secretName)
		case ref.Key != v.Name:
			t.Errorf("server: env %s reads key %s, want the key of the same name", v.Name, ref.Key)
		case slices.Contains(requiredSecretKeys, v.Name) == (ref.Optional != nil && *ref.Optional):
			t.Errorf("server: %s optional = %v, want %v", v.Name, deref(ref.Optional), !slices.Contains(requiredSecretKeys, v.Name))
		}
	}
	if n < 10 {
		t.Errorf("config.Variables has only %d secret settings; did the Secret flag go?", n)
	}
}

// containerEnv is what authd sees in c: its envFrom ConfigMaps, its literal
// env values, and for each secretKeyRef the placeholder of its key (absent
// optional ones left out when withOptional is false).
func containerEnv(t *testing.T, r *rendered, c container, withOptional bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		for _, cm := range r.find("ConfigMap", ef.ConfigMapRef.Name, false) {
			for k, v := range cm.Data {
				env[ef.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Optional != nil && *ref.Optional && !withOptional {
				continue
			}
			v, ok := placeholders[ref.Key]
			if !ok {
				t.Fatalf("container %s: secret key %s has no placeholder in the test", c.Name, ref.Key)
			}
			env[e.Name] = v
		}
	}
	return env
}

// checkConfigLoads: authd's config.Load (config.LoadMigrate for the Job)
// accepts what every authd container is given, with and without the
// optional secrets: no pod of this render would stop on a setting.
func checkConfigLoads(t *testing.T, r *rendered) {
	for _, w := range r.workloads(t) {
		for _, c := range allContainers(w.pod.Spec) {
			if !isAuthd(c) {
				continue
			}
			load, what := config.Load, "config.Load"
			if isMigrate(c) {
				load, what = config.LoadMigrate, "config.LoadMigrate"
			}
			for _, optional := range []bool{true, false} {
				env := containerEnv(t, r, c, optional)
				if _, err := load(func(name string) string { return env[name] }); err != nil {
					t.Errorf("%s, container %s (optional secrets present: %v): %s refuses the settings:\n%v", w.name, c.Name, optional, what, err)
				}
			}
		}
	}
}

// checkMail: MAIL_TRANSPORT is set explicitly; the example overlay turns
// mail on; with smtp the relay is named, SMTP_USER/SMTP_PASS come from the
// Secret (checkServerSecrets) and the NetworkPolicy lets the pods reach the
// relay on SMTP_PORT, at an address range that is not the base's
// placeholder.
func checkMail(t *testing.T, r *rendered) {
	cm := r.configMap(t)
	transport, ok := cm["MAIL_TRANSPORT"]
	if !ok {
		t.Fatalf("ConfigMap: MAIL_TRANSPORT is not set: say whether mail is on")
	}
	if r.dir != "base" && transport != "smtp" {
		t.Errorf("%s: MAIL_TRANSPORT=%q: the example overlay shows mail on (smtp)", r.dir, transport)
	}
	if transport != "smtp" {
		return
	}
	port := cm["SMTP_PORT"]
	if port == "" {
		port = "587"
	}
	want := "TCP/" + port
	if !slices.Contains(smtpPorts, want) {
		t.Fatalf("ConfigMap: SMTP_PORT=%s is none of %v", port, smtpPorts)
	}
	np := decodeSpec[networkPolicySpec](t, r.one(t, "NetworkPolicy", "authd"))
	found := false
	for _, rule := range np.Egress {
		if !slices.Contains(portSet(rule.Ports), want) {
			continue
		}
		for _, to := range rule.To {
			var peer netPolicyPeer
			if to.Decode(&peer) == nil && peer.IPBlock != nil {
				found = true
				if peer.IPBlock.CIDR == smtpPlaceholder {
					t.Errorf("NetworkPolicy authd: the SMTP egress rule still has the base's placeholder %s: set the relay's range", smtpPlaceholder)
				}
			}
		}
	}
	if !found {
		t.Errorf("NetworkPolicy authd: MAIL_TRANSPORT=smtp but no egress rule reaches an address range on %s: every mail would retry until it fails", want)
	}
}

type ingressSpec struct {
	IngressClassName string `yaml:"ingressClassName"`
	TLS              []struct {
		Hosts      []string `yaml:"hosts"`
		SecretName string   `yaml:"secretName"`
	} `yaml:"tls"`
	Rules []struct {
		Host string `yaml:"host"`
		HTTP struct {
			Paths []struct {
				Path     string `yaml:"path"`
				PathType string `yaml:"pathType"`
				Backend  struct {
					Service struct {
						Name string `yaml:"name"`
						Port struct {
							Name   string `yaml:"name"`
							Number int    `yaml:"number"`
						} `yaml:"port"`
					} `yaml:"service"`
				} `yaml:"backend"`
			} `yaml:"paths"`
		} `yaml:"http"`
	} `yaml:"rules"`
}

// checkIngress: the example overlay renders an Ingress; every Ingress
// names its class, ends TLS for each of its hosts (the cookies are Secure)
// and sends its paths to the Service authd's http port.
func checkIngress(t *testing.T, r *rendered) {
	ingresses := r.find("Ingress", "authd", false)
	if r.dir != "base" && len(ingresses) == 0 {
		t.Errorf("%s: no Ingress authd: the example shows how outside traffic reaches authd", r.dir)
	}
	svc := decodeSpec[serviceSpec](t, r.one(t, "Service", "authd"))
	for _, o := range ingresses {
		in := decodeSpec[ingressSpec](t, o)
		if in.IngressClassName == "" {
			t.Errorf("Ingress authd: no ingressClassName")
		}
		tlsHosts := map[string]bool{}
		for _, tls := range in.TLS {
			if tls.SecretName == "" {
				t.Errorf("Ingress authd: a tls entry without secretName")
			}
			for _, h := range tls.Hosts {
				tlsHosts[h] = true
			}
		}
		if len(in.Rules) == 0 {
			t.Errorf("Ingress authd: no rules")
		}
		for _, rule := range in.Rules {
			if rule.Host == "" || !tlsHosts[rule.Host] {
				t.Errorf("Ingress authd: host %q has no TLS: browsers would not send the Secure cookies", rule.Host)
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				ok := b.Name == "authd" && slices.ContainsFunc(svc.Ports, func(sp struct {
					Name       string `yaml:"name"`
					Port       int    `yaml:"port"`
					TargetPort string `yaml:"targetPort"`
				}) bool {
					return sp.TargetPort == "http" && (b.Port.Name == sp.Name || b.Port.Number == sp.Port)
				})
				if !ok {
					t.Errorf("Ingress authd: path %s goes to service %s port %+v, want authd's http port", p.Path, b.Name, b.Port)
				}
			}
		}
	}
}

// TestHTTPRouteExample: the Gateway API example routes to the Service
// authd's port 80 from a named Gateway, and is not rendered (its CRDs may
// be missing).
func TestHTTPRouteExample(t *testing.T) {
	dir := filepath.Join("overlays", "example")
	b, err := os.ReadFile(filepath.Join(dir, "httproute.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hr struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			ParentRefs []struct {
				Name string `yaml:"name"`
			} `yaml:"parentRefs"`
			Hostnames []string `yaml:"hostnames"`
			Rules     []struct {
				BackendRefs []struct {
					Name string `yaml:"name"`
					Port int    `yaml:"port"`
				} `yaml:"backendRefs"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &hr); err != nil {
		t.Fatalf("httproute.example.yaml: %v", err)
	}
	if hr.APIVersion != "gateway.networking.k8s.io/v1" || hr.Kind != "HTTPRoute" {
		t.Errorf("httproute.example.yaml: %s %s, want gateway.networking.k8s.io/v1 HTTPRoute", hr.APIVersion, hr.Kind)
	}
	if len(hr.Spec.ParentRefs) == 0 || hr.Spec.ParentRefs[0].Name == "" || len(hr.Spec.Hostnames) == 0 {
		t.Errorf("httproute.example.yaml: want a parentRef to a Gateway and hostnames")
	}
	svc := decodeSpec[serviceSpec](t, render(t, dir).one(t, "Service", "authd"))
	if len(hr.Spec.Rules) == 0 {
		t.Errorf("httproute.example.yaml: no rules")
	}
	for _, rule := range hr.Spec.Rules {
		for _, ref := range rule.BackendRefs {
			if ref.Name != "authd" || len(svc.Ports) == 0 || ref.Port != svc.Ports[0].Port {
				t.Errorf("httproute.example.yaml: backendRef %s:%d, want authd:%d", ref.Name, ref.Port, svc.Ports[0].Port)
			}
		}
	}
	kust, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(kust, &k); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(k.Resources, "httproute.example.yaml") {
		t.Errorf("overlays/example lists httproute.example.yaml: without the Gateway API's CRDs the apply fails")
	}
}

// commentedSetting is a commented-out NAME=value line of config.env.
var commentedSetting = regexp.MustCompile(`^#\s*([A-Z][A-Z0-9_]*)=(\S*)$`)

// TestConfigEnvMailExamples: base/config.env sets MAIL_TRANSPORT and shows
// the mail settings commented out; each is a variable of README.md's
// table, and with them uncommented and MAIL_TRANSPORT=smtp, authd's
// config.Load accepts the result (the example is one that works).
func TestConfigEnvMailExamples(t *testing.T) {
	f, err := os.Open(filepath.Join("base", "config.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := readmeVariables(t)
	env := map[string]string{}
	commented := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := commentedSetting.FindStringSubmatch(line); m != nil {
			if _, ok := known[m[1]]; !ok {
				t.Errorf("config.env: commented %s is not a variable in README.md's table", m[1])
			}
			env[m[1]], commented[m[1]] = m[2], true
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	if env["MAIL_TRANSPORT"] == "" || commented["MAIL_TRANSPORT"] {
		t.Errorf("config.env: MAIL_TRANSPORT is not set")
	}
	for _, name := range []string{"EMAIL_FROM", "SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "EMAIL_LINK_BASE"} {
		if !commented[name] {
			t.Errorf("config.env: %s is not shown (commented out) with the mail settings", name)
		}
	}
	env["MAIL_TRANSPORT"] = "smtp"
	for k, v := range placeholders {
		env[k] = v
	}
	if _, err := config.Load(func(name string) string { return env[name] }); err != nil {
		t.Errorf("config.env with the mail settings uncommented: config.Load refuses it:\n%v", err)
	}
}

// staleClaims were true of earlier releases and must not come back.
var staleClaims = []string{
	"exits if it cannot",                             // authd waits DB_STARTUP_WAIT for the database
	"validates the whole configuration",              // authd migrate reads only the database settings
	"before the port opens",                          // the port opens before migrations
	"needs the signing keys too",                     // same
	"_VERIFY_KEYS` (or `REFRESH_TOKEN_VERIFY_KEYS`)", // refresh keys rotate through REFRESH_TOKEN_RETIRED_KEYS
}

// TestNoStaleClaims: the manifests' comments and deploy/README.md do not
// repeat what earlier releases did, and the README's rotation runbook
// names REFRESH_TOKEN_RETIRED_KEYS.
func TestNoStaleClaims(t *testing.T) {
	var files []string
	for _, pattern := range []string{"base/*", "overlays/*/*", "README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ") // claims may wrap
		for _, claim := range staleClaims {
			if strings.Contains(text, claim) {
				t.Errorf("%s says %q, which is no longer true", file, claim)
			}
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rotation, _ := strings.Cut(string(readme), "**Key rotation**")
	rotation, _, _ = strings.Cut(rotation, "\n**")
	for _, want := range []string{"REFRESH_TOKEN_RETIRED_KEYS", "ACCESS_TOKEN_VERIFY_KEYS", "REFRESH_TOKEN_EXPIRED_IN"} {
		if !strings.Contains(rotation, want) {
			t.Errorf("deploy/README.md, **Key rotation**: does not mention %s", want)
		}
	}
}
