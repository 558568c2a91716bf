package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Keys seal secrets for storage: AES-256-GCM with a random nonce, under
// the first key (the current one), with associated data that binds a
// sealed secret to its row (the factor id and the user id), so a sealed
// secret copied to another row does not open. The other keys only open
// what they sealed before a rotation. The key text is never logged.
type Keys struct {
	current string
	aead    map[string]cipher.AEAD
}

// KeySize is the size of an encryption key: 32 bytes, AES-256.
const KeySize = 32

var keyIDSyntax = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// ErrOpen: a sealed secret that no key opens (a wrong key id, a key
// removed, other associated data, or tampered bytes).
var ErrOpen = errors.New("sealed secret does not open")

// ParseKeys reads MFA_ENCRYPTION_KEYS: comma-separated ID:KEY, KEY being
// 32 bytes in standard base64, ID 1 to 32 characters of [A-Za-z0-9._-].
// The first key seals; every key opens. Errors never quote a key.
func ParseKeys(s string) (*Keys, error) {
	k := &Keys{aead: map[string]cipher.AEAD{}}
	for i, item := range strings.Split(s, ",") {
		id, text, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || !keyIDSyntax.MatchString(id) {
			return nil, fmt.Errorf("key %d: want ID:BASE64KEY with an ID of 1 to 32 characters of [A-Za-z0-9._-]", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("key %q: want %d bytes in standard base64", id, KeySize)
		}
		if _, dup := k.aead[id]; dup {
			return nil, fmt.Errorf("key %q: id given twice", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		k.aead[id] = aead
		if i == 0 {
			k.current = id
		}
	}
	return k, nil
}

// GenerateKey returns a new key entry for MFA_ENCRYPTION_KEYS, ID:KEY,
// its id made from the date (a rotation prepends a new entry).
func GenerateKey(now time.Time) string {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "k" + now.UTC().Format("20060102") + ":" + base64.StdEncoding.EncodeToString(b)
}

// Current is the id of the key that seals.
func (k *Keys) Current() string { return k.current }

// Seal encrypts plain under the current key with ad as associated data
// and returns nonce||ciphertext and the key's id.
func (k *Keys) Seal(plain, ad []byte) (sealed []byte, keyID string) {
	aead := k.aead[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, ad), k.current
}

// Open decrypts what Seal returned under the key keyID with the same
// associated data; anything else is ErrOpen.
func (k *Keys) Open(sealed []byte, keyID string, ad []byte) ([]byte, error) {
	aead, ok := k.aead[keyID]
	if !ok || len(sealed) < aead.NonceSize() {
		return nil, ErrOpen
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
