package pgcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FindBinDir returns the directory of initdb and postgres: that of initdb on
// PATH, else pg_config --bindir, else the newest /usr/lib/postgresql/*/bin
// (Debian and Ubuntu keep the server off PATH). The error wraps ErrNoBinaries.
func FindBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	return pickBinDir(append(dirs, newestFirst(versioned)...))
}

// pickBinDir returns the first of dirs that holds initdb and postgres.
func pickBinDir(dirs []string) (string, error) {
	for _, d := range dirs {
		// initdb on PATH may be a symbolic link into the real directory.
		initdb, err := filepath.EvalSymlinks(filepath.Join(d, "initdb"))
		if err != nil {
			continue
		}
		bin := filepath.Dir(initdb)
		if isExecutable(initdb) && isExecutable(filepath.Join(bin, "postgres")) {
			return bin, nil
		}
	}
	return "", fmt.Errorf("%w (looked for initdb on PATH, in pg_config --bindir and in /usr/lib/postgresql/*/bin)", ErrNoBinaries)
}

// newestFirst sorts /usr/lib/postgresql/<version>/bin directories by version, newest first.
func newestFirst(dirs []string) []string {
	slices.SortStableFunc(dirs, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a))
	})
	return dirs
}

// dirVersion reads 15 or 9.6 from /usr/lib/postgresql/<version>/bin.
func dirVersion(dir string) []int {
	var v []int
	for f := range strings.SplitSeq(filepath.Base(filepath.Dir(dir)), ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
