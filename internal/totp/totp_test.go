package totp

import (
	"bytes"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/authd/authd/internal/testenv"
)

// TestRFC6238Vectors: the SHA-1 rows of RFC 6238 appendix B (8 digits),
// and their last 6 digits as the 6-digit code authd uses.
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tt := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := Step(time.Unix(tt.unix, 0))
		if got := code(secret, step, otp.DigitsEight); got != tt.want {
			t.Errorf("T=%d: code = %s, want %s", tt.unix, got, tt.want)
		}
		if got, want := Code(secret, step), tt.want[2:]; got != want {
			t.Errorf("T=%d: 6-digit code = %s, want %s", tt.unix, got, want)
		}
	}
}

// TestWindowEdges: a code is accepted from one step before its own to one
// step after, and not beyond, with the step it matched.
func TestWindowEdges(t *testing.T) {
	secret := NewSecret()
	t0 := time.Unix(1_800_000_000, 0) // the start of a step: 1.8e9 / 30 is whole
	c := Code(secret, Step(t0))
	for _, tt := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-31 * time.Second, false},
		{-30 * time.Second, true},
		{0, true},
		{29 * time.Second, true},
		{30 * time.Second, true},
		{31 * time.Second, true}, // still the next step: the edge is a step, not 30 s from the code
		{59 * time.Second, true},
		{60 * time.Second, false},
	} {
		step, ok := Match(secret, c, t0.Add(tt.offset))
		if ok != tt.ok {
			t.Errorf("offset %s: ok = %v, want %v", tt.offset, ok, tt.ok)
		}
		if ok && step != Step(t0) {
			t.Errorf("offset %s: step = %d, want %d", tt.offset, step, Step(t0))
		}
	}
	// Seen from the code's side: a code made 31 s before now is two steps
	// old at a step boundary plus one second, and one made 31 s after now
	// is in the step after next.
	now := t0.Add(15 * time.Second)
	for _, tt := range []struct {
		at time.Duration
		ok bool
	}{
		{-31 * time.Second, true}, // the previous step (t0-16s)
		{-46 * time.Second, false},
		{+30 * time.Second, true},
		{+45 * time.Second, false},
	} {
		_, ok := Match(secret, Code(secret, Step(now.Add(tt.at))), now)
		if ok != tt.ok {
			t.Errorf("code from %s: ok = %v, want %v", tt.at, ok, tt.ok)
		}
	}
}

func TestMatchRefusesMalformed(t *testing.T) {
	secret := NewSecret()
	now := time.Now()
	good := Code(secret, Step(now))
	for _, c := range []string{"", good[:5], good + "0", " " + good[1:], "12345a", "١٢٣٤٥٦"} {
		if _, ok := Match(secret, c, now); ok {
			t.Errorf("Match(%q) = ok", c)
		}
	}
	if _, ok := Match(secret, good, now); !ok {
		t.Error("the current code does not match")
	}
}

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := URI("Acme Inc", "ada@example.com", secret)
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scheme != "otpauth" || p.Host != "totp" || p.Path != "/Acme Inc:ada@example.com" {
		t.Errorf("uri = %s", u)
	}
	q := p.Query()
	for k, want := range map[string]string{"secret": Base32(secret), "issuer": "Acme Inc", "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(Base32(secret), "=") {
		t.Error("base32 has padding")
	}
}

// TestOathtool: the codes oathtool (an independent implementation)
// computes for a secret of ours are the ones Match accepts.
func TestOathtool(t *testing.T) {
	path, err := exec.LookPath("oathtool")
	testenv.Need(t, err == nil, "oathtool not installed (apt-get install oathtool)")
	secret := NewSecret()
	now := time.Now()
	out, err := exec.Command(path, "--totp", "-b", "--now", now.UTC().Format("2006-01-02 15:04:05 UTC"), Base32(secret)).Output()
	if err != nil {
		t.Fatal(err)
	}
	c := string(bytes.TrimSpace(out))
	step, ok := Match(secret, c, now)
	if !ok || step != Step(now) {
		t.Fatalf("oathtool's code %s: step %d ok %v, want step %d", c, step, ok, Step(now))
	}
}

func TestKeys(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	old, cur := GenerateKey(now.AddDate(0, -1, 0)), GenerateKey(now)
	k, err := ParseKeys(cur + "," + old)
	if err != nil {
		t.Fatal(err)
	}
	if k.Current() != "k20261208" {
		t.Errorf("current = %q", k.Current())
	}
	ad := []byte("factor|user")
	sealed, id := k.Seal([]byte("secret"), ad)
	if id != k.Current() || bytes.Contains(sealed, []byte("secret")) {
		t.Fatalf("sealed under %q: %x", id, sealed)
	}
	if got, err := k.Open(sealed, id, ad); err != nil || string(got) != "secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(sealed, id, []byte("other|user")); err != ErrOpen {
		t.Errorf("other associated data: %v, want ErrOpen", err)
	}
	if _, err := k.Open(sealed, "k20261108", ad); err != ErrOpen {
		t.Errorf("other key: %v, want ErrOpen", err)
	}
	// Rotation: what the old key sealed still opens with it listed second.
	oldOnly, _ := ParseKeys(old)
	s2, id2 := oldOnly.Seal([]byte("x"), ad)
	if got, err := k.Open(s2, id2, ad); err != nil || string(got) != "x" {
		t.Errorf("old key: %q, %v", got, err)
	}
	for _, bad := range []string{"", "nokey", "a:" + "AAAA", "bad id:" + strings.SplitN(cur, ":", 2)[1], cur + "," + cur} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) = nil error", bad)
		} else if strings.Contains(err.Error(), strings.SplitN(cur, ":", 2)[1]) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}
