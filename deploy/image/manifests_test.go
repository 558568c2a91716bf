package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// What the runtime test reads of deploy/base: the fields of a Deployment's
// or a Job's pod template that decide how the kubelet runs the container.

type workload struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64          `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []containerSpec `yaml:"containers"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	FSGroup                  *int64 `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type containerSpec struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional bool   `yaml:"optional"`
			} `yaml:"secretKeyRef"`
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
				Divisor  string `yaml:"divisor"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Limits map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe    *probe          `yaml:"startupProbe"`
	LivenessProbe   *probe          `yaml:"livenessProbe"`
	ReadinessProbe  *probe          `yaml:"readinessProbe"`
	SecurityContext securityContext `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a number or a port's name
	} `yaml:"httpGet"`
}

// podContainer is what a kubelet would ask the runtime for: the first
// container of a manifest's pod template, resolved against the image.
type podContainer struct {
	name        string
	args        []string
	env         []string
	uid, gid    uint32
	groups      []uint32 // supplementary: fsGroup
	caps        []string // what is left after drop and add
	readOnly    bool
	noNewPrivs  bool
	cpuQuota    int64 // microseconds per 100ms period, 0 for none
	memoryLimit int64 // bytes, 0 for none
	ports       map[string]int
	probes      map[string]string // kind (startup, liveness, readiness) → URL path on port
	probePorts  map[string]int
	grace       int64 // terminationGracePeriodSeconds; Kubernetes' default is 30

	secretStdout bool // what it prints is secret: tests do not log it
}

// configMaps are the ConfigMaps of deploy/base, by name: kustomize
// generates authd-config from config.env.
var configMaps = map[string]string{"authd-config": "../base/config.env"}

// fromManifest reads a Deployment or Job from deploy/base and resolves its
// container as the kubelet and the container runtime would: command and
// args against the image's entrypoint and command, the user against the
// image's, the environment from the image, then envFrom, then env (secrets
// from secrets, a missing required key is an error as in
// CreateContainerConfigError), capabilities, and the limits.
func fromManifest(t *testing.T, file string, img imageConfig, secrets map[string]map[string]string) podContainer {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var w workload
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	pod := w.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", file, len(pod.Containers))
	}
	c := pod.Containers[0]
	pc := podContainer{name: c.Name, ports: map[string]int{}, probes: map[string]string{}, probePorts: map[string]int{}, grace: 30}
	if pod.TerminationGracePeriodSeconds != nil {
		pc.grace = *pod.TerminationGracePeriodSeconds
	}

	// Command and arguments: command replaces the entrypoint (and drops the
	// image's command); args replace the image's command.
	switch {
	case len(c.Command) > 0:
		pc.args = append(slices.Clone(c.Command), c.Args...)
	case len(c.Args) > 0:
		pc.args = append(slices.Clone(img.Config.Entrypoint), c.Args...)
	default:
		pc.args = append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...)
	}

	// The user: the container's securityContext, else the pod's, else the image's.
	imgUID, imgGID, _ := strings.Cut(img.Config.User, ":")
	uid, err := strconv.ParseUint(imgUID, 10, 32)
	if err != nil {
		t.Fatalf("image user %q is not numeric: runAsNonRoot cannot be verified by the kubelet", img.Config.User)
	}
	gid, _ := strconv.ParseUint(imgGID, 10, 32)
	pick := func(c, p *int64, d uint64) uint32 {
		switch {
		case c != nil:
			return uint32(*c)
		case p != nil:
			return uint32(*p)
		}
		return uint32(d)
	}
	pc.uid = pick(c.SecurityContext.RunAsUser, pod.SecurityContext.RunAsUser, uid)
	pc.gid = pick(c.SecurityContext.RunAsGroup, pod.SecurityContext.RunAsGroup, gid)
	nonRoot := c.SecurityContext.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.SecurityContext.RunAsNonRoot
	}
	if nonRoot != nil && *nonRoot && pc.uid == 0 {
		t.Fatalf("%s: runAsNonRoot, but the container would run as root", file)
	}
	if pod.SecurityContext.FSGroup != nil {
		pc.groups = []uint32{uint32(*pod.SecurityContext.FSGroup)}
	}
	sc := c.SecurityContext
	pc.readOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	pc.noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Fatalf("%s: capabilities are not dropped (drop: [ALL]); this test only knows that case", file)
	}
	for _, c := range sc.Capabilities.Add {
		pc.caps = append(pc.caps, "CAP_"+c)
	}

	// The environment: the image's, overridden by name.
	env := slices.Clone(img.Config.Env)
	set := func(name, value string) {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		env = append(env, name+"="+value)
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than configMapRef", file)
		}
		path, ok := configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("%s: envFrom ConfigMap %q, which deploy/base does not generate", file, from.ConfigMapRef.Name)
		}
		for _, kv := range envFile(t, path) {
			name, value, _ := strings.Cut(kv, "=")
			set(name, value)
		}
	}
	defined := map[string]string{} // the env entries so far, for $(NAME) as the kubelet expands it
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			v := e.Value
			for name, value := range defined {
				v = strings.ReplaceAll(v, "$("+name+")", value)
			}
			set(e.Name, v)
			defined[e.Name] = v
			continue
		}
		if rf := e.ValueFrom.ResourceFieldRef; rf != nil {
			limit, ok := strings.CutPrefix(rf.Resource, "limits.")
			if !ok || c.Resources.Limits[limit] == "" {
				t.Fatalf("%s: env %s: resourceFieldRef %q, not a limit the container sets", file, e.Name, rf.Resource)
			}
			bytes := map[string]int64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
			n, err := quantity(c.Resources.Limits[limit], bytes)
			d, derr := quantity(cmp.Or(rf.Divisor, "1"), bytes)
			if err != nil || derr != nil || d == 0 {
				t.Fatalf("%s: env %s: %v %v", file, e.Name, err, derr)
			}
			v := strconv.FormatInt((n+d-1)/d, 10) // the kubelet rounds up
			set(e.Name, v)
			defined[e.Name] = v
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Fatalf("%s: env %s: valueFrom other than secretKeyRef or resourceFieldRef", file, e.Name)
		}
		v, ok := secrets[ref.Name][ref.Key]
		switch {
		case ok:
			set(e.Name, v)
		case !ref.Optional:
			t.Fatalf("%s: env %s: secret %s has no key %s", file, e.Name, ref.Name, ref.Key)
		}
	}
	pc.env = env

	for _, p := range c.Ports {
		pc.ports[p.Name] = p.ContainerPort
	}
	for kind, p := range map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil {
			t.Fatalf("%s: %s probe is not httpGet", file, kind)
		}
		port, err := strconv.Atoi(p.HTTPGet.Port)
		if err != nil {
			var ok bool
			if port, ok = pc.ports[p.HTTPGet.Port]; !ok {
				t.Fatalf("%s: %s probe on port %q, which the container does not declare", file, kind, p.HTTPGet.Port)
			}
		}
		pc.probes[kind], pc.probePorts[kind] = p.HTTPGet.Path, port
	}

	if cpu, ok := c.Resources.Limits["cpu"]; ok {
		milli, err := quantity(cpu, map[string]int64{"": 1000, "m": 1})
		if err != nil {
			t.Fatalf("%s: cpu limit: %v", file, err)
		}
		pc.cpuQuota = milli * 100 // of a 100000µs period
	}
	if mem, ok := c.Resources.Limits["memory"]; ok {
		if pc.memoryLimit, err = quantity(mem, map[string]int64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}); err != nil {
			t.Fatalf("%s: memory limit: %v", file, err)
		}
	}
	return pc
}

// quantity parses a Kubernetes quantity with one of the given suffixes.
func quantity(s string, units map[string]int64) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := units[s[i:]]
	if err != nil || !ok {
		return 0, fmt.Errorf("%q: not a quantity this test understands", s)
	}
	return n * unit, nil
}

// envFile reads a kustomize env file: NAME=value lines, # comment lines,
// values taken literally.
func envFile(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			t.Fatalf("%s: %q is not NAME=value", name, line)
		}
		env = append(env, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}
