package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The image's layout. The Dockerfile's final stage says the same
// (TestDockerfileAgrees), and deploy/base/*.yaml rely on it (the runc test
// runs the image as they say).
const (
	binaryPath = "/usr/local/bin/authd"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	imageUser  = "65532:65532" // distroless's "nonroot"; an entry in rootfs/etc/passwd
	httpPort   = "8000/tcp"
)

// The image's OCI annotations (image-spec annotations.md), in its config's
// Labels, its manifest and the layout's index; the Dockerfile's LABEL says
// the same (TestDockerfileAgrees). The version, revision and creation time
// are the build's.
const (
	labelPrefix      = "org.opencontainers.image."
	imageTitle       = "authd"
	imageDescription = "authd, a JWT authentication service on PostgreSQL"
	imageSource      = "https://github.com/authd/authd" // the module path of go.mod
	// imageLicenses is the SPDX expression of authd's licence. The
	// repository has no LICENSE file yet, so none is claimed: the label is
	// left out until one is chosen (then set it here and in the Dockerfile).
	imageLicenses = ""
)

// imageArches are the architectures built by default: one image each, from
// the same source and flags, in one index.
var imageArches = []string{"amd64", "arm64"}

// buildInfo is what the labels say of one build.
type buildInfo struct {
	version  string
	revision string // the commit; "unknown" outside git
	created  time.Time
}

// labels are the OCI annotations of an image built as b says.
func (b buildInfo) labels() map[string]string {
	l := map[string]string{
		labelPrefix + "title":       imageTitle,
		labelPrefix + "description": imageDescription,
		labelPrefix + "source":      imageSource,
		labelPrefix + "version":     b.version,
		labelPrefix + "revision":    b.revision,
		labelPrefix + "created":     b.created.UTC().Format(time.RFC3339),
	}
	if imageLicenses != "" {
		l[labelPrefix+"licenses"] = imageLicenses
	}
	return l
}

var (
	entrypoint = []string{binaryPath}
	command    = []string{"serve"}
	imageEnv   = []string{"PATH=/usr/local/bin", "PORT=8000"}
)

// rootfsFiles are the image's files that live in this directory rather than
// on the host: the passwd and group entries of the non-root user.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfsFiles embed.FS

// OCI media types (image-spec v1.1).
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// file is one regular file of a layer, owned by root.
type file struct {
	path string      // absolute, in the image
	mode fs.FileMode // permission bits
	data []byte
}

// layer is what goes into one layer, and the history line that says so.
type layer struct {
	createdBy string
	files     []file
}

// baseLayer holds what distroless/static would give authd: CA certificates
// and the user's passwd and group entries. ca is the CA bundle's contents.
func baseLayer(ca []byte) (layer, error) {
	passwd, err := rootfsFiles.ReadFile("rootfs/etc/passwd")
	if err != nil {
		return layer{}, err
	}
	group, err := rootfsFiles.ReadFile("rootfs/etc/group")
	if err != nil {
		return layer{}, err
	}
	return layer{
		createdBy: "deploy/image: /etc/passwd, /etc/group (user 65532), " + caPath,
		files: []file{
			{"/etc/passwd", 0o644, passwd},
			{"/etc/group", 0o644, group},
			{caPath, 0o644, ca},
		},
	}, nil
}

// binaryLayer holds the authd binary.
func binaryLayer(bin []byte, version string) layer {
	return layer{
		createdBy: "deploy/image: " + binaryPath + " (version " + version + ")",
		files:     []file{{binaryPath, 0o755, bin}},
	}
}

// blob is content-addressed data of the layout.
type blob struct {
	mediaType string
	data      []byte
}

func (b blob) digest() string {
	sum := sha256.Sum256(b.data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (b blob) descriptor() descriptor {
	return descriptor{MediaType: b.mediaType, Digest: b.digest(), Size: int64(len(b.data))}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// image is a built image: its blobs, in memory, and what they are.
type image struct {
	manifest blob
	config   blob
	layers   []blob
	diffIDs  []string // digests of the uncompressed layers
	rawSizes []int64  // sizes of the uncompressed layers
	history  []string // what each layer holds
	arch     string
	labels   map[string]string // OCI annotations, also the config's Labels
}

// Digest is the image's digest: that of its manifest, what a registry
// reports and what a Kubernetes image reference can pin (authd@sha256:...).
func (img *image) Digest() string { return img.manifest.digest() }

// fileTime is the modification time of every file and directory in the
// layers, so that a layer's digest depends on its contents only: the first
// layer stays the same from one release to the next (a registry keeps it
// once) until the CA bundle changes. The build's time is the config's.
var fileTime = time.Unix(0, 0).UTC()

// newImage assembles layers on an empty base. info's time is the image's
// (config and history); its labels go in the config and the manifest.
func newImage(layers []layer, arch string, info buildInfo) (*image, error) {
	labels := info.labels()
	img := &image{arch: arch, labels: labels}
	created := info.created.UTC()
	type history struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
	var hist []history
	for _, l := range layers {
		raw, err := tarLayer(l.files, fileTime)
		if err != nil {
			return nil, err
		}
		gz, err := gzipBytes(raw)
		if err != nil {
			return nil, err
		}
		img.layers = append(img.layers, blob{mediaLayer, gz})
		img.diffIDs = append(img.diffIDs, blob{data: raw}.digest())
		img.rawSizes = append(img.rawSizes, int64(len(raw)))
		img.history = append(img.history, l.createdBy)
		hist = append(hist, history{created.Format(time.RFC3339), l.createdBy})
	}
	ports := map[string]struct{}{httpPort: {}}
	config := map[string]any{
		"created":      created.Format(time.RFC3339),
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"User":         imageUser,
			"ExposedPorts": ports,
			"Env":          imageEnv,
			"Entrypoint":   entrypoint,
			"Cmd":          command,
			"WorkingDir":   "/",
			"Labels":       labels,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": img.diffIDs},
		"history": hist,
	}
	cb, err := json.Marshal(config) // maps marshal with sorted keys: deterministic
	if err != nil {
		return nil, err
	}
	img.config = blob{mediaConfig, cb}
	layerDescs := make([]descriptor, len(img.layers))
	for i, l := range img.layers {
		layerDescs[i] = l.descriptor()
	}
	mb, err := json.Marshal(struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        descriptor        `json:"config"`
		Layers        []descriptor      `json:"layers"`
		Annotations   map[string]string `json:"annotations"`
	}{2, mediaManifest, img.config.descriptor(), layerDescs, labels})
	if err != nil {
		return nil, err
	}
	img.manifest = blob{mediaManifest, mb}
	return img, nil
}

// tarLayer makes an uncompressed layer of files and their parent
// directories: entries sorted by name, owned by root (uid and gid 0, no user
// or group names), every modification time at mtime, and no other time,
// extended attribute or device number. Parent directories are 0755.
func tarLayer(files []file, mtime time.Time) ([]byte, error) {
	type entry struct {
		name string // as in the archive: relative, directories end in /
		file *file  // nil for a directory
	}
	seen := map[string]bool{}
	var entries []entry
	for i := range files {
		f := &files[i]
		if !path.IsAbs(f.path) || path.Clean(f.path) != f.path {
			return nil, fmt.Errorf("layer file %q: not a clean absolute path", f.path)
		}
		name := strings.TrimPrefix(f.path, "/")
		if seen[name] {
			return nil, fmt.Errorf("layer file %s: twice", f.path)
		}
		seen[name] = true
		entries = append(entries, entry{name, f})
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if !seen[d+"/"] {
				seen[d+"/"] = true
				entries = append(entries, entry{d + "/", nil})
			}
		}
	}
	// A directory's name is a prefix of its contents' names, so it sorts
	// before them, as extracting requires.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, ModTime: mtime, Format: tar.FormatUSTAR}
		if e.file == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, int64(e.file.mode.Perm()), int64(len(e.file.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		if e.file != nil {
			if _, err := tw.Write(e.file.data); err != nil {
				return nil, fmt.Errorf("layer %s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses b with a header that holds no name and no time, so
// the result depends on b and the Go version's compress/flate only.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newIndex is the image index of imgs, one manifest per platform, with the
// images' labels (those of the first; they differ only by platform). This is
// what a registry serves for a multi-platform tag.
func newIndex(imgs []*image) (blob, error) {
	manifests := make([]descriptor, len(imgs))
	for i, img := range imgs {
		manifests[i] = img.manifest.descriptor()
		manifests[i].Platform = &platform{Architecture: img.arch, OS: "linux"}
	}
	b, err := json.Marshal(struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []descriptor      `json:"manifests"`
		Annotations   map[string]string `json:"annotations"`
	}{2, mediaIndex, manifests, imgs[0].labels})
	return blob{mediaIndex, b}, err
}

// writeLayout writes imgs to dir as an OCI image layout. tag (umoci, skopeo
// and podman name it dir:tag) is the image index of all of them, one
// manifest per platform (skopeo copy --all pushes it whole); each image is
// also tagged tag-ARCH on its own (a single-platform image, which umoci
// unpacks). An existing layout at dir is replaced whole; anything else there
// is an error. The new layout is written next to dir and renamed into place,
// so a failed build leaves the old one intact.
func writeLayout(dir, tag string, imgs []*image) error {
	if len(imgs) == 0 {
		return errors.New("no image to write")
	}
	if err := checkReplaceable(dir); err != nil {
		return err
	}
	idx, err := newIndex(imgs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	blobs := filepath.Join(tmp, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	all := []blob{idx}
	for _, img := range imgs {
		all = append(all, img.manifest, img.config)
		all = append(all, img.layers...)
	}
	for _, b := range all {
		name := filepath.Join(blobs, strings.TrimPrefix(b.digest(), "sha256:"))
		if err := os.WriteFile(name, b.data, 0o644); err != nil {
			return err
		}
	}
	refs := []descriptor{idx.descriptor()}
	refs[0].Annotations = map[string]string{refName: tag}
	for _, img := range imgs {
		m := img.manifest.descriptor()
		m.Annotations = map[string]string{refName: tag + "-" + img.arch}
		m.Platform = &platform{Architecture: img.arch, OS: "linux"}
		refs = append(refs, m)
	}
	index, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mediaIndex, refs})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "index.json"), index, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// refName is the annotation that names an image of a layout.
const refName = "org.opencontainers.image.ref.name"

// checkReplaceable refuses to replace dir unless it is missing, empty or an
// OCI image layout.
func checkReplaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("%s exists and is not an OCI image layout: not replacing it", dir)
	}
	return nil
}
