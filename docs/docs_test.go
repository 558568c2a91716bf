// Package docs holds tests that keep the documentation true of the code.
package docs

import (
	"bufio"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/authd/authd"

// root is the repository's top directory (this package is docs/).
const root = ".."

// placeholders are names the docs use for tests in general, not tests.
var placeholders = map[string]bool{"TestName": true}

// TestCitedTestsExist checks that every test, benchmark and fuzz target
// the docs name is defined somewhere in the repository. A name ending in
// "*" (TestAdmin*) needs at least one test with that prefix.
func TestCitedTestsExist(t *testing.T) {
	defined := definedTests(t)
	cite := regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*\*?`)
	for _, doc := range docFiles(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range cite.FindAllString(string(b), -1) {
			if placeholders[name] {
				continue
			}
			if prefix, ok := strings.CutSuffix(name, "*"); ok {
				if !slices.ContainsFunc(defined, func(d string) bool { return strings.HasPrefix(d, prefix) }) {
					t.Errorf("%s names %s, but no test starts with %s", doc, name, prefix)
				}
				continue
			}
			if _, found := slices.BinarySearch(defined, name); !found {
				t.Errorf("%s names %s, which no _test.go file defines", doc, name)
			}
		}
	}
}

// docFiles are the Markdown files that describe the code.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "bench", "README.md"))
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	return files
}

// definedTests lists, sorted, every Test, Benchmark and Fuzz function of
// every _test.go file in the repository (both modules).
func definedTests(t *testing.T) []string {
	t.Helper()
	def := regexp.MustCompile(`^func ((?:Test|Benchmark|Fuzz)[A-Za-z0-9_]*)\(`)
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == ".dev") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := def.FindStringSubmatch(sc.Text()); m != nil {
				names = append(names, m[1])
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 100 {
		t.Fatalf("found only %d tests: is root wrong?", len(names))
	}
	sort.Strings(names)
	return names
}

// TestArchitectureImports checks the package table of architecture.md
// against the code: every package under cmd/, internal/, sql/, verify/
// and examples/ has a row, and its last column lists exactly the packages
// of this module that its non-test files import.
func TestArchitectureImports(t *testing.T) {
	rows := packageTable(t)
	actual := modulePackages(t)
	for pkg, imports := range actual {
		documented, ok := rows[pkg]
		if !ok {
			t.Errorf("architecture.md has no row for %s (imports %v)", pkg, imports)
			continue
		}
		if !slices.Equal(documented, imports) {
			t.Errorf("architecture.md says %s imports %v; it imports %v", pkg, documented, imports)
		}
	}
	for pkg, imports := range rows {
		if _, ok := actual[pkg]; ok {
			continue
		}
		// A directory without Go (sql/queries) may have a row that imports nothing.
		if st, err := os.Stat(filepath.Join(root, pkg)); err != nil || !st.IsDir() || len(imports) > 0 {
			t.Errorf("architecture.md has a row for %s, which is not a package", pkg)
		}
	}
}

// packageTable reads the table under "## Packages" of architecture.md:
// the package in the first column, and the module packages named in
// backquotes in the last.
func packageTable(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Packages\n")
	if !ok {
		t.Fatal(`architecture.md has no "## Packages" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	name := regexp.MustCompile("`((?:cmd|internal|sql|examples)/[a-z0-9/]+|verify)`")
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 3 {
			t.Fatalf("table row with %d cells: %s", len(cells), line)
		}
		first := name.FindStringSubmatch(cells[0])
		if first == nil {
			t.Fatalf("row does not start with a package: %s", line)
		}
		var imports []string
		for _, m := range name.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			if !slices.Contains(imports, m[1]) {
				imports = append(imports, m[1])
			}
		}
		sort.Strings(imports)
		rows[first[1]] = imports
	}
	if len(rows) < 5 {
		t.Fatalf("found only %d rows", len(rows))
	}
	return rows
}

// modulePackages maps each package under cmd/, internal/, sql/, verify/
// and examples/ to the packages of this module its non-test files import,
// sorted.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	for _, top := range []string{"cmd", "internal", "sql", "verify", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			p, err := build.Default.ImportDir(path, 0)
			if _, none := err.(*build.NoGoError); none {
				return nil
			}
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			var imports []string
			for _, imp := range p.Imports {
				if local, ok := strings.CutPrefix(imp, module+"/"); ok {
					imports = append(imports, local)
				}
			}
			sort.Strings(imports)
			pkgs[filepath.ToSlash(rel)] = imports
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return pkgs
}
