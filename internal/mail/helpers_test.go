package mail_test

import (
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/mail/smtptest"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/session/sessiontest"
	"github.com/authd/authd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is a database, an SMTP server and a sender between them; the
// database, clock and log are kit's.
type fixture struct {
	t      *testing.T
	kit    *sessiontest.Fixture
	pool   *pgxpool.Pool
	q      *db.Queries
	srv    *smtptest.Server
	clock  *testenv.Clock
	logs   *testenv.Buffer
	m      *metrics.Metrics
	sender *mail.Sender
	opts   mail.SenderOptions
	smtp   mail.SMTPOptions
}

// newFixture starts a STARTTLS server with AUTH and a sender that trusts
// its certificate. change may adjust the options before the sender is
// made.
func newFixture(t *testing.T, change func(*mail.SenderOptions, *mail.SMTPOptions)) *fixture {
	t.Helper()
	k := sessiontest.New(t, func(o *sessiontest.Options) { o.DBTimeout = 5 * time.Second })
	f := &fixture{t: t, kit: k, pool: k.Pool, q: k.Queries, clock: k.Clock, logs: k.Logs, m: metrics.New()}
	f.srv = smtptest.New(t, smtptest.Options{STARTTLS: true, Username: "authd", Password: "smtp-secret"})
	f.smtp = mail.SMTPOptions{Host: f.srv.Host(), Port: f.srv.Port(), Username: "authd", Password: "smtp-secret",
		TLS: mail.TLSStartTLS, Timeout: 5 * time.Second, RootCAs: f.srv.RootCAs()}
	f.opts = sessiontest.SenderOptions(f.clock.Now)
	f.opts.Log = k.Log
	f.opts.Metrics = f.m
	f.opts.DBTimeout, f.opts.SendTimeout = 5*time.Second, 5*time.Second
	if change != nil {
		change(&f.opts, &f.smtp)
	}
	f.sender = f.newSender()
	return f
}

func (f *fixture) newSender() *mail.Sender {
	f.t.Helper()
	tr, err := mail.NewSMTP(f.smtp)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := mail.NewSender(f.pool, tr, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// user creates an account.
func (f *fixture) user(name, email string) db.User {
	f.t.Helper()
	u, err := f.q.CreateUser(f.t.Context(), db.CreateUserParams{Name: name, Email: email, PasswordHash: "x", Now: f.clock.Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// enqueue queues a mail as a flow would: in a transaction, with the notification.
func (f *fixture) enqueue(kind, to string, userID uuid.UUID, d mail.Data) int64 {
	f.t.Helper()
	var id int64
	err := db.InTx(f.t.Context(), f.pool, 5*time.Second, func(q *db.Queries) error {
		var err error
		id, err = mail.Enqueue(f.t.Context(), q, mail.Mail{Kind: kind, To: to, UserID: uuid.NullUUID{UUID: userID, Valid: userID != uuid.Nil}, Data: d}, f.clock.Now())
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// once runs one pass and checks how many mails it handled.
func (f *fixture) once(want int) {
	f.t.Helper()
	n, err := f.sender.Once(f.t.Context())
	if err != nil {
		f.t.Fatalf("Once: %v", err)
	}
	if n != want {
		f.t.Fatalf("Once handled %d mails, want %d", n, want)
	}
}

// row reads one outbox row.
func (f *fixture) row(id int64) db.MailOutbox {
	f.t.Helper()
	for _, r := range f.kit.Mails(f.t, "", "") {
		if r.ID == id {
			return r
		}
	}
	f.t.Fatalf("no outbox row %d", id)
	return db.MailOutbox{}
}

// tokens counts the one-time tokens of a user.
func (f *fixture) tokens(userID uuid.UUID) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.t.Context(), "SELECT count(*) FROM one_time_tokens WHERE user_id = $1", userID).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// dump is every row of every table of the database as text, like pg_dump's data.
func (f *fixture) dump() string {
	f.t.Helper()
	ctx := f.t.Context()
	rows, err := f.pool.Query(ctx, "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
	if err != nil {
		f.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			f.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		f.t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	var b strings.Builder
	for _, tbl := range tables {
		var s *string
		if err := f.pool.QueryRow(ctx, "SELECT string_agg(t::text, E'\\n') FROM "+tbl+" t").Scan(&s); err != nil {
			f.t.Fatal(err)
		}
		if s != nil {
			b.WriteString(*s + "\n")
		}
	}
	return b.String()
}

// wellFormed is the shape of a raw link token.
var wellFormed = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

var tokenInLink = regexp.MustCompile(`https://app\.example\.com/[A-Za-z-]+/([A-Za-z0-9_-]{43})`)

// token finds the one token link of a message and checks the HTML has it too.
func token(t *testing.T, m smtptest.Message) (link, raw string) {
	t.Helper()
	all := tokenInLink.FindAllStringSubmatch(m.Text, -1)
	if len(all) != 1 {
		t.Fatalf("text part has %d token links, want 1:\n%s", len(all), m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+all[0][0]+`"`) {
		t.Errorf("HTML part does not link %s:\n%s", all[0][0], m.HTML)
	}
	return all[0][0], all[0][1]
}

// waitMessages polls until the server holds n messages.
func waitMessages(t *testing.T, srv *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := srv.Messages()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("server has %d messages, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func writeFile(dir, name, body string) error {
	return os.WriteFile(dir+"/"+name, []byte(body), 0o644)
}
