package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestNewDeviceMailE2E runs the real binary against a real Mailpit: two
// browsers (cookie jars) log in to one account. The first browser's
// logins mail nothing (the account's first device); the second browser's
// first login mails the owner once, naming the browser and linking the
// forgot-password page, with no cookie or token in it; its next login
// mails nothing. With NEW_DEVICE_MAIL=false no login mails.
func TestNewDeviceMailE2E(t *testing.T) {
	bin := buildBinary(t)
	mp := startMailpit(t)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("NEW_DEVICE_MAIL=%v", on), func(t *testing.T) {
			dbURL := dbtest.URL(t)
			env := append(keyEnv(t, bin), "DATABASE_URL="+dbURL, fmt.Sprintf("NEW_DEVICE_MAIL=%v", on))
			p := start(t, bin, append(env, mp.makeRunEnv()...))
			email := fmt.Sprintf("device-%v@example.com", on)
			browser := func() *http.Client {
				jar, _ := cookiejar.New(nil)
				return &http.Client{Jar: jar, Timeout: 30 * time.Second}
			}
			post := func(c *http.Client, path, body string) {
				t.Helper()
				req, _ := http.NewRequest("POST", p.base+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Fatalf("POST %s: %s", path, resp.Status)
				}
			}
			login := fmt.Sprintf(`{"email":%q,"password":"correct horse"}`, email)
			first, second := browser(), browser()
			post(first, "/api/auth/register", register("Ada Lovelace", email, "correct horse"))
			post(first, "/api/auth/login", login)
			post(first, "/api/auth/login", login)
			post(second, "/api/auth/login", login)
			post(second, "/api/auth/login", login)

			// Every mail queued is sent: what Mailpit holds is all there is.
			waitOutboxSent(t, dbURL)
			msgs := mp.messages(t, email, "New sign-in")
			want := 0
			if on {
				want = 1
			}
			if len(msgs) != want {
				t.Fatalf("%d new sign-in mails, want %d", len(msgs), want)
			}
			if !on {
				return
			}
			m := msgs[0]
			if !strings.Contains(m.Text, "Firefox on Linux") || !strings.Contains(m.Text, "http://localhost:3000/forgotPassword\r\n") {
				t.Errorf("mail lacks the browser or the forgot-password link:\n%s", m.Text)
			}
			u, _ := url.Parse(p.base + "/api/auth")
			for _, c := range append(first.Jar.Cookies(u), second.Jar.Cookies(u)...) {
				if len(c.Value) > 8 && (strings.Contains(m.Text, c.Value) || strings.Contains(m.HTML, c.Value)) {
					t.Errorf("the mail holds the %s cookie's value", c.Name)
				}
			}
			if len(first.Jar.Cookies(u)) == 0 || !hasCookie(first.Jar.Cookies(u), "device_id") {
				t.Error("the first browser holds no device_id cookie")
			}
		})
	}
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// waitOutboxSent waits until no mail in the outbox is waiting or sending.
func waitOutboxSent(t *testing.T, dbURL string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pending int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM mail_outbox WHERE status IN ('pending', 'sending')").Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails still unsent after 30s", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messages returns the mails Mailpit holds to address to whose subject
// holds subject.
func (m *mailpit) messages(t *testing.T, to, subject string) []message {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	q := url.Values{"query": {fmt.Sprintf("to:%s subject:%q", to, subject)}, "limit": {"100"}}
	m.get(t, "/api/v1/search?"+q.Encode(), &list)
	var out []message
	for _, s := range list.Messages {
		var msg message
		m.get(t, "/api/v1/message/"+url.PathEscape(s.ID), &msg)
		out = append(out, msg)
	}
	return out
}
