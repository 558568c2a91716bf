// Package passkeytest is a software WebAuthn authenticator for tests: an
// ECDSA P-256 key that answers the options authd's passkey ceremonies
// give with the JSON a browser's PublicKeyCredential would have, written
// here from the WebAuthn Level 3 specification (attestation "none"), not
// with the server's library. Its fields make the refusals the tests need:
// no user verification, another origin, a counter that goes back, another
// authenticator's signature.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator holds one discoverable credential.
type Authenticator struct {
	Origin string // the origin the "browser" reports in clientDataJSON
	// UV sets the user-verified flag; BackupEligible and BackupState the
	// BE and BS flags.
	UV, BackupEligible, BackupState bool
	Counter                         uint32 // the last counter signed; each assertion adds one
	CredentialID                    []byte
	UserHandle                      []byte // set at Create
	Key                             *ecdsa.PrivateKey
}

// New returns an authenticator with a fresh key and credential id that
// verifies its user, for origin.
func New(origin string) *Authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Authenticator{Origin: origin, UV: true, CredentialID: id, Key: key}
}

var b64 = base64.RawURLEncoding

// options is what the ceremonies' options hold that an authenticator
// reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if a.UV {
		f |= 0x04
	}
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackupState {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

// cose is the credential public key as a COSE_Key (EC2, ES256, P-256).
func (a *Authenticator) cose() []byte {
	pub := a.Key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	b, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		panic(err)
	}
	return b
}

// Create answers registration options (JSON of {"publicKey": ...}) with
// the JSON of a PublicKeyCredential: attestation "none".
func (a *Authenticator) Create(opts []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("registration options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user id: %w", err)
	}
	a.UserHandle = handle
	rpHash := sha256.Sum256([]byte(o.PublicKey.RP.ID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(true))
	auth = binary.BigEndian.AppendUint32(auth, a.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(a.CredentialID)))
	auth = append(auth, a.CredentialID...)
	auth = append(auth, a.cose()...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	id := b64.EncodeToString(a.CredentialID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Get answers assertion options with the JSON of a PublicKeyCredential,
// the counter one up, signed with Key.
func (a *Authenticator) Get(opts []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, fmt.Errorf("assertion options: %w", err)
	}
	a.Counter++
	return a.Sign(o.PublicKey.RPID, o.PublicKey.Challenge, a.Counter)
}

// Sign makes an assertion for rpID and challenge with counter, as Get
// does, without touching Counter.
func (a *Authenticator) Sign(rpID, challenge string, counter uint32) ([]byte, error) {
	rpHash := sha256.Sum256([]byte(rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(false))
	auth = binary.BigEndian.AppendUint32(auth, counter)
	cd := a.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		return nil, err
	}
	id := b64.EncodeToString(a.CredentialID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Challenge is the challenge of options (registration or assertion).
func Challenge(opts []byte) string {
	var o options
	json.Unmarshal(opts, &o)
	return o.PublicKey.Challenge
}
