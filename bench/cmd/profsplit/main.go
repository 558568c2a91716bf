// Command profsplit reads Go CPU profiles (pprof protobuf, gzip-compressed, as
// served by /debug/pprof/profile) of the authd server taken during a load test
// and prints where the CPU time went, by component, as a Markdown table.
//
// Usage:
//
//	profsplit [-requests N]... [-label L]... [-sign-us US] [-json] profile.pb.gz [more profiles...]
//
// -label and -requests may be repeated: the i-th value goes with the i-th
// profile. A single -requests value applies to every profile. Without a label
// the file name is used; without -requests (or with 0) only shares are printed.
// -json prints one JSON object per profile and line instead of Markdown.
// -sign-us, one token signature's CPU in µs, adds the signatures per
// request: the CPU under golang-jwt's Sign methods divided by it.
//
// Each sample's CPU nanoseconds go to exactly one component: its stack is
// walked from the leaf towards the root (inlined frames innermost first) and
// the first frame matching a non-transparent rule in the rules table decides.
// Transparent rules (syscalls, net, internal/poll, crypto/rand) only remember
// a fallback, so a read syscall under pgx counts as database and under
// net/http as HTTP server. Runtime frames match nothing, so allocation counts
// for its caller; GC work (background marking, sweeping, and GC assists) is
// the exception and counts as GC wherever it runs. A stack with no match is
// "Go runtime: scheduler" if it holds only runtime frames, else "other".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

const (
	catBcrypt  = "password hashing (bcrypt)"
	catSign    = "token signing (private key)"
	catCrypto  = "token crypto (verify, MAC)"
	catDB      = "database (pgx)"
	catJSON    = "JSON"
	catLog     = "logging/metrics"
	catAuthd   = "authd handlers"
	catHTTP    = "HTTP server"
	catGC      = "Go runtime: GC"
	catSched   = "Go runtime: scheduler"
	catOther   = "other"
	authdHTTP  = "github.com/authd/authd/internal/http."
	authdToken = "github.com/authd/authd/internal/token."
)

// rule maps function names to a component. A pattern is a name prefix; a
// pattern "A*B" matches names starting with A whose rest contains B.
type rule struct {
	cat         string
	transparent bool
	patterns    []string
}

// rules are tried in order for each frame; more specific rules come first.
var rules = []rule{
	{catGC, false, []string{"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.gcAssistAlloc",
		"runtime.markroot", "runtime.scanobject", "runtime.scanObject", "runtime.bgsweep",
		"runtime.bgscavenge", "runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination",
		"runtime._GC"}},
	{catBcrypt, false, []string{"golang.org/x/crypto/bcrypt.", "golang.org/x/crypto/blowfish."}},
	// Random bytes serve both signing and request IDs: let the caller decide.
	{catCrypto, true, []string{"crypto/rand.", "crypto/internal/sysrand.", "crypto/internal/entropy",
		"crypto/internal/fips140/drbg."}},
	{catCrypto, false, []string{"crypto/", "github.com/golang-jwt/jwt", authdToken,
		"encoding/base64.", "math/big."}},
	{catDB, false, []string{"github.com/jackc/pgx", "github.com/jackc/puddle"}},
	{catJSON, false, []string{"encoding/json."}},
	{catLog, false, []string{"log/slog.", "github.com/VictoriaMetrics/metrics.",
		"github.com/authd/authd/internal/metrics.", "github.com/authd/authd/internal/reqlog.", authdHTTP + "*logRequests", authdHTTP + "newRequestID"}},
	{catAuthd, false, []string{"github.com/authd/authd/"}},
	{catHTTP, true, []string{"net.", "bufio.", "internal/poll.", "syscall.", "internal/syscall/"}},
	{catHTTP, false, []string{"net/http.", "net/textproto.", "mime", "net/url."}},
}

func (r rule) match(name string) bool {
	for _, p := range r.patterns {
		before, after, star := strings.Cut(p, "*")
		if strings.HasPrefix(name, before) && (!star || strings.Contains(name[len(before):], after)) {
			return true
		}
	}
	return false
}

// isRuntime reports whether a frame belongs to the Go runtime (including
// assembly stubs such as gcWriteBarrier, whose names carry no package).
func isRuntime(name string) bool {
	return strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/") ||
		(name != "" && !strings.Contains(name, "."))
}

// signer is the frame name prefix of golang-jwt's signing methods: token
// crypto under one is a signature with the private key.
const signer = "github.com/golang-jwt/jwt/v5.(*SigningMethod"

// isSign reports whether a frame is one of golang-jwt's Sign methods.
func isSign(name string) bool {
	return strings.HasPrefix(name, signer) && strings.HasSuffix(name, ").Sign")
}

// classify returns the component of a stack given as function names, leaf
// first; token crypto under a signing method is token signing.
func classify(stack []string) string {
	cat := classifyLeaf(stack)
	if cat == catCrypto && slices.ContainsFunc(stack, isSign) {
		return catSign
	}
	return cat
}

func classifyLeaf(stack []string) string {
	fallback := ""
	onlyRuntime := true
	for _, name := range stack {
		if !isRuntime(name) {
			onlyRuntime = false
		}
		for _, r := range rules {
			if !r.match(name) {
				continue
			}
			if !r.transparent {
				return r.cat
			}
			if fallback == "" {
				fallback = r.cat
			}
			break
		}
	}
	switch {
	case fallback != "":
		return fallback
	case onlyRuntime && len(stack) > 0:
		return catSched
	}
	return catOther
}

// stack returns the function names of a sample, leaf first, inlined frames
// (Line[0] is the innermost) expanded.
func stack(s *profile.Sample) []string {
	var names []string
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function != nil {
				names = append(names, ln.Function.Name)
			}
		}
	}
	return names
}

type component struct {
	Name         string  `json:"name"`
	Nanos        int64   `json:"cpu_ns"`
	Share        float64 `json:"share"`
	USPerRequest float64 `json:"us_per_request,omitempty"`
}

type split struct {
	Label        string      `json:"label"`
	CPUSeconds   float64     `json:"cpu_seconds"`
	Seconds      float64     `json:"duration_seconds"`
	Cores        float64     `json:"cores"`
	Requests     int64       `json:"requests,omitempty"`
	USPerRequest float64     `json:"us_per_request,omitempty"`
	Components   []component `json:"components"`
	// SignUS, with -sign-us, is one signature's CPU; Signatures is then
	// the token signing per request divided by it.
	SignUS     float64 `json:"sign_us,omitempty"`
	Signatures float64 `json:"signatures_per_request,omitempty"`
}

// countSignatures sets sp.Signatures from one signature's CPU in µs.
func (sp *split) countSignatures(signUS float64) {
	if signUS <= 0 || sp.Requests <= 0 {
		return
	}
	sp.SignUS = signUS
	for _, c := range sp.Components {
		if c.Name == catSign {
			sp.Signatures = c.USPerRequest / signUS
		}
	}
}

// analyze splits the CPU time of p by component; requests may be 0.
func analyze(p *profile.Profile, label string, requests int64) (*split, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("no cpu/nanoseconds sample type (not a CPU profile?)")
	}
	byCat := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[idx]
		byCat[classify(stack(s))] += v
		total += v
	}
	sp := &split{Label: label, CPUSeconds: float64(total) / 1e9,
		Seconds: float64(p.DurationNanos) / 1e9, Requests: requests}
	if sp.Seconds > 0 {
		sp.Cores = sp.CPUSeconds / sp.Seconds
	}
	perReq := func(ns int64) float64 {
		if requests <= 0 {
			return 0
		}
		return float64(ns) / 1e3 / float64(requests)
	}
	sp.USPerRequest = perReq(total)
	for name, ns := range byCat {
		c := component{Name: name, Nanos: ns, USPerRequest: perReq(ns)}
		if total > 0 {
			c.Share = float64(ns) / float64(total)
		}
		sp.Components = append(sp.Components, c)
	}
	sort.Slice(sp.Components, func(i, j int) bool {
		a, b := sp.Components[i], sp.Components[j]
		return a.Nanos > b.Nanos || a.Nanos == b.Nanos && a.Name < b.Name
	})
	return sp, nil
}

func writeMarkdown(w io.Writer, sp *split) {
	fmt.Fprintf(w, "#### %s\n\n", sp.Label)
	if sp.Requests > 0 {
		fmt.Fprintln(w, "| component | CPU share | µs per request |\n|---|--:|--:|")
	} else {
		fmt.Fprintln(w, "| component | CPU share |\n|---|--:|")
	}
	row := func(name string, share, us float64) {
		fmt.Fprintf(w, "| %s | %.1f%% |", name, share*100)
		if sp.Requests > 0 {
			fmt.Fprintf(w, " %.1f |", us)
		}
		fmt.Fprintln(w)
	}
	for _, c := range sp.Components {
		row(c.Name, c.Share, c.USPerRequest)
	}
	row(fmt.Sprintf("**total**: %.2f s CPU in %.2f s (%.2f cores)", sp.CPUSeconds, sp.Seconds, sp.Cores),
		1, sp.USPerRequest)
	fmt.Fprintln(w)
	if sp.SignUS > 0 {
		fmt.Fprintf(w, "Signatures per request: %.1f µs of token signing per request ÷ %.1f µs per signature (`BenchmarkSign`) = **%.2f**.\n\n",
			sp.Signatures*sp.SignUS, sp.SignUS, sp.Signatures)
	}
}

func main() {
	var labels []string
	var requests []int64
	flag.Func("label", "label of the next profile (repeatable)", func(s string) error {
		labels = append(labels, s)
		return nil
	})
	flag.Func("requests", "requests answered during the next profile (repeatable; one value applies to all)",
		func(s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			if err == nil && n < 0 {
				err = fmt.Errorf("negative")
			}
			requests = append(requests, n)
			return err
		})
	asJSON := flag.Bool("json", false, "print one JSON object per profile")
	signUS := flag.Float64("sign-us", 0, "CPU of one token signature in µs (BenchmarkSign); with -requests, also print the signatures per request")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 || len(labels) > len(files) || len(requests) > 1 && len(requests) != len(files) {
		fmt.Fprintln(os.Stderr, "usage: profsplit [-requests N]... [-label L]... [-json] profile.pb.gz...")
		os.Exit(2)
	}
	for i, file := range files {
		label := filepath.Base(file)
		if i < len(labels) {
			label = labels[i]
		}
		var n int64
		if len(requests) == 1 {
			n = requests[0]
		} else if len(requests) > 1 {
			n = requests[i]
		}
		if err := run(file, label, n, *signUS, *asJSON); err != nil {
			fmt.Fprintf(os.Stderr, "profsplit: %s: %v\n", file, err)
			os.Exit(1)
		}
	}
}

func run(file, label string, requests int64, signUS float64, asJSON bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return err
	}
	sp, err := analyze(p, label, requests)
	if err != nil {
		return err
	}
	sp.countSignatures(signUS)
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(sp)
	}
	writeMarkdown(os.Stdout, sp)
	return nil
}
