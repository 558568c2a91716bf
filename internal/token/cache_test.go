package token

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyCache: a verified access token is remembered, so a second
// Verify does not check its signature again; anything else is verified in
// full.
func TestVerifyCache(t *testing.T) {
	f := newFixture(t, "ES256")
	tok, err := f.s.Access(testSub, testSid)
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.s.Verify(Access, tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.s.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after one verification, want 1", n)
	}
	// From now on no key is trusted: only a cached token can pass.
	f.s.accessKey = func(*jwt.Token) (any, error) { return nil, errors.New("no key") }
	again, err := f.s.Verify(Access, tok)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("second Verify of the same token: %+v, %v; want the cached %+v", again, err, first)
	}
	// A token differing in one byte of its signature is not the same token.
	last := tok[len(tok)-1]
	tampered := tok[:len(tok)-1] + string("AB"[boolInt(last == 'A')])
	if _, err := f.s.Verify(Access, tampered); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered token: %v, want ErrInvalid", err)
	}
	// A fresh token is verified, and fails with the untrusting keyfunc.
	f.now = f.now.Add(time.Second)
	other, err := f.s.Access(testSub, testSid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Verify(Access, other); !errors.Is(err, ErrInvalid) {
		t.Errorf("uncached token with no trusted key: %v, want ErrInvalid", err)
	}
	// Past exp+leeway the cached token is refused like any other.
	f.now = testTime.Add(testTTL + testLeeway)
	if _, err := f.s.Verify(Access, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("cached token after expiry: %v, want ErrInvalid", err)
	}
}

// TestRefreshNotCached: refresh tokens are used once; they are never kept.
func TestRefreshNotCached(t *testing.T) {
	f := newFixture(t, "ES256")
	tok, err := f.s.Refresh(testSub, testSid, 1, "gen-id", testTime.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Verify(Refresh, tok); err != nil {
		t.Fatal(err)
	}
	if n := f.s.cache.len(); n != 0 {
		t.Errorf("cache holds %d tokens after a refresh token, want 0", n)
	}
	// Nor does a refresh token verify as an access token via the cache.
	if _, err := f.s.Verify(Access, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("refresh token as access: %v, want ErrInvalid", err)
	}
}

// TestVerifiedBounded: the cache never holds more than its size, and an
// entry in use survives while others age out.
func TestVerifiedBounded(t *testing.T) {
	v := newVerified(4)
	c := Claims{ExpiresAt: testTime.Add(time.Hour)}
	v.put(keyOf("hot"), c, testTime)
	for i := range 20 {
		v.put(keyOf(fmt.Sprint("cold", i)), c, testTime)
		if _, ok := v.get(keyOf("hot"), testTime, 0); !ok {
			t.Fatalf("the token in use was dropped after %d others", i+1)
		}
		if n := v.len(); n > 4 {
			t.Fatalf("cache holds %d, size 4", n)
		}
	}
	if _, ok := v.get(keyOf("cold0"), testTime, 0); ok {
		t.Error("the oldest unused token is still there")
	}
	if _, ok := v.get(keyOf("hot"), testTime.Add(-time.Second), 0); ok {
		t.Error("a hit before nbf/iat")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
