package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
)

// TestAdoptionNeedsRules: MigrateUp, which has no account rules, refuses a
// tutorial database and leaves it as it was.
func TestAdoptionNeedsRules(t *testing.T) {
	t.Parallel()
	url := tutorialDB(t, "ada@example.com")
	if err := db.MigrateUp(t.Context(), url); !errors.Is(err, db.ErrAdoptionUnchecked) {
		t.Fatalf("MigrateUp on a tutorial database: %v, want ErrAdoptionUnchecked", err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var untouched bool
	if err := conn.QueryRow(t.Context(), `SELECT to_regclass('public.schema_migrations') IS NULL
		AND to_regclass('public.authd_import_users') IS NULL
		AND EXISTS (SELECT 1 FROM users WHERE password IS NOT NULL)`).Scan(&untouched); err != nil || !untouched {
		t.Errorf("the tutorial's database after the refusal: untouched %v, %v", untouched, err)
	}
}

// TestAdoptionChecksEveryUser: each user is imported as Check leaves it,
// its id and email kept whatever Check says; unverified unless
// TrustVerified, and never verified when Check or the tutorial says not;
// the report names the users Check found wrong, once, and counts.
func TestAdoptionChecksEveryUser(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		url := tutorialDB(t, "ada@example.com", "eve@example.com")
		var reports []db.AdoptReport
		a := db.Adoption{
			TrustVerified: trust,
			Check: func(u db.TutorialUser) (db.TutorialUser, []string) {
				if u.Email != "eve@example.com" {
					return u, nil
				}
				u.Email, u.Name, u.Photo, u.Verified = "other@example.com", "Eve", "", false
				return u, []string{"eve is wrong"}
			},
			Report: func(r db.AdoptReport) { reports = append(reports, r) },
		}
		for range 2 {
			if err := db.MigrateUpAdopting(t.Context(), url, a); err != nil {
				t.Fatal(err)
			}
		}
		if len(reports) != 1 {
			t.Fatalf("trust %v: %d reports, want 1", trust, len(reports))
		}
		r := reports[0]
		wantVerified := 0
		if trust {
			wantVerified = 1
		}
		if r.Users != 2 || r.Verified != wantVerified || r.Trusted != trust || len(r.Problems) != 1 ||
			r.Problems[0].Email != "eve@example.com" || r.Problems[0].Problems[0] != "eve is wrong" {
			t.Errorf("trust %v: report %+v", trust, r)
		}
		pool, err := db.Connect(t.Context(), url, db.PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q := db.New(db.Bound(pool, 0))
		ada, err := q.GetUserByEmail(t.Context(), "ada@example.com")
		if err != nil || ada.Verified != trust || (ada.EmailVerifiedAt != nil) != trust {
			t.Errorf("trust %v: ada %+v, %v", trust, ada, err)
		}
		eve, err := q.GetUserByEmail(t.Context(), "eve@example.com")
		if err != nil || eve.Verified || eve.Name != "Eve" || eve.Photo != "" || eve.ID != r.Problems[0].ID {
			t.Errorf("trust %v: eve %+v, %v", trust, eve, err)
		}
		pool.Close()
	}
}
