package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// FileSuffix is appended to the name of a secret variable to name the variable that holds the
// path of a file with its value instead (DATABASE_URL_FILE), as the Docker and Kubernetes
// conventions have it: a mounted Secret or a Docker secret under /run/secrets.
const FileSuffix = "_FILE"

// maxSecretFile bounds a file named by a NAME_FILE variable; a list of PEM keys is a few
// kilobytes.
const maxSecretFile = 1 << 20

// fromFile returns the value of the secret variable name, whose environment value is v: v
// itself, or, when NAME_FILE is set, the contents of the file it names with one trailing
// newline removed. Both set, an unreadable file and an empty one are problems that name the
// variable and the path, never the contents. Each variable's file is read once.
func (l *loader) fromFile(name, v string) string {
	if s, ok := l.files[name]; ok {
		return s
	}
	fileVar := name + FileSuffix
	path := strings.TrimSpace(l.getenv(fileVar))
	if path == "" {
		return v
	}
	s := v // both set: the problem is reported, and v spares other rows an "unset" one
	if strings.TrimSpace(v) != "" {
		l.problemf(name, "both %s and %s are set: set only one", name, fileVar)
	} else if b, err := readSecretFile(path); err != nil {
		l.problemf(fileVar, "cannot read %s: %v", path, err)
	} else {
		s = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if strings.TrimSpace(s) == "" {
			l.problemf(fileVar, "%s is empty", path)
		}
	}
	if l.files == nil {
		l.files = map[string]string{}
	}
	l.files[name] = s
	return s
}

// readSecretFile reads at most maxSecretFile bytes of path. Its errors say why without the
// path, which the caller names.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, reason(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, reason(err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretFile)
	}
	return b, nil
}

// reason is err without the operation and path of an fs.PathError.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
