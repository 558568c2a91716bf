package http

import (
	"net/http"
	"strconv"
	"testing"
)

// TestSecurityEventsEndpoint: a user reads their own events, newest
// first, with the device and address of the request, a page at a time;
// another user sees none of them; bad query values are 400 JSON.
func TestSecurityEventsEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	f.register(nil, "alice@example.com")
	a1 := f.login(nil, "alice@example.com").str("access_token")
	bob, _ := f.loginTokens("bob@example.com")
	bobEvents := func() int {
		t.Helper()
		r := f.do(nil, "GET", "/api/users/me/security-events", nil, "Authorization", "Bearer "+bob)
		if r.status != http.StatusOK {
			t.Fatalf("bob's events: %d %s", r.status, r.raw)
		}
		return len(r.body["data"].(map[string]any)["events"].([]any))
	}
	bobBefore := bobEvents()

	// Three sessions of alice's ended from the first one: three
	// session.revoked events, by a Firefox on Linux.
	for range 3 {
		other := f.login(nil, "alice@example.com").str("access_token")
		list := f.do(nil, "GET", "/api/users/me/sessions", nil, "Authorization", "Bearer "+other)
		var id string
		for _, s := range list.body["data"].(map[string]any)["sessions"].([]any) {
			if m := s.(map[string]any); m["current"] == true {
				id = m["id"].(string)
			}
		}
		if r := f.do(nil, "DELETE", "/api/users/me/sessions/"+id, nil, "Authorization", "Bearer "+a1, "User-Agent", firefox); r.status != http.StatusOK {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
	}

	var revoked []map[string]any
	before := ""
	for page := 0; page < 20; page++ {
		r := f.do(nil, "GET", "/api/users/me/security-events?limit=2"+before, nil, "Authorization", "Bearer "+a1)
		if r.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, r.status, r.raw)
		}
		data := r.body["data"].(map[string]any)
		for _, e := range data["events"].([]any) {
			if m := e.(map[string]any); m["event"] == "session.revoked" {
				revoked = append(revoked, m)
			}
		}
		next, ok := data["next_before"].(float64)
		if !ok {
			break
		}
		before = "&before=" + strconv.FormatInt(int64(next), 10)
	}
	if len(revoked) != 3 {
		t.Fatalf("%d session.revoked events of alice's, want 3: %v", len(revoked), revoked)
	}
	for i, e := range revoked {
		details, _ := e["details"].(map[string]any)
		if e["device"] != "Firefox on Linux" || e["client_addr"] == "" || e["actor"] != "client" || e["session_id"] == nil ||
			e["current"] != false || details["reason"] != "revoked_by_user" {
			t.Errorf("event %d: %v", i, e)
		}
		if i > 0 && e["id"].(float64) >= revoked[i-1]["id"].(float64) {
			t.Errorf("not newest first: %v after %v", e["id"], revoked[i-1]["id"])
		}
	}
	if n := bobEvents(); n != bobBefore {
		t.Errorf("bob sees %d events, had %d: alice's are not his", n, bobBefore)
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=-1", "before=0", "before=1e3", "before=99999999999999999999"} {
		r := f.do(nil, "GET", "/api/users/me/security-events?"+q, nil, "Authorization", "Bearer "+a1)
		if r.status != http.StatusBadRequest || r.body["status"] != "fail" || r.body["code"] != "invalid_request" {
			t.Errorf("?%s: %d %s", q, r.status, r.raw)
		}
	}
	if r := f.do(nil, "GET", "/api/users/me/security-events", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.status)
	}
}
