package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// afterRestoreSQL is the after-restore.sql block of docs/operations.md,
// "Backup and restore": the test runs what the document says.
func afterRestoreSQL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```sql\n-- after-restore.sql")
	if !ok {
		t.Fatal("docs/operations.md has no ```sql block starting with -- after-restore.sql")
	}
	body, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/operations.md: the after-restore.sql block does not end")
	}
	p := filepath.Join(t.TempDir(), "after-restore.sql")
	if err := os.WriteFile(p, []byte("-- after-restore.sql"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pgTool finds pg_dump, pg_restore or psql next to the server binaries.
// Under CI a missing one fails the test.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if dir, err := pgcluster.FindBinDir(); err == nil {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	testenv.Missing(t, name+" not found (Debian package postgresql-client)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// run runs a PostgreSQL client tool and fails the test if it fails. The
// test server trusts local connections, so the tools need no password.
func runTool(t *testing.T, tool string, args ...string) {
	t.Helper()
	out, err := exec.Command(pgTool(t, tool), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// TestRestoreKeepsUsedLinksDead: a dump taken before a password reset,
// restored into a fresh database as docs/operations.md says (pg_dump,
// pg_restore, then its after-restore.sql), does not bring the reset link
// used after the dump back to life. Without after-restore.sql it would:
// the same restore without it takes the link again.
func TestRestoreKeepsUsedLinksDead(t *testing.T) {
	bin := buildBinary(t)
	script := afterRestoreSQL(t)
	const origin = "http://app.test"
	base := append(keyEnv(t, bin), "CLIENT_ORIGIN="+origin)
	withDB := func(url string) []string { return append(append([]string{}, base...), "DATABASE_URL="+url) }

	live := dbtest.URL(t)
	p := start(t, bin, withDB(live))
	reg := `{"name":"R","email":"restore@example.com","password":"password123","passwordConfirm":"password123","photo":""}`
	if st, _, body := call(t, p.base, "POST", "/api/auth/register", reg, "Origin", origin); st != 201 {
		t.Fatalf("register: %d %s", st, body)
	}
	token := resetLink(t, bin, withDB(live), "restore@example.com", origin)

	dump := filepath.Join(t.TempDir(), "authd.dump")
	runTool(t, "pg_dump", "--format=custom", "--file="+dump, "--dbname="+live)

	reset := func(base, password string) (int, string) {
		body := `{"password":"` + password + `","passwordConfirm":"` + password + `"}`
		st, _, text := call(t, base, "PATCH", "/api/auth/resetpassword/"+token, body, "Origin", origin)
		return st, text
	}
	if st, body := reset(p.base, "after the dump 1"); st != 200 {
		t.Fatalf("reset with the link after the dump: %d %s", st, body)
	}
	if st, _ := reset(p.base, "after the dump 2"); st != 400 {
		t.Fatalf("the link used twice on the live database: %d, want 400", st)
	}

	for _, tt := range []struct {
		name   string
		script bool
		want   int
	}{
		{"restore only: the used link works again", false, 200},
		{"restore and after-restore.sql: it stays dead", true, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fresh := dbtest.EmptyURL(t)
			runTool(t, "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+fresh, dump)
			if tt.script {
				runTool(t, "psql", fresh, "--single-transaction", "-v", "ON_ERROR_STOP=1", "-q", "-f", script)
			}
			q := start(t, bin, withDB(fresh))
			if st, body := reset(q.base, "after the restore"); st != tt.want {
				t.Errorf("the link used after the dump, on the restored database: %d %s, want %d", st, body, tt.want)
			}
		})
	}
}

// TestBackupDocListsEveryTable: the table of docs/operations.md, "Backup
// and restore", has a row for every table of the migrated schema (and none
// that does not exist), so a table that a migration adds gets its rule.
func TestBackupDocListsEveryTable(t *testing.T) {
	pool := dbtest.New(t)
	rows, err := pool.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Backup and restore\n")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for line := range strings.SplitSeq(section, "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			documented[name] = true
		}
	}
	for _, table := range tables {
		if !documented[table] {
			t.Errorf("docs/operations.md, Backup and restore: no row for table %s: say what to do with it after a restore", table)
		}
		delete(documented, table)
	}
	for name := range documented {
		t.Errorf("docs/operations.md, Backup and restore: row for %s, which is no table of the schema", name)
	}
}
