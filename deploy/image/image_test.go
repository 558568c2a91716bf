package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// testCreated and testVersion are what the tests build with.
var (
	testCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testVersion = "v0.0.0-imagetest"
)

const testTag = "test"

// shared is the image the tests build once, and its OCI layout.
var shared struct {
	once sync.Once
	img  *image
	dir  string // temporary directory; the layout is dir/layout
	err  error
}

// testImage returns the image built from this checkout and the directory of
// its OCI layout, built once per test binary.
func testImage(t *testing.T) (*image, string) {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		root, err := moduleRoot(ctx)
		if err != nil {
			shared.err = err
			return
		}
		start := time.Now()
		shared.img, shared.err = build(ctx, testBuildOptions(root))
		if shared.err != nil {
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "authd-image-test-"); shared.err != nil {
			return
		}
		shared.err = writeLayout(filepath.Join(shared.dir, "layout"), testTag, shared.img)
		t.Logf("built %s in %s", shared.img.Digest(), time.Since(start).Round(time.Millisecond))
	})
	if shared.err != nil {
		t.Fatalf("build image: %v", shared.err)
	}
	return shared.img, filepath.Join(shared.dir, "layout")
}

func testBuildOptions(root string) buildOptions {
	return buildOptions{root: root, version: testVersion, arch: runtime.GOARCH, caFile: "/etc/ssl/certs/ca-certificates.crt", created: testCreated}
}

// TestReproducible builds the image a second time, from a copy of the source
// in another directory, and wants the same digest and the same bytes in
// every file of the layout.
func TestReproducible(t *testing.T) {
	img, dir := testImage(t)
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "src")
	copySource(t, root, elsewhere)
	again, err := build(ctx, testBuildOptions(elsewhere))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Digest(), img.Digest(); got != want {
		for i := range again.layers {
			t.Logf("layer %d: %s, first build %s", i+1, again.layers[i].digest(), img.layers[i].digest())
		}
		t.Fatalf("second build: digest %s, first %s", got, want)
	}
	dir2 := filepath.Join(t.TempDir(), "layout")
	if err := writeLayout(dir2, testTag, again); err != nil {
		t.Fatal(err)
	}
	if got, want := treeSums(t, dir2), treeSums(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("layouts differ:\n%v\n%v", got, want)
	}
	t.Logf("digest %s, twice", img.Digest())
}

// copySource copies the files git knows of (tracked, and untracked but not
// ignored) from root to dst.
func copySource(t *testing.T, root, dst string) {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the worktree
		}
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeSums maps each file under dir to its contents' digest.
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		sums[rel] = blob{data: b}.digest()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestLayers reads the layers back: exactly these entries, in this order,
// owned by root, every time 1970-01-01, and a static binary.
func TestLayers(t *testing.T) {
	img, _ := testImage(t)
	want := [][]string{
		{"etc/ d 0755", "etc/group - 0644", "etc/passwd - 0644", "etc/ssl/ d 0755", "etc/ssl/certs/ d 0755",
			"etc/ssl/certs/ca-certificates.crt - 0644"},
		{"usr/ d 0755", "usr/local/ d 0755", "usr/local/bin/ d 0755", "usr/local/bin/authd - 0755"},
	}
	if len(img.layers) != len(want) {
		t.Fatalf("%d layers, want %d", len(img.layers), len(want))
	}
	files := map[string][]byte{}
	for i, l := range img.layers {
		zr, err := gzip.NewReader(bytes.NewReader(l.data))
		if err != nil {
			t.Fatal(err)
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("layer %d: gzip header has name %q, time %v", i+1, zr.Name, zr.ModTime)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if got := (blob{data: raw}).digest(); got != img.diffIDs[i] {
			t.Errorf("layer %d: uncompressed digest %s, config says %s", i+1, got, img.diffIDs[i])
		}
		var got []string
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			kind := "-"
			if h.Typeflag == tar.TypeDir {
				kind = "d"
			} else if h.Typeflag != tar.TypeReg {
				kind = string(h.Typeflag)
			}
			got = append(got, fmt.Sprintf("%s %s %04o", h.Name, kind, h.Mode))
			if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
				t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 and no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
			}
			if !h.ModTime.Equal(fileTime) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || len(h.PAXRecords) > 0 {
				t.Errorf("%s: times %v %v %v, PAX %v; want only the modification time %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, h.PAXRecords, fileTime)
			}
			b, _ := io.ReadAll(tr)
			files["/"+h.Name] = b
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("layer %d:\n got %q\nwant %q", i+1, got, want[i])
		}
	}

	f, err := elf.NewFile(bytes.NewReader(files[binaryPath]))
	if err != nil {
		t.Fatalf("%s: %v", binaryPath, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: not static", binaryPath)
		}
	}
	if want, ok := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]; ok && f.Machine != want {
		t.Errorf("%s is for %v, want %s", binaryPath, f.Machine, runtime.GOARCH)
	}
	if syms, _ := f.Symbols(); len(syms) > 0 {
		t.Errorf("%s has a symbol table: not built with -s", binaryPath)
	}
	if !bytes.Contains(files[binaryPath], []byte(testVersion)) {
		t.Errorf("%s does not hold its version %s", binaryPath, testVersion)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[caPath], ca) {
		t.Errorf("%s is not the host's CA bundle", caPath)
	}
	uid, gid, _ := strings.Cut(imageUser, ":")
	if !regexp.MustCompile(`(?m)^nonroot:x:` + uid + `:` + gid + `:`).Match(files["/etc/passwd"]) {
		t.Errorf("/etc/passwd has no entry for %s:\n%s", imageUser, files["/etc/passwd"])
	}
	if !regexp.MustCompile(`(?m)^nonroot:x:` + gid + `:`).Match(files["/etc/group"]) {
		t.Errorf("/etc/group has no entry for group %s:\n%s", gid, files["/etc/group"])
	}
}

// imageConfig is the part of an OCI image configuration that says how to run it.
type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string
		ExposedPorts map[string]struct{}
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

func readConfig(t *testing.T, img *image) imageConfig {
	t.Helper()
	var c imageConfig
	if err := json.Unmarshal(img.config.data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfig(t *testing.T) {
	img, _ := testImage(t)
	c := readConfig(t, img)
	want := imageConfig{Created: "2026-01-02T03:04:05Z", Architecture: runtime.GOARCH, OS: "linux"}
	want.Config.User = "65532:65532"
	want.Config.ExposedPorts = map[string]struct{}{"8000/tcp": {}}
	want.Config.Env = []string{"PATH=/usr/local/bin", "PORT=8000"}
	want.Config.Entrypoint = []string{"/usr/local/bin/authd"}
	want.Config.Cmd = []string{"serve"}
	want.Config.WorkingDir = "/"
	want.RootFS.Type, want.RootFS.DiffIDs = "layers", img.diffIDs
	want.History = c.History
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n got %+v\nwant %+v", c, want)
	}
	if len(c.History) != len(img.layers) {
		t.Errorf("%d history entries for %d layers", len(c.History), len(img.layers))
	}
	var m struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(img.manifest.data, &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Config, img.config.descriptor()) {
		t.Errorf("manifest's config %+v, want %+v", m.Config, img.config.descriptor())
	}
	for i, l := range m.Layers {
		if l.Digest != img.layers[i].digest() || l.MediaType != mediaLayer {
			t.Errorf("manifest's layer %d: %+v", i+1, l)
		}
	}
}

// TestDockerfileAgrees reads the Dockerfile's final stage: it must build the
// same layout as deploy/image (paths, modes, user, ports, environment,
// entrypoint, command), from a binary built with the same flags by the Go
// version of go.mod.
func TestDockerfileAgrees(t *testing.T) {
	stages := dockerfile(t, "../../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, final)", len(stages))
	}
	build, final := stages[0], stages[1]

	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if want := "FROM golang:" + string(goVersion[1]) + "-bookworm AS build"; build[0] != want {
		t.Errorf("build stage: %q, want %q (the Go of go.mod, for the same binary)", build[0], want)
	}
	wantBuild := `RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags "` + ldflags + `${VERSION}" -o /out/authd ./cmd/authd`
	if !slices.Contains(build, wantBuild) {
		t.Errorf("build stage does not %s", wantBuild)
	}
	// The first layer's files, installed with their modes into /rootfs.
	base, err := baseLayer(nil)
	if err != nil {
		t.Fatal(err)
	}
	install := strings.Join(build, "\n")
	for _, f := range base.files {
		src := "deploy/image/rootfs" + f.path
		if f.path == caPath {
			src = caPath
		}
		if want := fmt.Sprintf("install -D -m %04o %s /rootfs%s", f.mode, src, f.path); !strings.Contains(install, want) {
			t.Errorf("build stage does not %s", want)
		}
	}

	want := []string{
		"FROM scratch",
		"COPY --from=build /rootfs/ /",
		"COPY --from=build /out/authd " + binaryPath,
		"USER " + imageUser,
		"WORKDIR /",
		"EXPOSE " + strings.TrimSuffix(httpPort, "/tcp"),
		"ENV " + strings.Join(imageEnv, " "),
		`HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["` + binaryPath + `", "healthcheck"]`,
		"ENTRYPOINT " + jsonArray(entrypoint),
		"CMD " + jsonArray(command),
	}
	if !slices.Equal(final, want) {
		t.Errorf("final stage:\n got %q\nwant %q", final, want)
	}
}

func jsonArray(s []string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), `","`, `", "`)
}

// dockerfile returns the instructions of each stage, continuation lines
// joined and runs of white space made one space, comments dropped.
func dockerfile(t *testing.T, name string) [][]string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		more := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
		if more {
			continue
		}
		ins := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if strings.HasPrefix(ins, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %q before the first FROM", name, ins)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], ins)
	}
	return stages
}

// TestSkopeo reads the layout with skopeo, as one would to push it, and
// converts it to a docker-archive (what docker load takes).
func TestSkopeo(t *testing.T) {
	skopeo := tool(t, "skopeo")
	img, dir := testImage(t)
	ref := "oci:" + dir + ":" + testTag
	out, err := exec.Command(skopeo, "inspect", ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	var inspect struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal(out, &inspect); err != nil {
		t.Fatal(err)
	}
	if inspect.Digest != img.Digest() || len(inspect.Layers) != len(img.layers) {
		t.Errorf("skopeo inspect: %s", out)
	}
	archive := filepath.Join(t.TempDir(), "authd.tar")
	if out, err := exec.Command(skopeo, "copy", "--quiet", ref, "docker-archive:"+archive+":authd:"+testTag).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy to docker-archive: %v\n%s", err, out)
	}
}

// tool returns the path of a command the test needs. Without it the test is
// skipped, unless CI is set: then it fails.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	testenv.Missing(t, fmt.Sprintf("%s is not installed (apt-get install %s)", name, name))
	return ""
}
