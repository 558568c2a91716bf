package main

import (
	"bytes"
	"crypto/sha256"
	"math"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

type fakeSample struct {
	ns     int64
	frames []string // leaf first; "inner|outer" is one location with inlined lines
}

// fakeProfile builds a CPU profile like the Go runtime writes one, and round
// trips it through the gzip-compressed wire format.
func fakeProfile(t *testing.T, durNanos int64, samples ...fakeSample) *profile.Profile {
	t.Helper()
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
		DurationNanos: durNanos,
	}
	funcs := map[string]*profile.Function{}
	for _, s := range samples {
		var locs []*profile.Location
		for _, frame := range s.frames {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Address: uint64(0x1000 + len(p.Location))}
			for _, name := range strings.Split(frame, "|") {
				fn := funcs[name]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name}
					funcs[name] = fn
					p.Function = append(p.Function, fn)
				}
				loc.Line = append(loc.Line, profile.Line{Function: fn, Line: 1})
			}
			p.Location = append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{s.ns / p.Period, s.ns}})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Frames shared by the cases below, leaf first.
var (
	connServe = []string{"net/http.serverHandler.ServeHTTP", "net/http.(*conn).serve", "runtime.goexit"}
	// frames above (and including) authd's logging middleware
	logged = append([]string{
		"github.com/authd/authd/internal/http.NewServer.NewServer.logRequests.func7.func8",
		"net/http.HandlerFunc.ServeHTTP",
		"github.com/authd/authd/internal/http.NewServer.NewServer.recoverer.func9.func10",
		"net/http.HandlerFunc.ServeHTTP",
	}, connServe...)
	wrapped = append([]string{ // a handler under authd's middleware chain
		"github.com/authd/authd/internal/http.addRoutes.handleRefresh.func16",
		"net/http.HandlerFunc.ServeHTTP",
		"net/http.(*ServeMux).ServeHTTP",
		"github.com/authd/authd/internal/http.NewServer.secureHeaders.func6",
		"net/http.HandlerFunc.ServeHTTP",
	}, logged...)
	writeSyscall = []string{
		"internal/runtime/syscall/linux.Syscall6",
		"syscall.RawSyscall6",
		"syscall.write|syscall.Write",
		"internal/poll.ignoringEINTRIO|internal/poll.(*FD).Write",
		"net.(*netFD).Write",
		"net.(*conn).Write",
	}
)

func join(parts ...[]string) []string {
	var s []string
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func TestAttribution(t *testing.T) {
	cases := []struct {
		name   string
		frames []string
		want   string
	}{
		{"syscall under pgx", join(writeSyscall, []string{
			"github.com/jackc/pgx/v5/pgconn.(*PgConn).flushWithPotentialWriteReadDeadlock",
			"github.com/jackc/pgx/v5.(*Conn).Query|github.com/jackc/pgx/v5.(*Conn).QueryRow",
			"github.com/authd/authd/internal/db.(*Queries).RotateSession",
		}, wrapped), catDB},
		{"syscall under net/http", join(writeSyscall, []string{
			"net/http.checkConnErrorWriter.Write",
			"bufio.(*Writer).Flush",
			"net/http.(*response).finishRequest",
		}, connServe), catHTTP},
		{"syscall with nothing above", writeSyscall, catHTTP},
		{"mallocgc under encoding/json", join([]string{
			"runtime.nextFreeFast|runtime.mallocgcSmallNoscan",
			"runtime.mallocgc",
			"encoding/json.(*decodeState).literalStore",
			"encoding/json.Unmarshal",
			"github.com/golang-jwt/jwt/v5.(*Parser).ParseUnverified",
			"github.com/authd/authd/internal/token.(*Signer).Verify",
		}, wrapped), catJSON},
		{"inlined json innermost wins over jwt", join([]string{
			"runtime.memmove",
			"encoding/json.checkValid|github.com/golang-jwt/jwt/v5.(*Parser).ParseUnverified",
		}, wrapped), catJSON},
		{"p256 under jwt sign", join([]string{
			"p256MulInternal",
			"crypto/internal/fips140/nistec.p256PointDoubleAsm",
			"crypto/internal/fips140/nistec.(*P256Point).p256BaseMult|crypto/internal/fips140/nistec.(*P256Point).ScalarBaseMult",
			"crypto/ecdsa.SignASN1",
			"github.com/golang-jwt/jwt/v5.(*SigningMethodECDSA).Sign",
			"github.com/authd/authd/internal/token.(*Signer).sign",
		}, wrapped), catSign},
		{"hmac of a refresh token", join([]string{
			"crypto/internal/fips140/sha256.blockAVX2",
			"crypto/hmac.(*hmac).Sum",
			"github.com/authd/authd/internal/token.(*macKey).sum",
		}, wrapped), catCrypto},
		{"blowfish", join([]string{
			"golang.org/x/crypto/blowfish.encryptBlock",
			"golang.org/x/crypto/blowfish.ExpandKey",
			"golang.org/x/crypto/bcrypt.expensiveBlowfishSetup",
			"golang.org/x/crypto/bcrypt.CompareHashAndPassword",
			"github.com/authd/authd/internal/password.Check",
		}, wrapped), catBcrypt},
		{"work in logRequests itself", join([]string{
			"runtime.mapaccess1",
		}, logged), catLog},
		{"request ID in logRequests", join([]string{
			"runtime.vgetrandom",
			"crypto/internal/sysrand.Read",
			"crypto/rand.Read",
		}, []string{"github.com/authd/authd/internal/http.newRequestID|" + logged[0]}, logged[1:]), catLog},
		{"handler below logRequests", join([]string{
			"runtime.mallocgc",
			"context.WithDeadlineCause",
		}, wrapped), catAuthd},
		{"slog under handler", join([]string{"log/slog.(*Logger).LogAttrs"}, wrapped), catLog},
		{"background GC", []string{
			"runtime.scanObject", "runtime.gcDrain", "runtime.gcDrainMarkWorkerDedicated",
			"runtime.gcBgMarkWorker.func2", "runtime.systemstack", "runtime.gcBgMarkWorker", "runtime.goexit",
		}, catGC},
		{"GC assist under a handler", join([]string{
			"runtime.scanObject", "runtime.gcDrainN", "runtime.gcAssistAlloc1", "runtime.systemstack",
			"runtime.gcAssistAlloc", "runtime.mallocgc", "encoding/json.Marshal",
		}, wrapped), catGC},
		{"scheduler", []string{
			"internal/runtime/syscall/linux.Syscall6", "internal/runtime/syscall/linux.EpollWait",
			"runtime.netpoll", "runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall",
		}, catSched},
		{"write barrier stub", []string{"gcWriteBarrier", "runtime.wbBufFlush"}, catSched},
		{"unknown code", []string{"runtime.memmove", "main.busy", "runtime.main"}, catOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := fakeProfile(t, 1e9, fakeSample{ns: 20e6, frames: c.frames})
			sp, err := analyze(p, "x", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(sp.Components) != 1 || sp.Components[0].Name != c.want || sp.Components[0].Nanos != 20e6 {
				t.Errorf("got %+v, want all 20ms in %q", sp.Components, c.want)
			}
		})
	}
}

// TestSignatures: the CPU under golang-jwt's Sign methods divided by one
// signature's is the signatures per request, and the table says so.
func TestSignatures(t *testing.T) {
	sign := []string{"crypto/internal/fips140/bigmod.addMulVVW2048", "crypto/rsa.SignPKCS1v15",
		"github.com/golang-jwt/jwt/v5.(*SigningMethodRSA).Sign", "github.com/authd/authd/internal/token.(*Signer).sign"}
	verify := []string{"crypto/rsa.VerifyPKCS1v15", "github.com/golang-jwt/jwt/v5.(*SigningMethodRSA).Verify"}
	p := fakeProfile(t, 1e9,
		fakeSample{ns: 725e6, frames: sign},
		fakeSample{ns: 31e6, frames: verify},
	)
	sp, err := analyze(p, "refresh", 1000)
	if err != nil {
		t.Fatal(err)
	}
	sp.countSignatures(725)
	if math.Abs(sp.Signatures-1) > 1e-9 {
		t.Errorf("signatures per request = %v, want 1", sp.Signatures)
	}
	var out bytes.Buffer
	writeMarkdown(&out, sp)
	for _, want := range []string{
		"| " + catSign + " | 95.9% | 725.0 |",
		"| " + catCrypto + " | 4.1% | 31.0 |",
		"Signatures per request: 725.0 µs of token signing per request ÷ 725.0 µs per signature (`BenchmarkSign`) = **1.00**.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPerRequestMath(t *testing.T) {
	crypto := []string{"crypto/sha256.Sum256", "github.com/authd/authd/internal/token.New"}
	db := []string{"github.com/jackc/pgx/v5.(*Conn).Exec"}
	p := fakeProfile(t, 2e9,
		fakeSample{ns: 1e9, frames: crypto},
		fakeSample{ns: 2e9, frames: crypto},
		fakeSample{ns: 1e9, frames: db},
	)
	sp, err := analyze(p, "math", 1000)
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("cpu seconds", sp.CPUSeconds, 4)
	near("duration", sp.Seconds, 2)
	near("cores", sp.Cores, 2)
	near("total µs/request", sp.USPerRequest, 4000) // 4 s / 1000 requests
	if len(sp.Components) != 2 || sp.Components[0].Name != catCrypto || sp.Components[1].Name != catDB {
		t.Fatalf("components = %+v", sp.Components)
	}
	near("crypto share", sp.Components[0].Share, 0.75)
	near("crypto µs/request", sp.Components[0].USPerRequest, 3000)
	near("db share", sp.Components[1].Share, 0.25)
	near("db µs/request", sp.Components[1].USPerRequest, 1000)

	var out bytes.Buffer
	writeMarkdown(&out, sp)
	for _, want := range []string{
		"#### math\n",
		"| component | CPU share | µs per request |",
		"| " + catCrypto + " | 75.0% | 3000.0 |",
		"| " + catDB + " | 25.0% | 1000.0 |",
		"| **total**: 4.00 s CPU in 2.00 s (2.00 cores) | 100.0% | 4000.0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	sp, _ = analyze(p, "shares", 0)
	out.Reset()
	writeMarkdown(&out, sp)
	if strings.Contains(out.String(), "µs") || !strings.Contains(out.String(), "| 75.0% |\n") {
		t.Errorf("without requests, want shares only:\n%s", out.String())
	}
}

func TestNotCPUProfile(t *testing.T) {
	p := fakeProfile(t, 1e9, fakeSample{ns: 1e7, frames: []string{"main.f"}})
	p.SampleType[1] = &profile.ValueType{Type: "alloc_space", Unit: "bytes"}
	if _, err := analyze(p, "heap", 0); err == nil {
		t.Error("want an error for a profile without cpu/nanoseconds")
	}
}

func TestRealProfile(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skip("CPU profiling unavailable:", err)
	}
	sum := sha256.Sum256(nil)
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	pprof.StopCPUProfile()
	if !bytes.HasPrefix(buf.Bytes(), []byte{0x1f, 0x8b}) {
		t.Fatal("profile is not gzip-compressed")
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := analyze(p, "real", 100)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Seconds < 0.2 {
		t.Errorf("duration %v s, want about 0.3", sp.Seconds)
	}
	var share float64
	for _, c := range sp.Components {
		share += c.Share
	}
	if sp.CPUSeconds > 0 && math.Abs(share-1) > 1e-9 {
		t.Errorf("shares sum to %v", share)
	}
	t.Logf("%d samples, %.2f s CPU: %+v", len(p.Sample), sp.CPUSeconds, sp.Components)
}
