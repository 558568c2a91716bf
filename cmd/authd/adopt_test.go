package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/session"
)

// tutorialRows are one user that authd's rules accept and one for each
// field they refuse ($1 is a bcrypt hash); "markup" has a name the rules
// accept (names are escaped wherever they are shown).
const tutorialRows = `
INSERT INTO users (id, name, email, password, role, provider, photo, verified, created_at, updated_at) VALUES
 ('00000000-0000-4000-8000-000000000001', 'Ada Lovelace', 'ada@example.com', $1, 'user', 'local', 'default.png', true, now(), now()),
 ('00000000-0000-4000-8000-000000000002', 'Mallory', 'mallory@example.com', $1, 'user', 'local', 'javascript:alert(document.cookie)', true, now(), now()),
 ('00000000-0000-4000-8000-000000000003', 'Eve', 'eve@[10.0.0.5]', $1, 'admin', 'local', 'default.png', true, now(), now()),
 ('00000000-0000-4000-8000-000000000004', E'Bob\x1b[31m' || repeat('b', 150), 'bob@example.com', $1, 'user', 'local', '', true, now(), now()),
 ('00000000-0000-4000-8000-000000000005', 'Carol', 'carol@example.com', 'plain text password', 'user', 'local', 'default.png', true, now(), now()),
 ('00000000-0000-4000-8000-000000000006', '<b>Markup</b>', 'markup@example.com', $1, 'user', 'local', 'https://cdn.example.com/m.png', false, now(), now())`

// adoptTutorial runs `authd migrate up` on a tutorial database with env
// added, and returns the users it left and what it printed.
func adoptTutorial(t *testing.T, env map[string]string) (map[string]db.User, string) {
	t.Helper()
	url := dbtest.EmptyURL(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	hash, _ := bcrypt.GenerateFromPassword([]byte("password123"), bcrypt.MinCost)
	if _, err := conn.Exec(t.Context(), dbtest.TutorialSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), tutorialRows, string(hash)); err != nil {
		t.Fatal(err)
	}
	all := testKeyEnv(t)
	all["DATABASE_URL"] = url
	for k, v := range env {
		all[k] = v
	}
	envFile := filepath.Join(t.TempDir(), "app.env") // empty: settings from all only
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := migrateCmd(t.Context(), []string{"-env-file", envFile, "up"}, lookup(all), &out); err != nil {
		t.Fatalf("authd migrate up: %v\n%s", err, out.String())
	}
	rows, err := conn.Query(t.Context(), `SELECT * FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[db.User])
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]db.User{}
	for _, u := range list {
		users[u.Email] = u
	}
	if len(users) != 6 {
		t.Fatalf("%d users adopted, want 6", len(users))
	}
	if strings.Contains(out.String(), "plain text password") || strings.Contains(out.String(), string(hash)) {
		t.Errorf("the report shows a password: %s", out.String())
	}
	return users, out.String()
}

// TestAdoptionAppliesTheRules: adopting the tutorial's database imports
// everyone unverified (the tutorial's verified flag is not trusted unless
// ADOPT_TRUST_VERIFIED=true), a photo authd refuses as none, a name it
// refuses cleaned, a password that is no bcrypt hash as none, and an
// address it refuses unverified whatever the setting; it reports each of
// those users by id, and shows no password.
func TestAdoptionAppliesTheRules(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "trusted"}[trust], func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if trust {
				env["ADOPT_TRUST_VERIFIED"] = "true"
			}
			users, out := adoptTutorial(t, env)
			for email, u := range users {
				want := trust && u.Email != "eve@[10.0.0.5]" && u.Email != "markup@example.com"
				if u.Verified != want || (u.EmailVerifiedAt != nil) != want {
					t.Errorf("%s: verified %v at %v, want %v", email, u.Verified, u.EmailVerifiedAt, want)
				}
				if _, err := session.ValidName(u.Name); err != nil {
					t.Errorf("%s: name %q: %v", email, u.Name, err)
				}
				if err := session.ValidPhoto(u.Photo); err != nil {
					t.Errorf("%s: photo %q: %v", email, u.Photo, err)
				}
				if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil && u.PasswordHash != "" {
					t.Errorf("%s: a password hash that is none", email)
				}
			}
			if u := users["ada@example.com"]; u.Name != "Ada Lovelace" || u.Photo != "default.png" || u.PasswordHash == "" {
				t.Errorf("a user the rules accept was changed: %+v", u)
			}
			if u := users["markup@example.com"]; u.Name != "<b>Markup</b>" || u.Photo != "https://cdn.example.com/m.png" {
				t.Errorf("a user the rules accept was changed: %+v", u)
			}
			if u := users["bob@example.com"]; !strings.HasPrefix(u.Name, "Bob[31mbbb") {
				t.Errorf("cleaned name %q", u.Name)
			}
			if u := users["carol@example.com"]; u.PasswordHash != "" {
				t.Error("a password that is no bcrypt hash was imported")
			}
			if u := users["eve@[10.0.0.5]"]; u.Role != "admin" {
				t.Errorf("eve: role %s", u.Role)
			}
			for _, id := range []string{"2", "3", "4", "5"} {
				if !strings.Contains(out, "00000000-0000-4000-8000-00000000000"+id) {
					t.Errorf("user %s is not in the report:\n%s", id, out)
				}
			}
			for _, id := range []string{"1", "6"} {
				if strings.Contains(out, "00000000-0000-4000-8000-00000000000"+id) {
					t.Errorf("user %s, whom the rules accept, is in the report:\n%s", id, out)
				}
			}
			if !strings.Contains(out, "eve@[10.0.0.5]") {
				t.Errorf("the refused address is not shown:\n%s", out)
			}
		})
	}
}
