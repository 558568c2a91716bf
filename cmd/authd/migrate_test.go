package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/sql/schema"
)

// TestMigrateNeedsOnlyTheDatabase: `authd migrate` (the Kubernetes Job's
// command) starts with DATABASE_URL alone, or DATABASE_URL_FILE alone, in
// its environment: no signing keys, no mail settings, and other settings
// that serve would refuse are not its business. It migrates a real empty
// database up and down.
func TestMigrateNeedsOnlyTheDatabase(t *testing.T) {
	bin := buildBinary(t)
	url := dbtest.EmptyURL(t)
	migrate := func(env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"migrate"}, args...)...)
		cmd.Dir = t.TempDir() // no app.env here
		cmd.Env = env         // nothing else: not even PATH
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	want := func(out string, v uint) {
		t.Helper()
		if w := fmt.Sprintf("schema version %d\n", v); !strings.HasSuffix(out, w) {
			t.Errorf("output %q, want it to end with %q", out, w)
		}
	}

	out, err := migrate([]string{"DATABASE_URL=" + url}, "up")
	if err != nil {
		t.Fatalf("migrate up with DATABASE_URL only: %v\n%s", err, out)
	}
	want(out, uint(schema.Version))

	file := filepath.Join(t.TempDir(), "database-url")
	if err := os.WriteFile(file, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fileEnv := []string{"DATABASE_URL_FILE=" + file, "MAIL_TRANSPORT=smtp", "PORT=not-a-port", "REFRESH_TOKEN_EXPIRED_IN=1s"}
	out, err = migrate(fileEnv, "down", "1")
	if err != nil {
		t.Fatalf("migrate down 1 with DATABASE_URL_FILE and settings serve refuses: %v\n%s", err, out)
	}
	want(out, uint(schema.Version-1))
	if out, err = migrate(fileEnv, "up"); err != nil {
		t.Fatalf("migrate up again: %v\n%s", err, out)
	}
	want(out, uint(schema.Version))

	// Without a database setting it still says what is missing, and only that.
	out, err = migrate(nil, "version")
	if err == nil || !strings.Contains(out, "DATABASE_URL or POSTGRES_HOST must be set") || strings.Contains(out, "PRIVATE_KEY") {
		t.Errorf("migrate with an empty environment: %v\n%s", err, out)
	}
}

// TestHealthcheckerWaitsForMigration: the tutorial's health route, which
// scripts wait for before they register, answers 503 not_ready with
// Retry-After while the schema is not migrated (serve -no-migrate on an
// empty database, as on Kubernetes before the migrate Job), and the
// tutorial's 200 once `authd migrate up` has run; a registration then
// succeeds. /healthz is 200 throughout.
func TestHealthcheckerWaitsForMigration(t *testing.T) {
	bin := buildBinary(t)
	url := dbtest.EmptyURL(t)
	p := launch(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+url, "MIGRATE_ON_START=false"))
	waitLog(t, p, "authd serving") // the database is reached: the service is behind the port
	st, hdr, body := get(t, "GET", p.base+"/api/healthchecker")
	if st != 503 || string(body) != `{"status":"error","message":"not ready","code":"not_ready"}`+"\n" || hdr.Get("Retry-After") != "2" {
		t.Errorf("/api/healthchecker before migrating: %d %s (Retry-After %q), want 503 not_ready with Retry-After 2", st, body, hdr.Get("Retry-After"))
	}
	if st, _, _ := get(t, "GET", p.base+"/healthz"); st != 200 {
		t.Errorf("/healthz before migrating: %d, want 200", st)
	}

	cmd := exec.Command(bin, "migrate", "up")
	cmd.Dir, cmd.Env = t.TempDir(), []string{"DATABASE_URL=" + url}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	p.waitReady(t) // polls /readyz: the same condition
	st, _, body = get(t, "GET", p.base+"/api/healthchecker")
	if st != 200 || string(body) != `{"status":"success","message":"Welcome to authd"}`+"\n" {
		t.Fatalf("/api/healthchecker after migrating: %d %s", st, body)
	}
	reg := `{"name":"H","email":"health@example.com","password":"password123","passwordConfirm":"password123","photo":""}`
	if st, _, _ := call(t, p.base, "POST", "/api/auth/register", reg); st != 201 {
		t.Errorf("register once /api/healthchecker says 200: %d", st)
	}
}
