package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/testenv"
)

// TestMailWalkthrough starts a real Mailpit and the real binary the way the
// README tells a user (make run's mail settings plus the README's mail-run
// line), runs the README's account-flow walkthroughs with curl and httpie,
// which read every token out of the delivered mail through Mailpit's API,
// and checks every status. Afterwards no token seen in a mail may appear in
// any table, not even while one is still live.
func TestMailWalkthrough(t *testing.T) {
	bin := buildBinary(t)
	mp := startMailpit(t)
	dbURL := dbtest.URL(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbURL)
	env = append(env, mp.makeRunEnv()...)
	env = append(env, readmeRunEnv(t)...)
	p := start(t, bin, env)

	for _, tool := range []string{"curl", "httpie"} {
		t.Run(tool, func(t *testing.T) {
			needWalkthroughTool(t, tool)
			script, want := walkthrough(t, "mail-"+tool)
			if !strings.Contains(script, "localhost:8025") {
				t.Fatal("the walkthrough does not read Mailpit at localhost:8025")
			}
			script = strings.ReplaceAll(script, "localhost:8025", strings.TrimPrefix(mp.api, "http://"))
			got := runWalkthrough(t, tool, script, p.base)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("statuses = %v, want %v", got, want)
			}
		})
	}
	if t.Failed() {
		return
	}

	// Every token the walkthroughs were mailed, and one more that stays
	// live, so that the check also sees a table holding a token's hash
	// (joan@example.com is the curl walkthrough's account that is kept).
	tokens := mp.linkTokens(t)
	for _, path := range []string{"verifyemail", "forgotPassword", "confirm-email"} {
		if len(tokens[path]) == 0 {
			t.Errorf("no %s link in any mail", path)
		}
	}
	live := mp.mailedToken(t, p.base, "forgot-password", "joan@example.com", "reset")
	all := []string{live}
	for path, ts := range tokens {
		t.Logf("%d %s tokens in the walkthroughs' mails", len(ts), path)
		all = append(all, ts...)
	}
	seen := map[string]bool{}
	for _, tok := range all {
		if seen[tok] {
			t.Errorf("token %s was mailed twice", tok)
		}
		seen[tok] = true
	}
	checkNoRawTokens(t, dbURL, all, live)
}

// readmeRunEnv returns the settings the README's mail-run block puts before
// `make run`.
func readmeRunEnv(t *testing.T) []string {
	t.Helper()
	script, _ := walkthrough(t, "mail-run")
	for _, line := range strings.Split(script, "\n") {
		before, ok := strings.CutSuffix(strings.TrimSpace(line), "make run")
		if !ok {
			continue
		}
		env := strings.Fields(before)
		for _, kv := range env {
			if !strings.Contains(kv, "=") {
				t.Fatalf("mail-run: %q is not NAME=value", kv)
			}
		}
		for _, need := range []string{"EMAIL_VERIFICATION=required", "ACCOUNT_SELF_DELETE=true"} {
			if !slices.Contains(env, need) {
				t.Fatalf("mail-run does not set %s: %q", need, line)
			}
		}
		return env
	}
	t.Fatal("the README's mail-run block has no `... make run` line")
	return nil
}

// mailpit is a running Mailpit with its SMTP and HTTP listeners on loopback.
type mailpit struct {
	smtpPort string
	api      string // http://127.0.0.1:PORT
}

// makeRunEnv is what scripts/dev.sh (make run) sets when it finds Mailpit.
func (m *mailpit) makeRunEnv() []string {
	return []string{
		"CLIENT_ORIGIN=http://localhost:3000", "LOG_FORMAT=text",
		"MAIL_TRANSPORT=smtp", "SMTP_HOST=127.0.0.1", "SMTP_PORT=" + m.smtpPort, "SMTP_TLS=none",
		"EMAIL_FROM=authd@localhost",
	}
}

// mailpitBinary finds Mailpit: on PATH, in .dev/bin (make mailpit) or in
// $(go env GOPATH)/bin (go install). Under CI its absence fails the test.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("mailpit"); err == nil {
		return path
	}
	candidates := []string{filepath.Join("..", "..", ".dev", "bin", "mailpit")}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(dir, "bin", "mailpit"))
		}
	}
	for _, path := range candidates {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	const install = "go install github.com/axllent/mailpit@v1.33.1 (or make mailpit)"
	testenv.Missing(t, "Mailpit is not installed ("+install+")")
	return ""
}

// startMailpit runs Mailpit with its own data in a temporary directory,
// both listeners on free loopback ports, no version check (no network), and
// waits until it answers on both.
func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	smtpPort, uiPort := testenv.FreePort(t), testenv.FreePort(t)
	for uiPort == smtpPort {
		uiPort = testenv.FreePort(t)
	}
	dir := t.TempDir()
	logs, err := os.Create(filepath.Join(dir, "mailpit.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--smtp", "127.0.0.1:"+smtpPort, "--listen", "127.0.0.1:"+uiPort,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("mailpit log:\n%s", b)
		}
	})
	m := &mailpit{smtpPort: smtpPort, api: "http://127.0.0.1:" + uiPort}
	deadline := time.Now().Add(30 * time.Second)
	for !m.ready() {
		select {
		case err := <-done:
			done <- err
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("mailpit exited before ready: %v\n%s", err, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit not ready after 30s")
		}
	}
	return m
}

// ready reports whether Mailpit answers /readyz and accepts SMTP connections.
func (m *mailpit) ready() bool {
	resp, err := http.Get(m.api + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+m.smtpPort, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// get decodes the JSON answer of Mailpit's API at path into v. It returns
// false for a 404 (no such message yet).
func (m *mailpit) get(t *testing.T, path string, v any) bool {
	t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false
	default:
		t.Fatalf("mailpit GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	return true
}

// message is the part of Mailpit's GET /api/v1/message/{ID} used here.
type message struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	Text    string
	HTML    string
}

// linkRE matches a link of the default EMAIL_VERIFY_PATH,
// PASSWORD_RESET_PATH and EMAIL_CHANGE_PATH, and its token.
var linkRE = regexp.MustCompile(`/(verifyemail|forgotPassword|confirm-email)/([A-Za-z0-9_-]+)`)

// linkTokens reads every mail Mailpit holds and returns the tokens of their
// links by link path. Each must have the shape of a minted token.
func (m *mailpit) linkTokens(t *testing.T) map[string][]string {
	t.Helper()
	var list struct {
		Total    int
		Messages []struct{ ID string }
	}
	m.get(t, "/api/v1/messages?limit=1000", &list)
	if len(list.Messages) != list.Total {
		t.Fatalf("mailpit listed %d of %d messages", len(list.Messages), list.Total)
	}
	tokens := map[string][]string{}
	for _, s := range list.Messages {
		var msg message
		m.get(t, "/api/v1/message/"+url.PathEscape(s.ID), &msg)
		for _, tok := range m.tokens(t, msg) {
			tokens[tok[0]] = append(tokens[tok[0]], tok[1])
		}
	}
	return tokens
}

// tokens returns the link paths and tokens of msg, once each; the text and
// the HTML part must carry the same links.
func (m *mailpit) tokens(t *testing.T, msg message) [][2]string {
	t.Helper()
	var inText, inHTML [][2]string
	for _, s := range linkRE.FindAllStringSubmatch(msg.Text, -1) {
		inText = append(inText, [2]string{s[1], s[2]})
	}
	for _, s := range linkRE.FindAllStringSubmatch(msg.HTML, -1) {
		if tok := [2]string{s[1], s[2]}; !slices.Contains(inHTML, tok) {
			inHTML = append(inHTML, tok)
		}
	}
	if !slices.Equal(inText, inHTML) {
		t.Errorf("mail %q: links in the text %v, in the HTML %v", msg.Subject, inText, inHTML)
	}
	for _, tok := range inText {
		if len(tok[1]) != onetime.Link.Len() { // linkRE takes base64url characters only
			t.Errorf("mail %q: token %q is not %d base64url characters", msg.Subject, tok[1], onetime.Link.Len())
		}
	}
	return inText
}

// mailedToken posts {"email": to} to authd's route and returns the token of
// the link in the mail that it causes, waiting for the mail.
func (m *mailpit) mailedToken(t *testing.T, base, route, to, subject string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/auth/"+route, "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q}`, to)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", route, resp.Status)
	}
	q := url.Values{"query": {fmt.Sprintf("is:unread to:%s subject:%s", to, subject)}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var msg message
		if m.get(t, "/api/v1/message/latest?"+q.Encode(), &msg) {
			toks := m.tokens(t, msg)
			if len(toks) != 1 {
				t.Fatalf("mail %q has %d links, want 1", msg.Subject, len(toks))
			}
			return toks[0][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s about %q after 30s", to, subject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoRawTokens reads every row of every table in the public schema as
// text and fails if one holds a token, as text or as its bytes in hex.
// live must still be stored, by its hash: the rows read are where tokens
// live.
func checkNoRawTokens(t *testing.T, dbURL string, tokens []string, live string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	forms := map[string]string{} // what to look for → the token it belongs to
	for _, tok := range tokens {
		forms[tok] = tok
		forms[hex.EncodeToString([]byte(tok))] = tok
	}
	var hashed bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM one_time_tokens WHERE token_hash = $1)`, onetime.Hash(live)).Scan(&hashed); err != nil {
		t.Fatal(err)
	}
	if !hashed {
		t.Error("the live token's hash is not in one_time_tokens")
	}

	rows, err := conn.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no tables in the public schema")
	}
	var nrows int
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM public.`+table+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		nrows += len(texts)
		for _, text := range texts {
			for form, tok := range forms {
				if strings.Contains(text, form) {
					t.Errorf("table %s holds the mailed token %s: %s", table, tok, text)
				}
			}
		}
	}
	t.Logf("%d tokens looked for in %d rows of %d tables", len(tokens), nrows, len(tables))
}
