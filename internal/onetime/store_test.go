package onetime_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/session/sessiontest"
	"github.com/authd/authd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is a database with one user and a Store on a settable clock.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	q     *db.Queries
	clock *testenv.Clock
	store *onetime.Store
	user  db.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, pool: dbtest.New(t), clock: testenv.NewClock()}
	f.q = db.New(db.Bound(f.pool, 5*time.Second))
	f.store = onetime.New(onetime.Options{Lifetimes: sessiontest.Lifetimes(), Now: f.clock.Now})
	u, err := f.q.CreateUser(t.Context(), db.CreateUserParams{Name: "Ada", Email: "ada@example.com", PasswordHash: "x", Now: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f.user = u
	return f
}

func (f *fixture) mint(p onetime.Purpose, email string) onetime.Token {
	f.t.Helper()
	tok, err := f.store.Mint(f.t.Context(), f.q, p, f.user.ID, email)
	if err != nil {
		f.t.Fatalf("Mint: %v", err)
	}
	return tok
}

// spend spends raw in a transaction of its own.
func (f *fixture) spend(p onetime.Purpose, raw string) (onetime.Spent, error) {
	var sp onetime.Spent
	err := db.InTx(f.t.Context(), f.pool, 5*time.Second, func(q *db.Queries) error {
		var err error
		sp, err = f.store.Spend(f.t.Context(), q, p, raw)
		return err
	})
	return sp, err
}

func (f *fixture) count() int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.t.Context(), "SELECT count(*) FROM one_time_tokens").Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

var linkShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// TestTokenContract pins the format and the hash the links rely on.
func TestTokenContract(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.mint(onetime.VerifyEmail, f.user.Email)
	raw := tok.Raw
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 32 || len(raw) != onetime.Link.Len() || onetime.Link.Len() != 43 || !linkShape.MatchString(raw) {
		t.Fatalf("raw token %q: %d bytes, %v", raw, len(b), err)
	}
	if want := sha256.Sum256([]byte(raw)); string(onetime.Hash(raw)) != string(want[:]) {
		t.Error("the stored hash is not SHA-256 of the raw token's text")
	}
	if other := f.mint(onetime.VerifyEmail, f.user.Email); other.Raw == raw {
		t.Error("two tokens alike")
	}
	for _, p := range onetime.Purposes() {
		if p.Format() != onetime.Link {
			t.Errorf("%s: format %d, want Link", p, p.Format())
		}
	}
	if !tok.ExpiresAt.Equal(f.clock.Now().Add(24 * time.Hour)) {
		t.Errorf("expires at %s, want in 24h", tok.ExpiresAt)
	}

	// Only the hash is stored, bound to the purpose, user and address.
	var hash []byte
	var purpose, email string
	var user uuid.UUID
	var expires time.Time
	err = f.pool.QueryRow(t.Context(), "SELECT token_hash, purpose, user_id, email, expires_at FROM one_time_tokens WHERE token_hash = $1",
		onetime.Hash(raw)).Scan(&hash, &purpose, &user, &email, &expires)
	if err != nil || purpose != "verify_email" || user != f.user.ID || email != f.user.Email || !expires.Equal(tok.ExpiresAt) {
		t.Errorf("row: %s %v %s %s, %v", purpose, user, email, expires, err)
	}
	var dump string
	if err := f.pool.QueryRow(t.Context(), "SELECT string_agg(t::text, E'\\n') FROM one_time_tokens t").Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, raw) {
		t.Error("the raw token is in the database")
	}
}

// TestMintSpend: a token is peeked any number of times, spent once, with
// its user locked and the address it was sent to.
func TestMintSpend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.mint(onetime.ChangeEmail, "new@example.com")
	for range 2 {
		if id, err := f.store.Peek(t.Context(), f.q, onetime.ChangeEmail, tok.Raw); err != nil || id != f.user.ID {
			t.Fatalf("Peek = %v, %v; want the user", id, err)
		}
	}
	sp, err := f.spend(onetime.ChangeEmail, tok.Raw)
	if err != nil || sp.User.ID != f.user.ID || sp.User.Email != f.user.Email || sp.Email != "new@example.com" {
		t.Fatalf("Spend = %+v, %v", sp, err)
	}
	if _, err := f.spend(onetime.ChangeEmail, tok.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("second Spend: %v, want ErrInvalid", err)
	}
	if _, err := f.store.Peek(t.Context(), f.q, onetime.ChangeEmail, tok.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("Peek after Spend: %v, want ErrInvalid", err)
	}
	for _, raw := range []string{"", strings.Repeat("A", 43), strings.Repeat("A", 100000)} {
		if _, err := f.spend(onetime.ChangeEmail, raw); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("Spend(%.10q…): %v, want ErrInvalid", raw, err)
		}
	}
}

// TestSpendOnceConcurrently: of many transactions spending one token at
// once, exactly one gets it.
func TestSpendOnceConcurrently(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.mint(onetime.ResetPassword, f.user.Email)
	const n = 16
	var won, lost atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := f.spend(onetime.ResetPassword, tok.Raw)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, onetime.ErrInvalid):
				lost.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Errorf("%d spent it, %d refused; want 1 and %d", won.Load(), lost.Load(), n-1)
	}
	if c := f.count(); c != 0 {
		t.Errorf("%d tokens left", c)
	}
}

// TestExpiry: a token works until its purpose's lifetime has passed.
func TestExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	late := f.mint(onetime.ResetPassword, f.user.Email)
	ok := f.mint(onetime.ResetPassword, f.user.Email)
	f.clock.Advance(15*time.Minute - time.Second)
	if _, err := f.spend(onetime.ResetPassword, ok.Raw); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.store.Peek(t.Context(), f.q, onetime.ResetPassword, late.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("Peek at expiry: %v, want ErrInvalid", err)
	}
	if _, err := f.spend(onetime.ResetPassword, late.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("Spend at expiry: %v, want ErrInvalid", err)
	}

	// MintFor names its own lifetime.
	tok, err := f.store.MintFor(t.Context(), f.q, onetime.ResetPassword, f.user.ID, f.user.Email, time.Minute)
	if err != nil || !tok.ExpiresAt.Equal(f.clock.Now().Add(time.Minute)) {
		t.Fatalf("MintFor = %+v, %v", tok, err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.spend(onetime.ResetPassword, tok.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("Spend after MintFor's lifetime: %v, want ErrInvalid", err)
	}
}

// TestWrongPurpose: a token of one purpose is not spent as another, and
// stays for its own.
func TestWrongPurpose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.mint(onetime.VerifyEmail, f.user.Email)
	for _, p := range []onetime.Purpose{onetime.ResetPassword, onetime.ChangeEmail, "login_ticket"} {
		if _, err := f.spend(p, tok.Raw); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("spent as %s: %v, want ErrInvalid", p, err)
		}
	}
	if _, err := f.spend(onetime.VerifyEmail, tok.Raw); err != nil {
		t.Errorf("spent as its own purpose: %v", err)
	}
}

// TestDrop: a dropped token cannot be spent; dropping an unknown one, or
// one of another purpose, changes nothing.
func TestDrop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.mint(onetime.ResetPassword, f.user.Email)
	keep := f.mint(onetime.ResetPassword, f.user.Email)
	if err := f.store.Drop(t.Context(), f.q, onetime.VerifyEmail, tok.Raw); err != nil || f.count() != 2 {
		t.Errorf("Drop of another purpose: %v, %d tokens", err, f.count())
	}
	if err := f.store.Drop(t.Context(), f.q, onetime.ResetPassword, tok.Raw); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if _, err := f.spend(onetime.ResetPassword, tok.Raw); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("Spend after Drop: %v, want ErrInvalid", err)
	}
	if err := f.store.Drop(t.Context(), f.q, onetime.ResetPassword, tok.Raw); err != nil {
		t.Errorf("Drop twice: %v", err)
	}
	f.clock.Advance(time.Hour) // expired tokens are dropped too
	if err := f.store.Drop(t.Context(), f.q, onetime.ResetPassword, keep.Raw); err != nil || f.count() != 0 {
		t.Errorf("Drop of an expired token: %v, %d tokens left", err, f.count())
	}
}

// TestMintRefusals: a deleted user is ErrNoUser; a purpose without a
// lifetime or unknown, or a lifetime of zero, mints nothing.
func TestMintRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.store.Mint(t.Context(), f.q, onetime.VerifyEmail, uuid.New(), "gone@example.com"); !errors.Is(err, onetime.ErrNoUser) {
		t.Errorf("Mint for a missing user: %v, want ErrNoUser", err)
	}
	bare := onetime.New(onetime.Options{Now: f.clock.Now})
	if _, err := bare.Mint(t.Context(), f.q, onetime.VerifyEmail, f.user.ID, f.user.Email); err == nil {
		t.Error("Mint without a lifetime")
	}
	if _, err := f.store.MintFor(t.Context(), f.q, "recovery_code", f.user.ID, f.user.Email, time.Minute); err == nil {
		t.Error("MintFor of an unknown purpose")
	}
	if _, err := f.store.MintFor(t.Context(), f.q, onetime.ResetPassword, f.user.ID, f.user.Email, 0); err == nil {
		t.Error("MintFor with no lifetime")
	}
	if c := f.count(); c != 0 {
		t.Errorf("%d tokens stored", c)
	}
	if got := f.store.Lifetime(onetime.ResetPassword); got != 15*time.Minute {
		t.Errorf("Lifetime = %s", got)
	}
}

// TestAttempt: a login ticket takes at most maxAttempts tries, however
// many come at once, none once expired; it can still be spent once.
func TestAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := f.store.MintFor(t.Context(), f.q, onetime.LoginTicket, f.user.ID, f.user.Email, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			user, err := f.store.Attempt(t.Context(), f.q, onetime.LoginTicket, tok.Raw, 3)
			switch {
			case err == nil && user == f.user.ID:
				ok.Add(1)
			case !errors.Is(err, onetime.ErrInvalid):
				t.Errorf("Attempt: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Errorf("%d attempts went through, want 3", ok.Load())
	}
	if _, err := f.store.Attempt(t.Context(), f.q, onetime.VerifyEmail, tok.Raw, 10); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("as another purpose: %v", err)
	}
	other, _ := f.store.MintFor(t.Context(), f.q, onetime.LoginTicket, f.user.ID, f.user.Email, time.Minute)
	f.clock.Advance(time.Minute)
	if _, err := f.store.Attempt(t.Context(), f.q, onetime.LoginTicket, other.Raw, 3); !errors.Is(err, onetime.ErrInvalid) {
		t.Errorf("expired: %v", err)
	}
}
