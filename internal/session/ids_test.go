package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestNewGenerationID(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		id, err := newGenerationID()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("id %q: %d bytes, %v; want 16 bytes of base64url", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestNextGenerationID(t *testing.T) {
	tests := []struct {
		id   string
		want string
	}{
		// base64url(SHA-256("authd refresh generation\x00" + id)[:16])
		{"", "MtQ-xvFN8fbxxi8k6cctDw"},
		{"AAAAAAAAAAAAAAAAAAAAAA", "qlcAIVjMutsl_SLknWnV1w"},
	}
	for _, tt := range tests {
		got := nextGenerationID(tt.id)
		if got != tt.want {
			t.Errorf("nextGenerationID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}

	id, err := newGenerationID()
	if err != nil {
		t.Fatal(err)
	}
	next := nextGenerationID(id)
	if again := nextGenerationID(id); again != next {
		t.Errorf("nextGenerationID not deterministic: %q then %q", next, again)
	}
	if next == id {
		t.Errorf("nextGenerationID(%q) returned its input", id)
	}
	if nextGenerationID(next) == next {
		t.Errorf("nextGenerationID is a fixed point at %q", next)
	}
	if b, err := base64.RawURLEncoding.DecodeString(next); err != nil || len(b) != 16 {
		t.Errorf("nextGenerationID = %q: %d bytes, %v; want 16 bytes of base64url", next, len(b), err)
	}
}

func TestHashID(t *testing.T) {
	got := hashID("abc")
	want, _ := hex.DecodeString("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
	if !bytes.Equal(got, want) {
		t.Errorf("hashID(abc) = %x, want %x", got, want)
	}
	if sum := sha256.Sum256([]byte("x")); !bytes.Equal(hashID("x"), sum[:]) {
		t.Errorf("hashID(x) is not SHA-256")
	}
}
