package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestNewestFirst(t *testing.T) {
	got := newestFirst([]string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/devel/bin"})
	want := []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/devel/bin"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPickBinDir(t *testing.T) {
	tmp := t.TempDir()
	mk := func(dir string, names ...string) string {
		d := filepath.Join(tmp, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(d, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	onlyInitdb := mk("only-initdb", "initdb")
	both := mk("both", "initdb", "postgres")
	// initdb on PATH as a symbolic link into the real directory.
	linked := mk("linked")
	if err := os.Symlink(filepath.Join(both, "initdb"), filepath.Join(linked, "initdb")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"first complete", []string{filepath.Join(tmp, "missing"), onlyInitdb, both}, both},
		{"through a link", []string{linked}, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickBinDir(tc.dirs)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := pickBinDir([]string{onlyInitdb}); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("without postgres: err = %v, want ErrNoBinaries", err)
	}
}

func TestSocketDir(t *testing.T) {
	short := "/home/dev/authd/.dev/pg"
	if got := socketDir(short); got != short {
		t.Errorf("socketDir(%q) = %q", short, got)
	}
	long := "/home/dev/" + strings.Repeat("x", 100) + "/.dev/pg"
	got := socketDir(long)
	if !strings.HasPrefix(got, "/tmp/authd-pg-") || len(got) > maxSocketDir || got != socketDir(long) {
		t.Errorf("socketDir(long) = %q: want a short, stable /tmp/authd-pg-... name", got)
	}
	if other := socketDir(long + "2"); other == got {
		t.Errorf("two long directories share socket directory %s", got)
	}
}

func TestURL(t *testing.T) {
	c := &Cluster{sockDir: "/tmp/authd pg&x"}
	got, want := c.URL("authd"), "postgres://postgres@/authd?host=/tmp/authd+pg%26x&port=5432&sslmode=disable"
	if got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}
