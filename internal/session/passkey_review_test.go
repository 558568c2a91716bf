package session_test

import (
	"testing"
)

// TestDeletedPasskeyEndsItsSessions: removing a passkey is how an owner
// answers a lost or cloned authenticator, so the sessions it started (a
// thief's passwordless login, at aal 2) must end with it, as disabling a
// factor ends the other sessions (MFA.md D, "Sessions"). Today they live
// on until their absolute lifetime.
func TestDeletedPasskeyEndsItsSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	p := f.withPasskey("ada@example.com")
	stolen, added := f.addPasskey(p.toks, "Phone")
	thief, _, err := f.passwordless(stolen)
	if err != nil {
		t.Fatalf("passwordless login with the second passkey: %v", err)
	}
	if err := f.svc.DeletePasskey(ctx, f.auth(p.toks.Access), added.Passkey.ID); err != nil {
		t.Fatalf("deleting the stolen passkey: %v", err)
	}
	if f.alive(thief.Access) {
		t.Error("the session the deleted passkey started is still alive (aal 2)")
	}
	if !f.alive(p.toks.Access) {
		t.Error("the owner's own session ended")
	}
}
