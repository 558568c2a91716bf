// Command image builds authd's production container image without a
// container engine or a registry, and writes it as an OCI image layout:
//
//	go run ./deploy/image [-o bin/image] [-version V] [-tag T] [-arch amd64,arm64] [-ca FILE]
//
// It builds one image per architecture (amd64 and arm64 by default), from the
// same source and flags, and tags their image index T in the layout (and
// each image T-ARCH). Each is the Dockerfile's, on an empty base (FROM scratch): one layer
// with /etc/passwd and /etc/group (the non-root user 65532) and the host's CA
// certificates, one with the static binary at /usr/local/bin/authd, built as
// the Dockerfile builds it. No shell. User 65532:65532, port 8000,
// entrypoint authd, command serve.
//
// It is reproducible: the same source, Go version, CA bundle and version
// give the same digest. Files and directories are root-owned, dated
// 1970-01-01 and sorted, and layers are compressed without names or times;
// the image's creation time is SOURCE_DATE_EPOCH, or else the time of the
// last commit. The OCI labels (org.opencontainers.image.*: title,
// description, source, version, revision, created) are in each image's
// config and manifest and in the index.
//
// Copy it elsewhere with skopeo (apt-get install skopeo), e.g.
//
//	skopeo copy --all oci:bin/image:TAG docker://registry.example.com/authd:TAG
//	skopeo copy oci:bin/image:TAG-amd64 docker-archive:authd.tar:authd:TAG   # for docker load
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "bin/image", "write the OCI image layout to this directory (an existing layout there is replaced)")
	version := fs.String("version", "", "version stamped into the binary (default: git describe --tags --always --dirty, or dev)")
	tag := fs.String("tag", "", "tag of the image in the layout (default: the version)")
	arches := fs.String("arch", strings.Join(imageArches, ","), "GOARCH of the binaries and images, comma-separated")
	ca := fs.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install at "+caPath)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if *version == "" {
		*version = gitVersion(ctx, root)
	}
	if *tag == "" {
		*tag = *version
	}
	created, err := sourceDate(ctx, root, getenv)
	if err != nil {
		return err
	}
	info := buildInfo{version: *version, revision: gitRevision(ctx, root), created: created}
	start := time.Now()
	var imgs []*image
	for _, arch := range strings.Split(*arches, ",") {
		if slices.ContainsFunc(imgs, func(i *image) bool { return i.arch == arch }) || arch == "" {
			return fmt.Errorf("-arch %q: each architecture once", *arches)
		}
		img, err := build(ctx, buildOptions{root: root, info: info, arch: arch, caFile: *ca})
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	dir := *out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := writeLayout(dir, *tag, imgs); err != nil {
		return err
	}
	idx, err := newIndex(imgs)
	if err != nil {
		return err
	}
	goVersion, _ := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	fmt.Fprintf(stdout, "%s:%s  %s  (%s, revision %s, %s)\n", dir, *tag, idx.digest(),
		strings.TrimSpace(string(goVersion)), info.revision, time.Since(start).Round(100*time.Millisecond))
	for _, img := range imgs {
		fmt.Fprintf(stdout, "%s:%s-%s  %s  linux/%s\n", dir, *tag, img.arch, img.Digest(), img.arch)
		summarize(stdout, img)
	}
	return nil
}

// summarize prints the image's layers and sizes.
func summarize(w io.Writer, img *image) {
	var packed, raw int64
	for i, l := range img.layers {
		size := int64(len(l.data))
		packed += size
		raw += img.rawSizes[i]
		fmt.Fprintf(w, "  layer %d  %s  %s compressed, %s  %s\n", i+1, l.digest()[:19], mb(size), mb(img.rawSizes[i]), img.history[i])
	}
	fmt.Fprintf(w, "  total    %s compressed (%d bytes with config and manifest), %s unpacked\n",
		mb(packed), packed+int64(len(img.config.data)+len(img.manifest.data)), mb(raw))
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

type buildOptions struct {
	root   string // module root
	info   buildInfo
	arch   string
	caFile string
}

// build compiles authd and assembles the image in memory.
func build(ctx context.Context, o buildOptions) (*image, error) {
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates)", err)
	}
	bin, err := buildBinary(ctx, o.root, o.info.version, o.arch)
	if err != nil {
		return nil, err
	}
	base, err := baseLayer(ca)
	if err != nil {
		return nil, err
	}
	return newImage([]layer{base, binaryLayer(bin, o.info.version)}, o.arch, o.info)
}

// ldflags are the Dockerfile's, with the version appended.
const ldflags = "-s -w -X main.version="

// buildBinary builds cmd/authd as the Dockerfile does: static (CGO_ENABLED=0),
// -trimpath, -ldflags "-s -w -X main.version=...". -buildvcs=false because
// the Dockerfile's build has no .git (see .dockerignore): the binary then
// depends on the source, the Go version and the version string only.
func buildBinary(ctx context.Context, root, version, arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "authd-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "authd")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags+version, "-o", bin, "./cmd/authd")
	cmd.Dir = root
	cmd.Env = buildEnv(os.Environ(), arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return os.ReadFile(bin)
}

// buildEnv is env without the variables that would change the binary behind
// the flags' back, plus the target.
func buildEnv(env []string, arch string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GOARM", "GO386", "GOOS", "GOARCH",
			"CGO_ENABLED", "CGO_CFLAGS", "CGO_LDFLAGS":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
}

// moduleRoot is the directory of authd's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the authd module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// gitVersion is what make build stamps: git describe, or dev outside git.
func gitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "dev"
}

// gitRevision is the commit of HEAD, or "unknown" outside git.
func gitRevision(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "unknown"
}

// sourceDate is the image's creation time: SOURCE_DATE_EPOCH
// (reproducible-builds.org), or else the committer time of HEAD, or else
// the Unix epoch.
func sourceDate(ctx context.Context, root string, getenv func(string) string) (time.Time, error) {
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC(), nil
		}
	}
	return time.Unix(0, 0).UTC(), nil
}
