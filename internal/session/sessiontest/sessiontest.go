// Package sessiontest builds a session.Service over a throwaway database for
// tests, with its parts at hand: the pool (from dbtest), a settable clock,
// a signer over test keys, a fast hasher, a log buffer, and readers of the
// mails the service queues and of the links in them. Like net/http/httptest
// it is imported by tests only (of session, http and mail).
//
// A test package that uses it stops dbtest's shared server from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
package sessiontest

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/internal/totp"
)

// Password is the password of every user that User registers.
const Password = "correct horse"

// Options are what New builds a Fixture from; New's edits may change them.
type Options struct {
	Session   session.Options
	DBTimeout time.Duration

	Pool  *pgxpool.Pool  // nil: a fresh database from dbtest.New
	DB    db.Pool        // what the service sends its statements to; nil: Pool
	Clock *testenv.Clock // nil: testenv.NewClock()

	// Signer nil: NewSigner with AccessTTL, Session.RefreshTTL, Leeway
	// and the Clock.
	Signer            *token.Signer
	AccessTTL, Leeway time.Duration

	Hasher  *password.Hasher // nil: NewHasher(t, HasherOptions())
	Log     *slog.Logger     // nil: NewLogger into the Fixture's Logs
	Metrics *metrics.Metrics // nil: none
	MFAKeys *totp.Keys       // nil: MFAKeys(t), the same for the whole test binary
}

// The WebAuthn relying party of the fixtures: its RP ID and the one
// origin allowed.
const (
	PasskeyRPID   = "localhost"
	PasskeyOrigin = "http://localhost:3000"
)

// Defaults are the options New starts from.
func Defaults() Options {
	return Options{
		Session: session.Options{
			RefreshTTL:      time.Hour,
			SessionLifetime: 7 * 24 * time.Hour,
			ReuseGrace:      10 * time.Second,
			Passkeys:        session.PasskeyOptions{RPID: PasskeyRPID, RPName: "authd", Origins: []string{PasskeyOrigin}},
		},
		DBTimeout: 3 * time.Second,
		AccessTTL: 15 * time.Minute,
		// The default of TOKEN_LEEWAY: a token just past its expiry still
		// verifies, so the session's own checks in the database are what
		// refuse it.
		Leeway: 5 * time.Second,
	}
}

// Fixture is a Service over a real database, with its parts at hand.
type Fixture struct {
	Service *session.Service
	Pool    *pgxpool.Pool
	Queries *db.Queries // the test's own look-ups on Pool, bound by DBTimeout
	Clock   *testenv.Clock
	Signer  *token.Signer
	Hasher  *password.Hasher
	Log     *slog.Logger
	Logs    *testenv.Buffer // what Log wrote; nil if Options.Log was given
}

// New builds a Fixture; edit may change the options first.
func New(t testing.TB, edit ...func(*Options)) *Fixture {
	t.Helper()
	o := Defaults()
	for _, e := range edit {
		e(&o)
	}
	f := &Fixture{Pool: o.Pool, Clock: o.Clock, Signer: o.Signer, Hasher: o.Hasher, Log: o.Log}
	if f.Pool == nil {
		f.Pool = dbtest.New(t)
	}
	if f.Clock == nil {
		f.Clock = testenv.NewClock()
	}
	if f.Signer == nil {
		f.Signer = NewSigner(t, token.Options{AccessTTL: o.AccessTTL, RefreshTTL: o.Session.RefreshTTL,
			Leeway: o.Leeway, Now: f.Clock.Now})
	}
	if f.Hasher == nil {
		f.Hasher = NewHasher(t, HasherOptions())
	}
	if f.Log == nil {
		f.Logs = &testenv.Buffer{}
		f.Log = NewLogger(f.Logs)
	}
	stmts := o.DB
	if stmts == nil {
		stmts = f.Pool
	}
	if o.MFAKeys == nil {
		o.MFAKeys = MFAKeys(t)
	}
	f.Service = session.New(session.Deps{
		DB: stmts, DBTimeout: o.DBTimeout, Tokens: f.Signer, Hasher: f.Hasher,
		Log: f.Log, Metrics: o.Metrics, Now: f.Clock.Now, MFAKeys: o.MFAKeys,
	}, o.Session)
	f.Queries = db.New(db.Bound(f.Pool, o.DBTimeout))
	return f
}

// mfaKeys is a TOTP key ring made once per test binary.
var mfaKeys = sync.OnceValues(func() (*totp.Keys, error) {
	return totp.ParseKeys(totp.GenerateKey(time.Now()))
})

// MFAKeys is the TOTP key ring of every Fixture of this test binary, so
// two services over one database open each other's secrets.
func MFAKeys(t testing.TB) *totp.Keys {
	t.Helper()
	k, err := mfaKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keys are PEM key pairs made once per test binary: the signer's access
// and refresh pairs (0 to 3), then a spare access and refresh pair (4 to 7).
var keys = sync.OnceValues(func() ([8]string, error) {
	var out [8]string
	for i := 0; i < len(out); i += 2 {
		priv, pub, err := token.GenerateKey("ES256")
		if err != nil {
			return out, err
		}
		out[i], out[i+1] = string(priv), string(pub)
	}
	return out, nil
})

// keySets parses the access and refresh pairs from keys[i:i+4].
func keySets(t testing.TB, i int) (access, refresh *token.KeySet) {
	t.Helper()
	k, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	if access, err = token.ParseKeySet(k[i], k[i+1], nil); err != nil {
		t.Fatal(err)
	}
	if refresh, err = token.ParseKeySet(k[i+2], k[i+3], nil); err != nil {
		t.Fatal(err)
	}
	return access, refresh
}

// ForeignKeys are test keys no Fixture signs with: a token signed with
// them must not verify.
func ForeignKeys(t testing.TB) (access, refresh *token.KeySet) {
	t.Helper()
	return keySets(t, 4)
}

// NewSigner is token.New(o) with the test keys for Access and Refresh
// and "authd-test" for Issuer and Audience where o leaves them unset.
// The keys are the same for the whole test binary, so two signers
// verify each other's tokens.
func NewSigner(t testing.TB, o token.Options) *token.Signer {
	t.Helper()
	if o.Access == nil && o.Refresh == nil {
		o.Access, o.Refresh = keySets(t, 0)
	}
	if o.Issuer == "" {
		o.Issuer = "authd-test"
	}
	if o.Audience == "" {
		o.Audience = "authd-test"
	}
	s, err := token.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// HasherOptions are those of a fast hasher: bcrypt cost 4, with room for
// parallel tests.
func HasherOptions() password.Options {
	return password.Options{Cost: 4, Concurrency: 4, Queue: 64, Wait: 5 * time.Second}
}

// NewHasher is password.New(o).
func NewHasher(t testing.TB, o password.Options) *password.Hasher {
	t.Helper()
	h, err := password.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// NewLogger logs JSON at debug level to w (a testenv.Buffer).
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// User registers an account with Password.
func (f *Fixture) User(t testing.TB, email string) db.User {
	t.Helper()
	su, err := f.Service.Register(t.Context(), session.Registration{Name: "Test User", Email: email,
		Password: Password, PasswordConfirm: Password})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return su.User
}

// Mails lists the outbox, newest first, of kind (all kinds if "") to
// address to (all addresses if "").
func (f *Fixture) Mails(t testing.TB, kind, to string) []db.MailOutbox {
	t.Helper()
	all, err := f.Queries.ListMail(t.Context(), db.ListMailParams{MaxRows: 10000})
	if err != nil {
		t.Fatalf("list mail: %v", err)
	}
	var out []db.MailOutbox
	for _, m := range all {
		if (kind == "" || m.Kind == kind) && (to == "" || m.ToAddr == to) {
			out = append(out, m)
		}
	}
	return out
}

// Link is the sender at work on the newest mail of kind to address to: it
// mints that mail's token, valid for ttl, and returns it.
func (f *Fixture) Link(t testing.TB, kind, to string, ttl time.Duration) string {
	t.Helper()
	ms := f.Mails(t, kind, to)
	if len(ms) == 0 {
		t.Fatalf("no %s mail to %s in the outbox", kind, to)
	}
	return f.Mint(t, onetime.Purpose(kind), ms[0].UserID.UUID, ms[0].ToAddr, ttl)
}

// Mint stores a one-time secret of purpose p for user, sent to email and
// valid for ttl, as the sender has it minted, and returns the raw secret.
func (f *Fixture) Mint(t testing.TB, p onetime.Purpose, user uuid.UUID, email string, ttl time.Duration) string {
	t.Helper()
	tok, err := onetime.New(onetime.Options{Now: f.Clock.Now}).MintFor(t.Context(), f.Queries, p, user, email, ttl)
	if err != nil {
		t.Fatalf("mint %s token: %v", p, err)
	}
	return tok.Raw
}

// TokenExists reports whether the one-time secret raw is still stored.
func (f *Fixture) TokenExists(t testing.TB, raw string) bool {
	t.Helper()
	var n int
	if err := f.Pool.QueryRow(t.Context(), "SELECT count(*) FROM one_time_tokens WHERE token_hash = $1",
		onetime.Hash(raw)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Lifetimes are the one-time token lifetimes of authd's defaults
// (VERIFY_TOKEN_TTL, RESET_TOKEN_TTL, EMAIL_CHANGE_TOKEN_TTL).
func Lifetimes() onetime.Lifetimes {
	return onetime.Lifetimes{
		onetime.VerifyEmail:   24 * time.Hour,
		onetime.ResetPassword: 15 * time.Minute,
		onetime.ChangeEmail:   time.Hour,
	}
}

// LinkBase is the link base of SenderOptions.
const LinkBase = "https://app.example.com"

// SenderOptions are full mail sender options with authd's defaults and
// the SPA's link paths under LinkBase, on the clock now (nil: time.Now),
// the sender's and its token store's.
func SenderOptions(now func() time.Time) mail.SenderOptions {
	return mail.SenderOptions{
		From: "authd@example.com", FromName: "authd", LinkBase: LinkBase,
		VerifyPath: "/verifyemail/{token}", ResetPath: "/forgotPassword/{token}", ChangePath: "/confirm-email/{token}", ForgotPath: "/forgotPassword",
		Tokens:       onetime.New(onetime.Options{Lifetimes: Lifetimes(), Now: now}),
		PollInterval: 5 * time.Second, MaxAttempts: 8, Retention: 168 * time.Hour,
		SendTimeout: 10 * time.Second, DBTimeout: 3 * time.Second,
		Now: now,
	}
}

// Compares records the bcrypt cost of every hash compared through its
// Compare (a password.Options.Compare).
type Compares struct {
	mu    sync.Mutex
	costs []int
}

// Compare records hash's cost and compares as bcrypt does.
func (c *Compares) Compare(hash, pw []byte) error {
	cost, _ := bcrypt.Cost(hash)
	c.mu.Lock()
	c.costs = append(c.costs, cost)
	c.mu.Unlock()
	return bcrypt.CompareHashAndPassword(hash, pw)
}

// Take returns the costs recorded since the last Take.
func (c *Compares) Take() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.costs
	c.costs = nil
	return out
}
