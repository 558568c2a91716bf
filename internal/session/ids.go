package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// newGenerationID returns a fresh 128-bit random id, base64url without padding.
func newGenerationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// nextGenerationID derives the id of the next refresh generation from id.
// It is deterministic, so a request that lost a rotation race can recompute
// the successor.
func nextGenerationID(id string) string {
	sum := sha256.Sum256([]byte("authd refresh generation\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// hashID returns SHA-256 of id: what the database stores.
func hashID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}
