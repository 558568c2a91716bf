// Package deploy holds authd's Kubernetes manifests (a kustomize base and an
// example overlay). This test renders them with the kustomize binary and
// checks what a deployment of authd relies on: probes on the right paths,
// graceful shutdown that fits in the grace period, a locked-down security
// context, secrets only by reference, settings that authd actually reads,
// /metrics on a port of its own that only Prometheus may scrape, proxies
// trusted by address and not the pod CIDR, and a NetworkPolicy that lets in
// only selected pods and lets out nothing but PostgreSQL, DNS and an SMTP
// relay's address range; features_test.go checks that every feature's
// settings and secrets are carried (mail, key rotation, two-factor).
//
// kustomize comes from PATH or $(go env GOPATH)/bin; install it with
//
//	go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
//
// Without it the test is skipped, or fails when CI is set.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authd/authd/internal/testenv"
)

// targets are the kustomizations rendered, relative to this directory.
var targets = []string{"base", "overlays/example"}

const (
	secretName    = "authd-secrets"
	configMapName = "authd-config" // kustomize adds a -<hash> suffix
	httpPort      = 8000
)

// requiredSecretKeys must reach the server container from authd-secrets.
var requiredSecretKeys = []string{"DATABASE_URL", "ACCESS_TOKEN_PRIVATE_KEY", "REFRESH_TOKEN_PRIVATE_KEY"}

// migrateSecretKeys are all the secrets the migrate Job may read (authd
// migrate needs only the database): DATABASE_URL required, the other
// optional. It gets no signing keys and no mail credentials.
var migrateSecretKeys = map[string]bool{"DATABASE_URL": true, "MIGRATE_DATABASE_URL": false}

// notWired are the secret settings (config.Variables) that the server
// container deliberately does not read from authd-secrets, and why. Every
// other secret setting must reach it, as an optional secretKeyRef unless
// it is required: a feature whose secret the manifests drop cannot be
// turned on (mail credentials, REFRESH_TOKEN_RETIRED_KEYS for rotation).
var notWired = map[string]string{
	"POSTGRES_PASSWORD":        "DATABASE_URL carries the password",
	"ACCESS_TOKEN_PUBLIC_KEY":  "derived from the private key",
	"REFRESH_TOKEN_PUBLIC_KEY": "derived from the private key",
	"MIGRATE_DATABASE_URL":     "the server does not migrate (serve -no-migrate); the Job reads it",
}

// placeholders stand in for the Secret's values when a test loads the
// rendered configuration with authd's own config.Load: valid in form, so
// that only the manifests' settings can fail.
var placeholders = map[string]string{
	"DATABASE_URL":               "postgres://authd:placeholder@postgresql:5432/authd?sslmode=require",
	"MIGRATE_DATABASE_URL":       "postgres://owner:placeholder@postgresql:5432/authd?sslmode=require",
	"ACCESS_TOKEN_PRIVATE_KEY":   "access-private",
	"REFRESH_TOKEN_PRIVATE_KEY":  "refresh-private",
	"ACCESS_TOKEN_VERIFY_KEYS":   "access-old-public",
	"REFRESH_TOKEN_VERIFY_KEYS":  "refresh-old-public",
	"REFRESH_TOKEN_RETIRED_KEYS": "refresh-old-private",
	"MFA_ENCRYPTION_KEYS":        "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	"SMTP_USER":                  "authd",
	"SMTP_PASS":                  "placeholder",
}

// smtpPorts are the ports an SMTP egress rule may open: submission
// (STARTTLS), submissions (implicit TLS) and plain SMTP.
var smtpPorts = []string{"TCP/25", "TCP/465", "TCP/587"}

// smtpPlaceholder is the base's SMTP egress CIDR (TEST-NET-1), which
// reaches nothing: an overlay that turns mail on must replace it.
const smtpPlaceholder = "192.0.2.1/32"

// The few fields of Kubernetes objects that the checks read.

type object struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`

	// A ServiceAccount's (top-level, not under spec).
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []yaml.Node       `yaml:"matchExpressions"`
}

type deploymentSpec struct {
	Replicas *int          `yaml:"replicas"`
	Selector labelSelector `yaml:"selector"`
	Strategy struct {
		Type          string `yaml:"type"`
		RollingUpdate struct {
			MaxUnavailable *string `yaml:"maxUnavailable"`
			MaxSurge       *string `yaml:"maxSurge"`
		} `yaml:"rollingUpdate"`
	} `yaml:"strategy"`
	Template podTemplate `yaml:"template"`
}

type jobSpec struct {
	BackoffLimit            *int        `yaml:"backoffLimit"`
	TTLSecondsAfterFinished *int        `yaml:"ttlSecondsAfterFinished"`
	Template                podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     podSpec    `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName            string              `yaml:"serviceAccountName"`
	AutomountServiceAccountToken  *bool               `yaml:"automountServiceAccountToken"`
	TerminationGracePeriodSeconds *int                `yaml:"terminationGracePeriodSeconds"`
	RestartPolicy                 string              `yaml:"restartPolicy"`
	HostNetwork                   bool                `yaml:"hostNetwork"`
	HostPID                       bool                `yaml:"hostPID"`
	HostIPC                       bool                `yaml:"hostIPC"`
	SecurityContext               *podSecurityContext `yaml:"securityContext"`
	InitContainers                []container         `yaml:"initContainers"`
	Containers                    []container         `yaml:"containers"`
	Volumes                       []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
	TopologySpreadConstraints []struct {
		TopologyKey   string        `yaml:"topologyKey"`
		LabelSelector labelSelector `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Affinity *struct {
		PodAntiAffinity *yaml.Node `yaml:"podAntiAffinity"`
	} `yaml:"affinity"`
}

type podSecurityContext struct {
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
	RunAsUser      *int64          `yaml:"runAsUser"`
	RunAsGroup     *int64          `yaml:"runAsGroup"`
	FSGroup        *int64          `yaml:"fsGroup"`
	SeccompProfile *seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env       []envVar        `yaml:"env"`
	EnvFrom   []envFromSource `yaml:"envFrom"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *probe                    `yaml:"livenessProbe"`
	ReadinessProbe  *probe                    `yaml:"readinessProbe"`
	StartupProbe    *probe                    `yaml:"startupProbe"`
	SecurityContext *containerSecurityContext `yaml:"securityContext"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef     *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef  *keyRef `yaml:"configMapKeyRef"`
		ResourceFieldRef *struct {
			ContainerName string `yaml:"containerName"`
			Resource      string `yaml:"resource"`
			Divisor       string `yaml:"divisor"`
		} `yaml:"resourceFieldRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional *bool  `yaml:"optional"`
}

type envFromSource struct {
	Prefix       string `yaml:"prefix"`
	ConfigMapRef *struct {
		Name string `yaml:"name"`
	} `yaml:"configMapRef"`
	SecretRef *struct {
		Name string `yaml:"name"`
	} `yaml:"secretRef"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a name or a number, as text
	} `yaml:"httpGet"`
	PeriodSeconds    *int `yaml:"periodSeconds"`
	FailureThreshold *int `yaml:"failureThreshold"`
}

type containerSecurityContext struct {
	RunAsNonRoot             *bool           `yaml:"runAsNonRoot"`
	RunAsUser                *int64          `yaml:"runAsUser"`
	Privileged               *bool           `yaml:"privileged"`
	AllowPrivilegeEscalation *bool           `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool           `yaml:"readOnlyRootFilesystem"`
	SeccompProfile           *seccompProfile `yaml:"seccompProfile"`
	Capabilities             *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type serviceSpec struct {
	Type     string            `yaml:"type"`
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable   *string       `yaml:"minAvailable"`
	MaxUnavailable *string       `yaml:"maxUnavailable"`
	Selector       labelSelector `yaml:"selector"`
}

type networkPolicySpec struct {
	PodSelector labelSelector `yaml:"podSelector"`
	PolicyTypes []string      `yaml:"policyTypes"`
	Ingress     []struct {
		From  []yaml.Node     `yaml:"from"`
		Ports []netPolicyPort `yaml:"ports"`
	} `yaml:"ingress"`
	Egress []struct {
		To    []yaml.Node     `yaml:"to"`
		Ports []netPolicyPort `yaml:"ports"`
	} `yaml:"egress"`
}

// netPolicyPeer is one entry of an ingress rule's from.
type netPolicyPeer struct {
	NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
	PodSelector       *labelSelector `yaml:"podSelector"`
	IPBlock           *struct {
		CIDR string `yaml:"cidr"`
	} `yaml:"ipBlock"`
}

// empty reports whether a selector is present but selects everything.
func (s *labelSelector) empty() bool {
	return s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

type netPolicyPort struct {
	Protocol string `yaml:"protocol"`
	Port     string `yaml:"port"`
	EndPort  *int   `yaml:"endPort"`
}

// rendered is the output of one `kustomize build`.
type rendered struct {
	dir     string
	objects []object
}

// find returns the objects of kind whose name is name, or starts with
// name + "-" when prefix is set (generated ConfigMaps carry a hash suffix).
func (r *rendered) find(kind, name string, prefix bool) []object {
	var found []object
	for _, o := range r.objects {
		if o.Kind != kind {
			continue
		}
		if o.Metadata.Name == name || (prefix && strings.HasPrefix(o.Metadata.Name, name+"-")) {
			found = append(found, o)
		}
	}
	return found
}

// one returns the single object of kind named name, failing the test when
// there is not exactly one.
func (r *rendered) one(t *testing.T, kind, name string) object {
	t.Helper()
	found := r.find(kind, name, false)
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one %s %q, found %d", r.dir, kind, name, len(found))
	}
	return found[0]
}

func decodeSpec[T any](t *testing.T, o object) T {
	t.Helper()
	var spec T
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s %s: decoding spec: %v", o.Kind, o.Metadata.Name, err)
	}
	return spec
}

func (r *rendered) deployment(t *testing.T) deploymentSpec {
	t.Helper()
	return decodeSpec[deploymentSpec](t, r.one(t, "Deployment", "authd"))
}

func (r *rendered) migrateJob(t *testing.T) jobSpec {
	t.Helper()
	return decodeSpec[jobSpec](t, r.one(t, "Job", "authd-migrate"))
}

// workload is one pod template of the render, named for messages.
type workload struct {
	name string
	pod  podTemplate
}

// workloads returns the pod templates of every Deployment, Job,
// StatefulSet, DaemonSet and CronJob, so that a workload added later is
// checked too.
func (r *rendered) workloads(t *testing.T) []workload {
	t.Helper()
	var ws []workload
	for _, o := range r.objects {
		var pod podTemplate
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet":
			pod = decodeSpec[struct {
				Template podTemplate `yaml:"template"`
			}](t, o).Template
		case "CronJob":
			pod = decodeSpec[struct {
				JobTemplate struct {
					Spec struct {
						Template podTemplate `yaml:"template"`
					} `yaml:"spec"`
				} `yaml:"jobTemplate"`
			}](t, o).JobTemplate.Spec.Template
		case "Pod":
			pod = podTemplate{Metadata: o.Metadata, Spec: decodeSpec[podSpec](t, o)}
		default:
			continue
		}
		ws = append(ws, workload{name: o.Kind + " " + o.Metadata.Name, pod: pod})
	}
	if len(ws) == 0 {
		t.Fatalf("%s: no workloads rendered", r.dir)
	}
	return ws
}

// allContainers returns the init and regular containers of a pod.
func allContainers(p podSpec) []container {
	return append(slices.Clone(p.InitContainers), p.Containers...)
}

// serverContainer is the Deployment's container that serves on port "http".
func (r *rendered) serverContainer(t *testing.T) container {
	t.Helper()
	d := r.deployment(t)
	for _, c := range d.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "http" {
				return c
			}
		}
	}
	t.Fatalf("%s: Deployment authd has no container with a port named http", r.dir)
	return container{}
}

// configMap returns the data of the ConfigMap that the server container
// reads through envFrom.
func (r *rendered) configMap(t *testing.T) map[string]string {
	t.Helper()
	for _, ef := range r.serverContainer(t).EnvFrom {
		if ef.ConfigMapRef == nil || !strings.HasPrefix(ef.ConfigMapRef.Name, configMapName) {
			continue
		}
		found := r.find("ConfigMap", ef.ConfigMapRef.Name, false)
		if len(found) != 1 {
			t.Fatalf("%s: the Deployment reads ConfigMap %q, which is rendered %d times", r.dir, ef.ConfigMapRef.Name, len(found))
		}
		return found[0].Data
	}
	t.Fatalf("%s: the Deployment's authd container has no envFrom configMapRef to %s", r.dir, configMapName)
	return nil
}

// matches reports whether a selector (matchLabels only) selects labels.
func matches(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false // an empty selector is never what we want here
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestManifests(t *testing.T) {
	checks := []struct {
		name string
		fn   func(t *testing.T, r *rendered)
	}{
		{"expected objects are rendered", checkObjects},
		{"no Secret with data is rendered", checkNoSecretData},
		{"Deployment keeps at least two replicas through a rollout", checkReplicas},
		{"probes: liveness /healthz, readiness /readyz, startup", checkProbes},
		{"pods and containers are locked down", checkSecurity},
		{"containers set resource requests and limits", checkResources},
		{"grace period exceeds SHUTDOWN_DELAY+SHUTDOWN_TIMEOUT", checkGracePeriod},
		{"HASH_CONCURRENCY matches the CPU limit", checkHashConcurrency},
		{"GOMEMLIMIT is derived from the memory limit, below it", checkMemoryLimit},
		{"secrets come from authd-secrets with the required keys", checkSecretRefs},
		{"every environment variable is one authd reads", checkEnvNames},
		{"the ConfigMap's PORT is the container's http port", checkPort},
		{"migrate Job runs migrate up, the server does not migrate", checkMigrateJob},
		{"Service targets the http port of the server pods only", checkService},
		{"PodDisruptionBudget covers the server pods", checkPDB},
		{"NetworkPolicy: ingress on 8000 and the metrics port from selected pods only, egress only to 53, 5432 and an SMTP relay's range", checkNetworkPolicy},
		{"metrics: own port, scrape annotations, only Prometheus admitted", checkMetrics},
		{"TRUSTED_PROXIES names proxies, not the pod CIDR", checkTrustedProxies},
		{"Deployment and Job run the same image", checkSameImage},
		{"every secret setting reaches the server, the Job gets only the database's", checkServerSecrets},
		{"authd's own config.Load accepts the rendered settings", checkConfigLoads},
		{"mail: MAIL_TRANSPORT set, smtp has credentials and an egress rule to SMTP_PORT", checkMail},
		{"Ingress: TLS, to the Service's http port", checkIngress},
	}
	for _, dir := range targets {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.fn(t, r) })
			}
		})
	}
}

func checkObjects(t *testing.T, r *rendered) {
	want := []struct{ kind, name string }{
		{"ServiceAccount", "authd"},
		{"Deployment", "authd"},
		{"Job", "authd-migrate"},
		{"Service", "authd"},
		{"PodDisruptionBudget", "authd"},
		{"NetworkPolicy", "authd"},
	}
	for _, w := range want {
		if n := len(r.find(w.kind, w.name, false)); n != 1 {
			t.Errorf("%s %q: rendered %d times, want once", w.kind, w.name, n)
		}
	}
	if n := len(r.find("ConfigMap", configMapName, true)); n != 1 {
		t.Errorf("ConfigMap %s(-hash): rendered %d times, want once", configMapName, n)
	}
	for _, o := range r.objects {
		if o.Metadata.Labels["app.kubernetes.io/name"] != "authd" {
			t.Errorf("%s %s: label app.kubernetes.io/name is %q, want authd", o.Kind, o.Metadata.Name, o.Metadata.Labels["app.kubernetes.io/name"])
		}
	}
	sa := r.one(t, "ServiceAccount", "authd")
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount authd: automountServiceAccountToken must be false")
	}
}

func checkNoSecretData(t *testing.T, r *rendered) {
	for _, o := range r.objects {
		if o.Kind == "Secret" && (len(o.Data) > 0 || len(o.StringData) > 0) {
			t.Errorf("Secret %s is rendered with data: secrets must be created out of band (kubectl create secret), never shipped in the manifests", o.Metadata.Name)
		}
	}
}

func checkReplicas(t *testing.T, r *rendered) {
	d := r.deployment(t)
	if d.Replicas == nil || *d.Replicas < 2 {
		t.Errorf("Deployment authd: replicas %v, want at least 2", deref(d.Replicas))
	}
	if d.Strategy.Type != "" && d.Strategy.Type != "RollingUpdate" {
		t.Errorf("Deployment authd: strategy %q, want RollingUpdate", d.Strategy.Type)
	}
	if mu := d.Strategy.RollingUpdate.MaxUnavailable; mu == nil || (*mu != "0" && *mu != "0%") {
		t.Errorf("Deployment authd: rollingUpdate.maxUnavailable %v, want 0 (a rollout never removes a pod before its successor is ready)", deref(mu))
	}
	if ms := d.Strategy.RollingUpdate.MaxSurge; ms == nil || *ms == "0" || *ms == "0%" {
		t.Errorf("Deployment authd: rollingUpdate.maxSurge %v, want at least 1 (with maxUnavailable 0 the rollout could not progress)", deref(ms))
	}
	if !matches(d.Selector.MatchLabels, d.Template.Metadata.Labels) {
		t.Errorf("Deployment authd: selector %v does not select its own pod labels %v", d.Selector.MatchLabels, d.Template.Metadata.Labels)
	}
	spread := len(d.Template.Spec.TopologySpreadConstraints) > 0
	for _, tsc := range d.Template.Spec.TopologySpreadConstraints {
		if !matches(tsc.LabelSelector.MatchLabels, d.Template.Metadata.Labels) {
			t.Errorf("Deployment authd: topologySpreadConstraint on %s selects %v, not the server pods", tsc.TopologyKey, tsc.LabelSelector.MatchLabels)
		}
	}
	if !spread && (d.Template.Spec.Affinity == nil || d.Template.Spec.Affinity.PodAntiAffinity == nil) {
		t.Errorf("Deployment authd: neither topologySpreadConstraints nor podAntiAffinity: both replicas may land on one node")
	}
}

func checkProbes(t *testing.T, r *rendered) {
	c := r.serverContainer(t)
	probes := []struct {
		kind string
		p    *probe
		path string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"startupProbe", c.StartupProbe, "/healthz"},
	}
	for _, p := range probes {
		switch {
		case p.p == nil:
			t.Errorf("container %s: no %s", c.Name, p.kind)
		case p.p.HTTPGet == nil:
			t.Errorf("container %s: %s is not an httpGet probe", c.Name, p.kind)
		default:
			if p.p.HTTPGet.Path != p.path {
				t.Errorf("container %s: %s path %q, want %q", c.Name, p.kind, p.p.HTTPGet.Path, p.path)
			}
			if port := p.p.HTTPGet.Port; port != "http" && port != strconv.Itoa(httpPort) {
				t.Errorf("container %s: %s port %q, want http (%d)", c.Name, p.kind, port, httpPort)
			}
		}
	}
	if s := c.StartupProbe; s != nil {
		// Kubernetes defaults: periodSeconds 10, failureThreshold 3.
		budget := time.Duration(orDefault(s.PeriodSeconds, 10)*orDefault(s.FailureThreshold, 3)) * time.Second
		if budget < 30*time.Second {
			t.Errorf("container %s: startupProbe allows %s (periodSeconds x failureThreshold) before liveness takes over, want at least 30s", c.Name, budget)
		}
	}
}

func checkSecurity(t *testing.T, r *rendered) {
	for _, w := range r.workloads(t) {
		p := w.pod.Spec
		psc := p.SecurityContext
		if psc == nil {
			t.Errorf("%s: pod has no securityContext", w.name)
			psc = &podSecurityContext{}
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot must be true", w.name)
		}
		if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
			t.Errorf("%s: pod securityContext.runAsUser is 0 (root)", w.name)
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s: pod securityContext.seccompProfile.type must be RuntimeDefault", w.name)
		}
		if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false (authd never calls the Kubernetes API)", w.name)
		}
		if p.HostNetwork || p.HostPID || p.HostIPC {
			t.Errorf("%s: uses the host's network, PID or IPC namespace", w.name)
		}
		for _, c := range allContainers(p) {
			where := w.name + ", container " + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				t.Errorf("%s: runAsNonRoot false overrides the pod's true", where)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("%s: runAsUser is 0 (root)", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("%s: seccompProfile.type %q overrides the pod's RuntimeDefault", where, sc.SeccompProfile.Type)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities.drop must contain ALL", where)
			} else if len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: adds capabilities %v; authd needs none", where, sc.Capabilities.Add)
			}
		}
	}
}

func checkResources(t *testing.T, r *rendered) {
	for _, w := range r.workloads(t) {
		for _, c := range allContainers(w.pod.Spec) {
			where := w.name + ", container " + c.Name
			for _, res := range []string{"cpu", "memory"} {
				req, hasReq := c.Resources.Requests[res]
				lim, hasLim := c.Resources.Limits[res]
				if !hasReq {
					t.Errorf("%s: no %s request", where, res)
				}
				if !hasLim {
					t.Errorf("%s: no %s limit", where, res)
				}
				if !hasReq || !hasLim {
					continue
				}
				rq, err1 := parseQuantity(req)
				lq, err2 := parseQuantity(lim)
				if err := errors.Join(err1, err2); err != nil {
					t.Errorf("%s: %s: %v", where, res, err)
				} else if rq > lq {
					t.Errorf("%s: %s request %s is above its limit %s", where, res, req, lim)
				}
			}
		}
	}
}

func checkGracePeriod(t *testing.T, r *rendered) {
	d := r.deployment(t)
	cm := r.configMap(t)
	defaults := readmeVariables(t)
	var sum time.Duration
	var parts []string
	for _, name := range []string{"SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT"} {
		v, ok := cm[name]
		from := "ConfigMap"
		if !ok || strings.TrimSpace(v) == "" {
			v, from = defaults[name], "README default"
		}
		dur, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			t.Fatalf("%s %q (%s) is not a Go duration: %v", name, v, from, err)
		}
		sum += dur
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", name, dur, from))
	}
	grace := time.Duration(orDefault(d.Template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if grace <= sum {
		t.Errorf("Deployment authd: terminationGracePeriodSeconds %s must exceed %s = %s, or the kubelet kills authd while it drains",
			grace, strings.Join(parts, " + "), sum)
	}
}

func checkHashConcurrency(t *testing.T, r *rendered) {
	c := r.serverContainer(t)
	v, ok := r.configMap(t)["HASH_CONCURRENCY"]
	if !ok {
		t.Fatalf("ConfigMap: HASH_CONCURRENCY unset; authd would use the node's CPU count, not the container's limit")
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		t.Fatalf("ConfigMap: HASH_CONCURRENCY %q is not a number", v)
	}
	lim, ok := c.Resources.Limits["cpu"]
	if !ok {
		t.Fatalf("container %s: no cpu limit", c.Name)
	}
	q, err := parseQuantity(lim)
	if err != nil {
		t.Fatal(err)
	}
	if cpus := int(math.Ceil(q)); n != cpus {
		t.Errorf("ConfigMap: HASH_CONCURRENCY=%d, want %d to match the cpu limit %s of container %s", n, cpus, lim, c.Name)
	}
}

func checkSecretRefs(t *testing.T, r *rendered) {
	for _, w := range r.workloads(t) {
		for _, v := range w.pod.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName != secretName {
				t.Errorf("%s: volume %s mounts Secret %q, want %s", w.name, v.Name, v.Secret.SecretName, secretName)
			}
		}
		for _, c := range allContainers(w.pod.Spec) {
			where := w.name + ", container " + c.Name
			required := map[string]bool{}
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != secretName {
					t.Errorf("%s: env %s reads Secret %q, want %s", where, e.Name, ref.Name, secretName)
				}
				if ref.Optional == nil || !*ref.Optional {
					required[ref.Key] = true
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name != secretName {
					t.Errorf("%s: envFrom reads Secret %q, want %s", where, ef.SecretRef.Name, secretName)
				}
			}
			if !isAuthd(c) {
				continue
			}
			want := requiredSecretKeys
			if isMigrate(c) {
				want = []string{"DATABASE_URL"}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						if _, ok := migrateSecretKeys[e.ValueFrom.SecretKeyRef.Key]; !ok {
							t.Errorf("%s: reads %s from the Secret: authd migrate needs only the database settings", where, e.ValueFrom.SecretKeyRef.Key)
						}
					}
				}
			}
			for _, k := range want {
				if !required[k] {
					t.Errorf("%s: does not read %s from Secret %s (as a required secretKeyRef)", where, k, secretName)
				}
			}
		}
	}
}

// isMigrate reports whether c runs authd migrate.
func isMigrate(c container) bool {
	return len(c.Args) > 0 && c.Args[0] == "migrate"
}

// isAuthd reports whether c runs the authd image (all do today; a sidecar
// would not need authd's secrets).
func isAuthd(c container) bool {
	name := c.Image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, "@")
	name, _, _ = strings.Cut(name, ":")
	return name == "authd"
}

// goRuntimeVars are read by the Go runtime, not by authd's configuration.
var goRuntimeVars = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GODEBUG": true, "GOMAXPROCS": true}

// envRef is a $(NAME) reference in an env value, which the kubelet expands
// from the variables defined before it.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func checkEnvNames(t *testing.T, r *rendered) {
	known := readmeVariables(t)
	unknown := func(where, what, name string) {
		if _, ok := known[name]; !ok {
			t.Errorf("%s: %s %q is not a variable in the configuration table of README.md: authd would ignore it", where, what, name)
		}
	}
	for _, w := range r.workloads(t) {
		for _, c := range allContainers(w.pod.Spec) {
			where := w.name + ", container " + c.Name
			// A variable that only feeds a later one's $(NAME) is not a setting.
			helpers := map[string]bool{}
			for _, e := range c.Env {
				for _, m := range envRef.FindAllStringSubmatch(e.Value, -1) {
					helpers[m[1]] = true
				}
			}
			for _, e := range c.Env {
				if !goRuntimeVars[e.Name] && !helpers[e.Name] {
					unknown(where, "env", e.Name)
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					unknown(where, "secretKeyRef key", e.ValueFrom.SecretKeyRef.Key)
				}
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					ref := e.ValueFrom.ConfigMapKeyRef
					unknown(where, "configMapKeyRef key", ref.Key)
					if len(r.find("ConfigMap", ref.Name, false)) == 0 {
						t.Errorf("%s: env %s reads ConfigMap %q, which is not rendered", where, e.Name, ref.Name)
					}
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					continue
				}
				found := r.find("ConfigMap", ef.ConfigMapRef.Name, false)
				if len(found) == 0 {
					t.Errorf("%s: envFrom reads ConfigMap %q, which is not rendered (the pod could not start)", where, ef.ConfigMapRef.Name)
					continue
				}
				for _, k := range sortedKeys(found[0].Data) {
					unknown(where, "ConfigMap "+found[0].Metadata.Name+" key", ef.Prefix+k)
				}
			}
		}
	}
}

// Headroom that GOMEMLIMIT must leave below the container's memory limit,
// for what the Go runtime does not count (the binary's mapped code, the
// kernel's socket buffers). Go's GC guide suggests 5 to 10%; the closest a
// Downward API value can get is 4.6% (see deployment.yaml).
const (
	minMemHeadroom = 0.04
	maxMemHeadroom = 0.20
)

// checkMemoryLimit: GOMEMLIMIT is derived from the container's memory limit
// through the Downward API (so an overlay that changes the limit moves it),
// resolves to a byte count Go accepts (a malformed GOMEMLIMIT stops the
// runtime at start), and sits a little below the limit, so the GC works
// harder before the kernel kills the container.
func checkMemoryLimit(t *testing.T, r *rendered) {
	c := r.serverContainer(t)
	lim, ok := c.Resources.Limits["memory"]
	if !ok {
		t.Fatalf("container %s: no memory limit", c.Name)
	}
	limit, err := parseQuantity(lim)
	if err != nil {
		t.Fatal(err)
	}
	// Resolve the env in order, as the kubelet does; values taken from
	// limits.memory are computed from the rendered limit.
	values, derived := map[string]string{}, map[string]bool{}
	for _, e := range c.Env {
		v, fromLimit := e.Value, false
		if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
			ref := e.ValueFrom.ResourceFieldRef
			if ref.Resource != "limits.memory" || (ref.ContainerName != "" && ref.ContainerName != c.Name) {
				continue
			}
			div := 1.0
			if ref.Divisor != "" {
				if div, err = parseQuantity(ref.Divisor); err != nil {
					t.Fatalf("env %s: divisor: %v", e.Name, err)
				}
			}
			v, fromLimit = strconv.FormatInt(int64(math.Ceil(limit/div)), 10), true
		} else {
			v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
				name := envRef.FindStringSubmatch(ref)[1]
				if val, ok := values[name]; ok {
					fromLimit = fromLimit || derived[name]
					return val
				}
				return ref // undefined: the kubelet leaves it as written
			})
		}
		values[e.Name], derived[e.Name] = v, fromLimit
	}
	v, ok := values["GOMEMLIMIT"]
	switch {
	case !ok:
		t.Fatalf("container %s: no GOMEMLIMIT; Go would not know the memory limit %s and the kernel would kill the container before the GC tried harder", c.Name, lim)
	case !derived["GOMEMLIMIT"]:
		t.Fatalf("container %s: GOMEMLIMIT %q is not derived from limits.memory (a resourceFieldRef): it would not follow the limit when an overlay changes it", c.Name, v)
	}
	n, err := goByteCount(v)
	if err != nil {
		t.Fatalf("container %s: GOMEMLIMIT resolves to %q: %v; the Go runtime refuses to start with it", c.Name, v, err)
	}
	if headroom := 1 - float64(n)/limit; headroom < minMemHeadroom || headroom > maxMemHeadroom {
		t.Errorf("container %s: GOMEMLIMIT %s = %d bytes leaves %.1f%% of the memory limit %s, want %.0f%% to %.0f%%",
			c.Name, v, n, 100*headroom, lim, 100*minMemHeadroom, 100*maxMemHeadroom)
	}
}

// goByteCount parses s as the Go runtime parses GOMEMLIMIT: a byte count
// with an optional B, KiB, MiB, GiB or TiB suffix.
func goByteCount(s string) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not a byte count (digits, then B, KiB, MiB, GiB or TiB)")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift, nil
}

func checkPort(t *testing.T, r *rendered) {
	c := r.serverContainer(t)
	var port int
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = p.ContainerPort
		}
	}
	if port != httpPort {
		t.Errorf("container %s: port http is %d, want %d", c.Name, port, httpPort)
	}
	if v, ok := r.configMap(t)["PORT"]; ok && strings.TrimSpace(v) != strconv.Itoa(port) {
		t.Errorf("ConfigMap: PORT=%s but the container's http port is %d", v, port)
	}
}

func checkMigrateJob(t *testing.T, r *rendered) {
	j := r.migrateJob(t)
	cs := j.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Job authd-migrate: %d containers, want 1", len(cs))
	}
	if got := append(slices.Clone(cs[0].Command), cs[0].Args...); !slices.Equal(got, []string{"migrate", "up"}) {
		t.Errorf("Job authd-migrate: runs %q, want [migrate up]", got)
	}
	if rp := j.Template.Spec.RestartPolicy; rp != "Never" && rp != "OnFailure" {
		t.Errorf("Job authd-migrate: restartPolicy %q, want Never or OnFailure", rp)
	}
	if j.BackoffLimit == nil || *j.BackoffLimit < 1 {
		t.Errorf("Job authd-migrate: backoffLimit %v, want a few retries", deref(j.BackoffLimit))
	}
	if j.TTLSecondsAfterFinished == nil {
		t.Errorf("Job authd-migrate: no ttlSecondsAfterFinished; finished Jobs would pile up and block the next release's apply")
	}
	server := r.serverContainer(t)
	args := append(slices.Clone(server.Command), server.Args...)
	if len(args) == 0 || args[0] != "serve" || !slices.Contains(args, "-no-migrate") {
		t.Errorf("Deployment authd: runs %q, want serve -no-migrate (the Job migrates)", args)
	}
}

func checkService(t *testing.T, r *rendered) {
	svc := decodeSpec[serviceSpec](t, r.one(t, "Service", "authd"))
	if svc.Type != "" && svc.Type != "ClusterIP" {
		t.Errorf("Service authd: type %s, want ClusterIP (expose it through an Ingress)", svc.Type)
	}
	if len(svc.Ports) != 1 {
		t.Fatalf("Service authd: %d ports, want 1", len(svc.Ports))
	}
	if p := svc.Ports[0]; p.TargetPort != "http" && p.TargetPort != strconv.Itoa(httpPort) {
		t.Errorf("Service authd: targetPort %q, want http", p.TargetPort)
	}
	d := r.deployment(t)
	if !matches(svc.Selector, d.Template.Metadata.Labels) {
		t.Errorf("Service authd: selector %v does not select the Deployment's pods %v", svc.Selector, d.Template.Metadata.Labels)
	}
	if job := r.migrateJob(t); matches(svc.Selector, job.Template.Metadata.Labels) {
		t.Errorf("Service authd: selector %v also selects the migrate Job's pod %v, which serves nothing", svc.Selector, job.Template.Metadata.Labels)
	}
}

func checkPDB(t *testing.T, r *rendered) {
	pdb := decodeSpec[pdbSpec](t, r.one(t, "PodDisruptionBudget", "authd"))
	d := r.deployment(t)
	if pdb.MinAvailable == nil && pdb.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudget authd: neither minAvailable nor maxUnavailable")
	}
	if pdb.MinAvailable != nil {
		n, err := strconv.Atoi(*pdb.MinAvailable)
		if err != nil || n < 1 || (d.Replicas != nil && n >= *d.Replicas) {
			t.Errorf("PodDisruptionBudget authd: minAvailable %s, want at least 1 and below the %v replicas (else node drains block)", *pdb.MinAvailable, deref(d.Replicas))
		}
	}
	if !matches(pdb.Selector.MatchLabels, d.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget authd: selector %v does not select the Deployment's pods", pdb.Selector.MatchLabels)
	}
	if job := r.migrateJob(t); matches(pdb.Selector.MatchLabels, job.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget authd: selector %v also counts the migrate Job's pod", pdb.Selector.MatchLabels)
	}
}

func checkNetworkPolicy(t *testing.T, r *rendered) {
	np := decodeSpec[networkPolicySpec](t, r.one(t, "NetworkPolicy", "authd"))
	for _, w := range r.workloads(t) {
		if !matches(np.PodSelector.MatchLabels, w.pod.Metadata.Labels) {
			t.Errorf("NetworkPolicy authd: podSelector %v does not select %s's pods %v", np.PodSelector.MatchLabels, w.name, w.pod.Metadata.Labels)
		}
	}
	for _, pt := range []string{"Ingress", "Egress"} {
		if !slices.Contains(np.PolicyTypes, pt) {
			t.Errorf("NetworkPolicy authd: policyTypes %v lacks %s", np.PolicyTypes, pt)
		}
	}
	if len(np.Ingress) == 0 {
		t.Errorf("NetworkPolicy authd: no ingress rule: nothing could reach authd")
	}
	metrics := "TCP/" + strconv.Itoa(metricsPort(t, r))
	for i, rule := range np.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy authd: ingress rule %d has no from: it admits every source", i)
		}
		got := portSet(rule.Ports)
		api := slices.Equal(got, []string{"TCP/8000"}) || slices.Equal(got, []string{"TCP/http"})
		scrape := slices.Equal(got, []string{metrics}) || slices.Equal(got, []string{"TCP/metrics"})
		if !api && !scrape {
			t.Errorf("NetworkPolicy authd: ingress rule %d allows ports %v, want only TCP/8000 or only the metrics port %s", i, got, metrics)
		}
		for j, from := range rule.From {
			var peer netPolicyPeer
			if err := from.Decode(&peer); err != nil {
				t.Fatalf("NetworkPolicy authd: ingress rule %d, from %d: %v", i, j, err)
			}
			where := fmt.Sprintf("NetworkPolicy authd: ingress rule %d (%v), from %d", i, got, j)
			switch {
			case peer.IPBlock != nil:
				if err := narrow(peer.IPBlock.CIDR); err != nil {
					t.Errorf("%s: ipBlock %v", where, err)
				}
			case peer.PodSelector == nil || peer.PodSelector.empty():
				// podSelector {} alone is every pod of the namespace; with a
				// namespaceSelector, every pod of those namespaces. Either way
				// any of them could reach authd, and claim any client address
				// if it ever had a trusted one.
				t.Errorf("%s: no podSelector, or an empty one: it admits every pod of the namespace (or of the namespaces selected); select the ingress controller's pods, or label the clients (authd-client: \"true\")", where)
			case peer.NamespaceSelector.empty():
				t.Errorf("%s: empty namespaceSelector: it admits those pods in every namespace", where)
			}
		}
	}
	var egress []string
	for i, rule := range np.Egress {
		if len(rule.To) == 0 {
			t.Errorf("NetworkPolicy authd: egress rule %d has no to: it allows every destination", i)
		}
		if len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy authd: egress rule %d has no ports: it allows every port", i)
		}
		ports := portSet(rule.Ports)
		if len(ports) > 0 && !slices.ContainsFunc(ports, func(p string) bool { return !slices.Contains(smtpPorts, p) }) {
			// The SMTP relay's rule: addresses only, never everywhere.
			for j, to := range rule.To {
				var peer netPolicyPeer
				if err := to.Decode(&peer); err != nil {
					t.Fatalf("NetworkPolicy authd: egress rule %d, to %d: %v", i, j, err)
				}
				if peer.IPBlock == nil || peer.PodSelector != nil || peer.NamespaceSelector != nil {
					t.Errorf("NetworkPolicy authd: SMTP egress rule %d, to %d: want an ipBlock of the relay's addresses", i, j)
				} else if p, err := netip.ParsePrefix(peer.IPBlock.CIDR); err != nil || p.Bits() == 0 {
					t.Errorf("NetworkPolicy authd: SMTP egress rule %d: ipBlock %q: want the relay's range, not everywhere", i, peer.IPBlock.CIDR)
				}
			}
		}
		egress = append(egress, ports...)
	}
	slices.Sort(egress)
	egress = slices.Compact(egress)
	var other []string
	for _, p := range egress {
		if !slices.Contains(smtpPorts, p) {
			other = append(other, p)
		}
	}
	if want := []string{"TCP/53", "TCP/5432", "UDP/53"}; !slices.Equal(other, want) {
		t.Errorf("NetworkPolicy authd: egress ports %v besides SMTP, want exactly %v (PostgreSQL and DNS)", other, want)
	}
}

// maxTrusted is the most addresses one TRUSTED_PROXIES entry (or an ipBlock
// admitted to authd) may cover: a handful of proxies, a node group or a
// small slice of the pod CIDR set aside for the ingress controller. A pod or
// node CIDR (a /16, thousands of pods) is not a proxy.
const maxTrusted = 256

// narrow reports an error when cidr (an address or a prefix) covers more
// than maxTrusted addresses.
func narrow(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		a, err2 := netip.ParseAddr(cidr)
		if err2 != nil {
			return fmt.Errorf("%q is not an IP address or CIDR prefix", cidr)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if host := p.Addr().BitLen() - p.Bits(); host > 8 {
		return fmt.Errorf("%s covers 2^%d addresses, more than %d: a pod or node range, not a proxy", p, host, maxTrusted)
	}
	return nil
}

// checkTrustedProxies: TRUSTED_PROXIES names only proxies. A trusted address
// may claim any client address in X-Forwarded-For, so trusting the pod CIDR
// lets every pod (any tenant's, a compromised one) pick its address: dodge
// the per-address limits, or spend another client's.
func checkTrustedProxies(t *testing.T, r *rendered) {
	v, ok := r.configMap(t)["TRUSTED_PROXIES"]
	if r.dir != "base" && (!ok || strings.TrimSpace(v) == "") {
		t.Errorf("ConfigMap: TRUSTED_PROXIES unset: behind the ingress controller all clients would share one per-address limit")
	}
	for entry := range strings.SplitSeq(v, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		if err := narrow(entry); err != nil {
			t.Errorf("ConfigMap: TRUSTED_PROXIES: %v; trust the ingress controller's addresses only (see deploy/README.md)", err)
		}
	}
}

// metricsPort is the port of METRICS_ADDR in the ConfigMap, which must be a
// listener on the pod's address: authd's default (loopback) could not be
// scraped from Prometheus's pod, and main would put /metrics on the Service.
func metricsPort(t *testing.T, r *rendered) int {
	t.Helper()
	addr := strings.TrimSpace(r.configMap(t)["METRICS_ADDR"])
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("ConfigMap: METRICS_ADDR=%q, want :PORT (a listener of its own on the pod's address)", addr)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("ConfigMap: METRICS_ADDR=%q listens on %s only; Prometheus scrapes the pod's address: want :%s", addr, host, port)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("ConfigMap: METRICS_ADDR=%q: port is not a number", addr)
	}
	return n
}

// checkMetrics: /metrics is on a port of its own, named metrics; the server
// pods tell Prometheus where (prometheus.io/* annotations); the NetworkPolicy
// admits on that port only Prometheus's pods in the monitoring namespace.
func checkMetrics(t *testing.T, r *rendered) {
	port := metricsPort(t, r)
	c := r.serverContainer(t)
	named := 0
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			named = p.ContainerPort
		}
	}
	if named != port {
		t.Errorf("container %s: port named metrics is %d, want METRICS_ADDR's %d", c.Name, named, port)
	}
	d := r.deployment(t)
	want := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(port),
		"prometheus.io/path":   "/metrics",
	}
	for _, k := range sortedKeys(want) {
		if got, v := d.Template.Metadata.Annotations[k], want[k]; got != v {
			t.Errorf("Deployment authd: pod annotation %s=%q, want %q", k, got, v)
		}
	}
	if j := r.migrateJob(t); j.Template.Metadata.Annotations["prometheus.io/scrape"] == "true" {
		t.Errorf("Job authd-migrate: pods are marked for scraping, but serve no metrics")
	}

	np := decodeSpec[networkPolicySpec](t, r.one(t, "NetworkPolicy", "authd"))
	rules := 0
	for i, rule := range np.Ingress {
		got := portSet(rule.Ports)
		if !slices.Equal(got, []string{"TCP/" + strconv.Itoa(port)}) && !slices.Equal(got, []string{"TCP/metrics"}) {
			continue
		}
		rules++
		for j, from := range rule.From {
			var peer netPolicyPeer
			if err := from.Decode(&peer); err != nil {
				t.Fatalf("NetworkPolicy authd: ingress rule %d, from %d: %v", i, j, err)
			}
			if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels) == 0 ||
				peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0 {
				t.Errorf("NetworkPolicy authd: metrics rule %d, from %d: want Prometheus's pods (podSelector) in the monitoring namespace (namespaceSelector), both with labels", i, j)
			}
		}
	}
	if rules == 0 {
		t.Errorf("NetworkPolicy authd: no ingress rule on the metrics port %d: Prometheus could not scrape", port)
	}
}

// portSet renders NetworkPolicy ports as sorted "PROTO/port" strings.
func portSet(ports []netPolicyPort) []string {
	var s []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		port := p.Port
		if port == "" {
			port = "any"
		}
		if p.EndPort != nil {
			port += "-" + strconv.Itoa(*p.EndPort)
		}
		s = append(s, proto+"/"+port)
	}
	sort.Strings(s)
	return s
}

func checkSameImage(t *testing.T, r *rendered) {
	server := r.serverContainer(t).Image
	j := r.migrateJob(t)
	for _, c := range j.Template.Spec.Containers {
		if c.Image != server {
			t.Errorf("Job authd-migrate: image %q, want the Deployment's %q (the schema must match the server's build)", c.Image, server)
		}
	}
	if r.dir != "base" && server == "authd:latest" {
		t.Errorf("overlay %s: image is still the base's placeholder authd:latest; set it with kustomize edit set image", r.dir)
	}
}

// TestSecretExample checks that secret.example.yaml has the name and keys
// the workloads read and holds only placeholders.
func TestSecretExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("base", "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s object
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("secret.example.yaml: %v", err)
	}
	if s.Kind != "Secret" || s.Metadata.Name != secretName {
		t.Errorf("secret.example.yaml: %s %q, want Secret %s", s.Kind, s.Metadata.Name, secretName)
	}
	if len(s.Data) > 0 {
		t.Errorf("secret.example.yaml: has data; use stringData with placeholders only")
	}
	known := readmeVariables(t)
	for _, k := range requiredSecretKeys {
		if _, ok := s.StringData[k]; !ok {
			t.Errorf("secret.example.yaml: no %s", k)
		}
	}
	for k, v := range s.StringData {
		if _, ok := known[k]; !ok {
			t.Errorf("secret.example.yaml: %s is not a variable authd reads", k)
		}
		if !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("secret.example.yaml: %s holds %q; the example must only hold CHANGE-ME placeholders", k, v)
		}
	}
	kust, err := os.ReadFile(filepath.Join("base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(kust, &k); err != nil {
		t.Fatalf("base/kustomization.yaml: %v", err)
	}
	if slices.Contains(k.Resources, "secret.example.yaml") {
		t.Errorf("base/kustomization.yaml lists secret.example.yaml: it would be applied, placeholders and all")
	}
}

// TestPodMonitorExample checks that podmonitor.example.yaml (for the
// Prometheus Operator, so not rendered: its CRD may be missing) scrapes the
// server pods' metrics port and not the migrate Job's pod.
func TestPodMonitorExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("base", "podmonitor.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pm struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Selector  labelSelector `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &pm); err != nil {
		t.Fatalf("podmonitor.example.yaml: %v", err)
	}
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" {
		t.Errorf("podmonitor.example.yaml: %s %s, want monitoring.coreos.com/v1 PodMonitor", pm.APIVersion, pm.Kind)
	}
	r := render(t, "base")
	if !matches(pm.Spec.Selector.MatchLabels, r.deployment(t).Template.Metadata.Labels) {
		t.Errorf("podmonitor.example.yaml: selector %v does not select the server pods", pm.Spec.Selector.MatchLabels)
	}
	if matches(pm.Spec.Selector.MatchLabels, r.migrateJob(t).Template.Metadata.Labels) {
		t.Errorf("podmonitor.example.yaml: selector %v also selects the migrate Job's pod", pm.Spec.Selector.MatchLabels)
	}
	if len(pm.Spec.Endpoints) != 1 || pm.Spec.Endpoints[0].Port != "metrics" || pm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("podmonitor.example.yaml: endpoints %+v, want one, port metrics, path /metrics", pm.Spec.Endpoints)
	}
	kust, err := os.ReadFile(filepath.Join("base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(kust), "podmonitor.example.yaml") {
		t.Errorf("base/kustomization.yaml names podmonitor.example.yaml: without the Prometheus Operator's CRD the apply fails")
	}
}

// TestReadmeVariables guards the parser the other checks rely on: a changed
// table format must fail here, not make every variable look unknown.
func TestReadmeVariables(t *testing.T) {
	vars := readmeVariables(t)
	if len(vars) < 30 {
		t.Fatalf("found %d variables in README.md's configuration table, expected dozens; did its format change?", len(vars))
	}
	for _, name := range append([]string{"PORT", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT", "HASH_CONCURRENCY"}, requiredSecretKeys...) {
		if _, ok := vars[name]; !ok {
			t.Errorf("README.md's configuration table has no row for %s", name)
		}
	}
}

// readmeRow matches a configuration table row: | `NAME` | default | meaning |
var readmeRow = regexp.MustCompile("^\\|\\s*`([A-Z][A-Z0-9_]*)`\\s*\\|([^|]*)\\|")

var (
	readmeOnce sync.Once
	readmeVars map[string]string
	readmeErr  error
)

// readmeVariables returns the variables of ../README.md's configuration
// table, each with its default column ("—" and computed defaults in
// parentheses become "").
func readmeVariables(t *testing.T) map[string]string {
	t.Helper()
	readmeOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join("..", "README.md"))
		if err != nil {
			readmeErr = err
			return
		}
		readmeVars = map[string]string{}
		for line := range strings.SplitSeq(string(b), "\n") {
			m := readmeRow.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			def := strings.TrimSpace(m[2])
			if def == "—" || def == "-" || strings.HasPrefix(def, "(") {
				def = ""
			}
			readmeVars[m[1]] = strings.Trim(def, "`")
		}
	})
	if readmeErr != nil {
		t.Fatalf("reading the configuration table: %v", readmeErr)
	}
	return readmeVars
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]*rendered{}
)

// render runs `kustomize build dir` once per test binary and parses the
// multi-document output.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renderCache[dir]; ok {
		return r
	}
	bin := kustomizeBinary(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	r := &rendered{dir: dir}
	dec := yaml.NewDecoder(&stdout)
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kustomize build %s: parsing document %d: %v", dir, len(r.objects)+1, err)
		}
		if o.Kind == "" {
			continue // an empty document
		}
		r.objects = append(r.objects, o)
	}
	if len(r.objects) == 0 {
		t.Fatalf("kustomize build %s: rendered nothing", dir)
	}
	renderCache[dir] = r
	return r
}

// kustomizeBinary finds kustomize on PATH or in $(go env GOPATH)/bin. When
// it is missing the test skips, or fails under CI.
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kustomize"); err == nil {
		return p
	}
	gopath := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		gopath = strings.TrimSpace(string(out))
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "kustomize")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "kustomize not found on PATH or in $(go env GOPATH)/bin; install it with: go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
	testenv.Missing(t, msg)
	return ""
}

func parseQuantity(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3},
	}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("quantity %q: %v", s, err)
			}
			return f * u.mult, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("quantity %q: %v", s, err)
	}
	return f, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func orDefault(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
