package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// start prints the URL of database authd, again on a second run with the
// same server; stop stops it, and then has nothing to do.
func TestStartStop(t *testing.T) {
	if _, err := pgcluster.FindBinDir(); errors.Is(err, pgcluster.ErrNoBinaries) {
		testenv.Missing(t, err.Error())
	}
	top, err := os.MkdirTemp("", "devdb-") // short: the socket goes in it
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(top, 0o755) // as root the postgres user must reach dir
	t.Cleanup(func() { os.RemoveAll(top) })
	dir := filepath.Join(top, "pg")
	devdb := func(args ...string) string {
		t.Helper()
		var stdout, stderr strings.Builder
		if err := run(t.Context(), append([]string{"-dir", dir}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("devdb %s: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	t.Cleanup(func() {
		run(context.Background(), []string{"-dir", dir, "stop"}, new(strings.Builder), new(strings.Builder))
	})

	url := devdb("start")
	if want := "postgres://postgres@/authd?host=" + dir + "&port=5432&sslmode=disable"; url != want {
		t.Errorf("URL %q, want %q", url, want)
	}
	var started string
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(t.Context(), "SELECT pg_postmaster_start_time()::text").Scan(&started)
	conn.Close(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if again := devdb("start"); again != url {
		t.Errorf("second start: %q, want %q", again, url)
	}
	conn, err = pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	err = conn.QueryRow(t.Context(), "SELECT pg_postmaster_start_time()::text").Scan(&got)
	conn.Close(t.Context())
	if err != nil || got != started {
		t.Errorf("second start restarted the server (%s, was %s; %v)", got, started, err)
	}

	if out := devdb("stop"); out != "development cluster stopped" {
		t.Errorf("stop: %q", out)
	}
	if conn, err := pgx.Connect(t.Context(), url); err == nil {
		conn.Close(t.Context())
		t.Error("connected after stop")
	}
	devdb("stop")
	if out := devdb("-dir", filepath.Join(top, "none"), "stop"); out != "no development cluster" {
		t.Errorf("stop without a cluster: %q", out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"begin"}, {"start", "extra"}} {
		if err := run(t.Context(), args, new(strings.Builder), new(strings.Builder)); err == nil {
			t.Errorf("devdb %q: no error", args)
		}
	}
}
