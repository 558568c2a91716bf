package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
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

// testInfo is what the tests build with.
var testInfo = buildInfo{
	version:  "v0.0.0-imagetest",
	revision: "0123456789abcdef0123456789abcdef01234567",
	created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

var testVersion = testInfo.version

const testTag = "test"

// shared is the images the tests build once, one per imageArches, and their
// OCI layout.
var shared struct {
	once sync.Once
	imgs []*image
	dir  string // temporary directory; the layout is dir/layout
	err  error
}

// testImages returns the images built from this checkout, one per
// imageArches, and the directory of their OCI layout, built once per test
// binary.
func testImages(t *testing.T) ([]*image, string) {
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
		if shared.imgs, shared.err = buildAll(ctx, root); shared.err != nil {
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "authd-image-test-"); shared.err != nil {
			return
		}
		shared.err = writeLayout(filepath.Join(shared.dir, "layout"), testTag, shared.imgs)
		t.Logf("built %d images in %s", len(shared.imgs), time.Since(start).Round(time.Millisecond))
	})
	if shared.err != nil {
		t.Fatalf("build image: %v", shared.err)
	}
	return shared.imgs, filepath.Join(shared.dir, "layout")
}

// testImage returns the image for this machine's architecture (the one runc
// runs) and the directory of the layout; its tag there is hostTag.
func testImage(t *testing.T) (*image, string) {
	t.Helper()
	imgs, dir := testImages(t)
	for _, img := range imgs {
		if img.arch == runtime.GOARCH {
			return img, dir
		}
	}
	t.Fatalf("no image for %s among imageArches %v", runtime.GOARCH, imageArches)
	return nil, ""
}

// hostTag names the host architecture's image in the test layout.
const hostTag = testTag + "-" + runtime.GOARCH

func buildAll(ctx context.Context, root string) ([]*image, error) {
	var imgs []*image
	for _, arch := range imageArches {
		img, err := build(ctx, testBuildOptions(root, arch))
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

func testBuildOptions(root, arch string) buildOptions {
	return buildOptions{root: root, info: testInfo, arch: arch, caFile: "/etc/ssl/certs/ca-certificates.crt"}
}

// TestReproducible builds the images a second time, from a copy of the
// source in another directory, and wants the same digests and the same bytes
// in every file of the layout.
func TestReproducible(t *testing.T) {
	imgs, dir := testImages(t)
	ctx := t.Context()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "src")
	copySource(t, root, elsewhere)
	again, err := buildAll(ctx, elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		if got, want := again[i].Digest(), img.Digest(); got != want {
			for j := range again[i].layers {
				t.Logf("%s layer %d: %s, first build %s", img.arch, j+1, again[i].layers[j].digest(), img.layers[j].digest())
			}
			t.Fatalf("%s, second build: digest %s, first %s", img.arch, got, want)
		}
		t.Logf("%s: digest %s, twice", img.arch, img.Digest())
	}
	dir2 := filepath.Join(t.TempDir(), "layout")
	if err := writeLayout(dir2, testTag, again); err != nil {
		t.Fatal(err)
	}
	if got, want := treeSums(t, dir2), treeSums(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("layouts differ:\n%v\n%v", got, want)
	}
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

// TestLayers reads each image's layers back: exactly these entries, in this
// order, owned by root, every time 1970-01-01, and a static binary for the
// image's architecture, built as the Dockerfile builds it (its build info).
func TestLayers(t *testing.T) {
	imgs, _ := testImages(t)
	for _, img := range imgs {
		t.Run(img.arch, func(t *testing.T) { checkLayers(t, img) })
	}
}

func checkLayers(t *testing.T, img *image) {
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
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	if want, ok := machines[img.arch]; !ok || f.Machine != want || f.Class != elf.ELFCLASS64 || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("%s is %v %v %v, want %v (%s)", binaryPath, f.Machine, f.Class, f.OSABI, want, img.arch)
	}
	checkBuildInfo(t, files[binaryPath], img.arch)
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
		Labels       map[string]string
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

// wantLabels are the OCI annotations of the test build, written out.
var wantLabels = map[string]string{
	"org.opencontainers.image.title":       "authd",
	"org.opencontainers.image.description": "authd, a JWT authentication service on PostgreSQL",
	"org.opencontainers.image.source":      "https://github.com/authd/authd",
	"org.opencontainers.image.version":     "v0.0.0-imagetest",
	"org.opencontainers.image.revision":    "0123456789abcdef0123456789abcdef01234567",
	"org.opencontainers.image.created":     "2026-01-02T03:04:05Z",
}

func TestConfig(t *testing.T) {
	img, _ := testImage(t)
	c := readConfig(t, img)
	want := imageConfig{Created: "2026-01-02T03:04:05Z", Architecture: runtime.GOARCH, OS: "linux"}
	want.Config.Labels = wantLabels
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
		Config      descriptor        `json:"config"`
		Layers      []descriptor      `json:"layers"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(img.manifest.data, &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Annotations, wantLabels) {
		t.Errorf("manifest's annotations %v, want %v", m.Annotations, wantLabels)
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
	if want := "FROM --platform=$BUILDPLATFORM golang:" + string(goVersion[1]) + "-bookworm AS build"; build[0] != want {
		t.Errorf("build stage: %q, want %q (the Go of go.mod, for the same binary)", build[0], want)
	}
	// Cross-compiled on the build machine for BuildKit's target platform.
	wantBuild := `RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false -ldflags "` + ldflags + `${VERSION}" -o /out/authd ./cmd/authd`
	if i := slices.Index(build, wantBuild); i < 0 || !slices.Contains(build[:i], "ARG TARGETARCH") {
		t.Errorf("build stage does not ARG TARGETARCH, then %s", wantBuild)
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

	// The labels of deploy/image, with the build's values from build args.
	labels := buildInfo{version: "${VERSION}", revision: "${REVISION}"}.labels()
	labels[labelPrefix+"created"] = "${CREATED}"
	var label []string
	for _, k := range []string{"title", "description", "source", "version", "revision", "created", "licenses"} {
		if v, ok := labels[labelPrefix+k]; ok {
			label = append(label, fmt.Sprintf("%s%s=%q", labelPrefix, k, v))
			delete(labels, labelPrefix+k)
		}
	}
	if len(labels) > 0 {
		t.Errorf("labels %v: add them to this test's list", labels)
	}
	want := []string{
		"FROM scratch",
		"ARG VERSION=dev",
		"ARG REVISION=unknown",
		"ARG CREATED=1970-01-01T00:00:00Z",
		"LABEL " + strings.Join(label, " "),
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

// TestSkopeo reads the layout with skopeo, as one would to push it: the tag
// is the multi-platform index (skopeo shows the image for this machine, with
// its labels), and copying it with --all takes every platform's image; one
// platform's image converts to a docker-archive (what docker load takes).
func TestSkopeo(t *testing.T) {
	skopeo := tool(t, "skopeo")
	imgs, dir := testImages(t)
	img, _ := testImage(t)
	idx, err := newIndex(imgs)
	if err != nil {
		t.Fatal(err)
	}
	ref := "oci:" + dir + ":" + testTag
	for _, c := range []struct {
		args []string
		want string // the digest skopeo reports
	}{
		{[]string{"inspect", ref}, idx.digest()},
		{[]string{"inspect", "oci:" + dir + ":" + hostTag}, img.Digest()},
	} {
		out, err := exec.Command(skopeo, c.args...).Output()
		if err != nil {
			t.Fatalf("skopeo %s: %v", strings.Join(c.args, " "), err)
		}
		var inspect struct {
			Digest       string
			Architecture string
			Labels       map[string]string
			Layers       []string
		}
		if err := json.Unmarshal(out, &inspect); err != nil {
			t.Fatal(err)
		}
		if inspect.Digest != c.want || inspect.Architecture != runtime.GOARCH ||
			!reflect.DeepEqual(inspect.Labels, wantLabels) || len(inspect.Layers) != len(img.layers) {
			t.Errorf("skopeo %s: want digest %s, %s, our labels:\n%s", strings.Join(c.args, " "), c.want, runtime.GOARCH, out)
		}
	}
	copied := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command(skopeo, "copy", "--quiet", "--all", ref, "oci:"+copied+":"+testTag).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy --all: %v\n%s", err, out)
	}
	for _, i := range imgs {
		if _, err := os.Stat(filepath.Join(copied, "blobs", "sha256", strings.TrimPrefix(i.layers[1].digest(), "sha256:"))); err != nil {
			t.Errorf("skopeo copy --all: the %s binary's layer was not copied: %v", i.arch, err)
		}
	}
	archive := filepath.Join(t.TempDir(), "authd.tar")
	if out, err := exec.Command(skopeo, "copy", "--quiet", "oci:"+dir+":"+hostTag, "docker-archive:"+archive+":authd:"+testTag).CombinedOutput(); err != nil {
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

// checkBuildInfo reads the Go build information of bin: cmd/authd, built
// for linux/arch, static (CGO_ENABLED=0), -trimpath and no VCS stamp
// (-buildvcs=false), as the Dockerfile builds it.
func checkBuildInfo(t *testing.T, bin []byte, arch string) {
	t.Helper()
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	if info.Path != "github.com/authd/authd/cmd/authd" {
		t.Errorf("build info: path %q", info.Path)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// -trimpath keeps -ldflags out of the build info; their effect (-s:
	// no symbol table, -X: the version) is checked on the binary itself.
	want := map[string]string{
		"GOOS":        "linux",
		"GOARCH":      arch,
		"CGO_ENABLED": "0",
		"-trimpath":   "true",
		"-buildmode":  "exe",
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("build info: %s=%q, want %q", k, settings[k], v)
		}
	}
	for k := range settings {
		if strings.HasPrefix(k, "vcs") {
			t.Errorf("build info: %s=%s: want no VCS stamp (-buildvcs=false, as the Dockerfile's build has no .git)", k, settings[k])
		}
	}
}

// TestIndex reads the layout's index.json: the tag is an image index of one
// manifest per imageArches, each with its platform, and each image is also
// tagged tag-ARCH; the index carries the images' labels.
func TestIndex(t *testing.T) {
	imgs, dir := testImages(t)
	if got := len(imgs); got != 2 || imgs[0].arch != "amd64" || imgs[1].arch != "arm64" {
		t.Fatalf("built %d images %v, want amd64 and arm64", got, imageArches)
	}
	type index struct {
		MediaType   string            `json:"mediaType"`
		Manifests   []descriptor      `json:"manifests"`
		Annotations map[string]string `json:"annotations"`
	}
	read := func(name string) index {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var idx index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return idx
	}
	top := read("index.json")
	if len(top.Manifests) != 1+len(imgs) {
		t.Fatalf("index.json lists %d manifests, want the index and %d images", len(top.Manifests), len(imgs))
	}
	tagged := top.Manifests[0]
	if tagged.MediaType != mediaIndex || tagged.Annotations[refName] != testTag || tagged.Platform != nil {
		t.Errorf("index.json's first entry %+v: want the image index, tagged %s", tagged, testTag)
	}
	nested := read(filepath.Join("blobs", "sha256", strings.TrimPrefix(tagged.Digest, "sha256:")))
	if nested.MediaType != mediaIndex || !reflect.DeepEqual(nested.Annotations, wantLabels) {
		t.Errorf("image index: media type %s, annotations %v; want %s, %v", nested.MediaType, nested.Annotations, mediaIndex, wantLabels)
	}
	if len(nested.Manifests) != len(imgs) {
		t.Fatalf("image index lists %d manifests, want %d", len(nested.Manifests), len(imgs))
	}
	for i, img := range imgs {
		for _, d := range []descriptor{nested.Manifests[i], top.Manifests[1+i]} {
			if d.MediaType != mediaManifest || d.Digest != img.Digest() || d.Platform == nil ||
				*d.Platform != (platform{Architecture: img.arch, OS: "linux"}) {
				t.Errorf("%s: descriptor %+v, want manifest %s for linux/%s", img.arch, d, img.Digest(), img.arch)
			}
		}
		if got := top.Manifests[1+i].Annotations[refName]; got != testTag+"-"+img.arch {
			t.Errorf("%s image tagged %q, want %s-%s", img.arch, got, testTag, img.arch)
		}
		if c := readConfig(t, img); c.Architecture != img.arch || c.OS != "linux" || !reflect.DeepEqual(c.Config.Labels, wantLabels) {
			t.Errorf("%s config: architecture %s, os %s, labels %v", img.arch, c.Architecture, c.OS, c.Config.Labels)
		}
	}
	if imgs[0].layers[0].digest() != imgs[1].layers[0].digest() {
		t.Error("the first layer (passwd, group, CA certificates) differs between architectures: it should be shared")
	}
}

// TestArm64Runs runs the arm64 image's binary under qemu's user-mode
// emulation (apt-get install qemu-user): it starts, reports its version, and
// its serve command has the flag the Deployment passes (-no-migrate).
func TestArm64Runs(t *testing.T) {
	qemu := tool(t, "qemu-aarch64")
	imgs, _ := testImages(t)
	var bin []byte
	for _, img := range imgs {
		if img.arch == "arm64" {
			bin = imageFiles(t, img)[binaryPath]
		}
	}
	path := filepath.Join(t.TempDir(), "authd")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qemu, path, "version").CombinedOutput()
	if got, want := string(out), "authd "+testVersion+"\n"; err != nil || got != want {
		t.Errorf("arm64 authd version: %q, %v; want %q", got, err, want)
	}
	out, _ = exec.Command(qemu, path, "serve", "-h").CombinedOutput()
	if !strings.Contains(string(out), "-no-migrate") || !strings.Contains(string(out), "-env-file") {
		t.Errorf("arm64 authd serve -h does not list -no-migrate and -env-file:\n%s", out)
	}
	out, err = exec.Command(qemu, path, "keygen", "-alg", "EdDSA").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ACCESS_TOKEN_PRIVATE_KEY=") {
		t.Errorf("arm64 authd keygen: %v\n%s", err, out)
	}
}

// imageFiles reads the regular files of img's layers.
func imageFiles(t *testing.T, img *image) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, l := range img.layers {
		zr, err := gzip.NewReader(bytes.NewReader(l.data))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			if h.Typeflag == tar.TypeReg {
				files["/"+h.Name] = b
			}
		}
	}
	return files
}
