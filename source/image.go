package source

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aicred/aicred"
)

// Container images: `docker save` tarballs (manifest.json and layer tars)
// and OCI image layouts (oci-layout, index.json, blobs/sha256/...), as a tar
// file or a directory. An image is known by its content, a manifest.json or
// oci-layout at its root, not by its name.
//
// Every layer's files are scanned, top layer first, so that whiteouts are
// known before the files they delete: a file deleted (".wh.NAME"), hidden
// (".wh..wh..opq" in an upper layer's directory) or replaced by an upper
// layer is still scanned, since anyone who pulls the image gets the layer,
// and its location carries RemovedIn, the upper layer that removed it. The
// image config's Env, Cmd, Entrypoint and Labels and the build history's
// created_by lines (where ARG and --build-arg values leak) are scanned too.
//
// Locations carry the image (first repo tag, or config digest), the layer
// digest, and a path "image.tar!<layer blob>!<path in layer>", so that the
// same file in two layers is two places of one credential.

// imageMaxJSON bounds the manifests, indexes and configs read in memory.
const imageMaxJSON = 16 << 20

// An imageFS reads the files of an image layout, in a tar or a directory.
type imageFS interface {
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
}

// tarFS is an image tarball on disk, indexed once: member name to section.
type tarFS struct {
	ra  io.ReaderAt
	idx map[string][2]int64 // offset, size
}

func (t *tarFS) has(name string) bool { _, ok := t.idx[name]; return ok }

func (t *tarFS) open(name string) (io.ReadCloser, int64, error) {
	sec, ok := t.idx[name]
	if !ok {
		return nil, 0, fmt.Errorf("no member %s", name)
	}
	return io.NopCloser(io.NewSectionReader(t.ra, sec[0], sec[1])), sec[1], nil
}

// dirFS is an image layout unpacked in a directory.
type dirFS struct{ root string }

func (d dirFS) has(name string) bool {
	fi, err := os.Stat(filepath.Join(d.root, filepath.FromSlash(name)))
	return err == nil && fi.Mode().IsRegular()
}

func (d dirFS) open(name string) (io.ReadCloser, int64, error) {
	f, err := os.Open(filepath.Join(d.root, filepath.FromSlash(name)))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// isImage tells an image layout by its content: an oci-layout file naming
// its version beside an index.json, or a manifest.json in docker save's
// shape whose first config is there. A web app's manifest.json is not one.
func isImage(fsys imageFS) bool {
	if fsys.has("oci-layout") && fsys.has("index.json") {
		var l struct {
			Version string `json:"imageLayoutVersion"`
		}
		return readJSON(fsys, "oci-layout", &l) == nil && l.Version != ""
	}
	if !fsys.has("manifest.json") {
		return false
	}
	var m dockerManifest
	if readJSON(fsys, "manifest.json", &m) != nil || len(m) == 0 {
		return false
	}
	return m[0].Config != "" && fsys.has(cleanMember(m[0].Config))
}

// imageTarMaxEntries bounds the headers read while indexing a tar that may
// be an image: an image's root holds few entries, a layout a few per layer.
const imageTarMaxEntries = 100000

// indexImageTar reads the headers of a tar file on disk (seeking over the
// content) and returns it as an imageFS when it holds an image.
func indexImageTar(f *os.File) (*tarFS, bool) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	sr := io.NewSectionReader(f, 0, fi.Size())
	tr := tar.NewReader(sr)
	t := &tarFS{ra: f, idx: map[string][2]int64{}}
	for i := 0; i < imageTarMaxEntries; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return nil, false
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != 0 {
			continue
		}
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, false
		}
		t.idx[cleanMember(hdr.Name)] = [2]int64{off, hdr.Size}
	}
	return t, isImage(t)
}

// cleanMember normalises a tar member name: no leading "./" or "/".
func cleanMember(name string) string {
	name = path.Clean("/" + strings.ReplaceAll(name, "\\", "/"))
	return strings.TrimPrefix(name, "/")
}

// An imageRef is one image of a layout: its name, config and layers,
// bottom first.
type imageRef struct {
	name, config, configDigest string
	layers                     []layerRef
}

type layerRef struct{ path, digest string }

// images lists the images of a layout. manifest.json (docker save, which
// names images by repo tag) wins over index.json when both are there.
func images(fsys imageFS) ([]imageRef, error) {
	if fsys.has("manifest.json") {
		if refs, err := dockerImages(fsys); err == nil && len(refs) > 0 {
			return refs, nil
		}
	}
	var idx ociIndex
	if err := readJSON(fsys, "index.json", &idx); err != nil {
		return nil, err
	}
	var out []imageRef
	if err := ociImages(fsys, idx, "", &out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

type dockerManifest []struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func dockerImages(fsys imageFS) ([]imageRef, error) {
	var m dockerManifest
	if err := readJSON(fsys, "manifest.json", &m); err != nil {
		return nil, err
	}
	var out []imageRef
	for _, im := range m {
		ref := imageRef{config: cleanMember(im.Config)}
		if len(im.RepoTags) > 0 {
			ref.name = im.RepoTags[0]
		}
		ref.configDigest = blobDigest(ref.config)
		for _, l := range im.Layers {
			p := cleanMember(l)
			ref.layers = append(ref.layers, layerRef{path: p, digest: blobDigest(p)})
		}
		out = append(out, ref)
	}
	return out, nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

type ociIndex struct {
	Manifests []descriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"` // when the blob is itself an index
}

// ociImages resolves an index's manifests, following nested indexes (a
// multi-platform image) up to a few levels.
func ociImages(fsys imageFS, idx ociIndex, name string, out *[]imageRef, depth int) error {
	if depth > 4 {
		return errors.New("image indexes nested too deep")
	}
	for _, d := range idx.Manifests {
		n := name
		if v := d.Annotations["io.containerd.image.name"]; v != "" {
			n = v
		} else if v := d.Annotations["org.opencontainers.image.ref.name"]; v != "" && n == "" {
			n = v
		}
		p, err := digestPath(d.Digest)
		if err != nil {
			return err
		}
		var m ociManifest
		if err := readJSON(fsys, p, &m); err != nil {
			return err
		}
		if len(m.Manifests) > 0 || strings.Contains(d.MediaType, "index") || strings.Contains(d.MediaType, "manifest.list") {
			if err := ociImages(fsys, ociIndex{Manifests: m.Manifests}, n, out, depth+1); err != nil {
				return err
			}
			continue
		}
		if m.Config.Digest == "" {
			continue // an attestation or artifact without an image config
		}
		cp, err := digestPath(m.Config.Digest)
		if err != nil {
			return err
		}
		ref := imageRef{name: n, config: cp, configDigest: m.Config.Digest}
		for _, l := range m.Layers {
			lp, err := digestPath(l.Digest)
			if err != nil {
				return err
			}
			ref.layers = append(ref.layers, layerRef{path: lp, digest: l.Digest})
		}
		*out = append(*out, ref)
	}
	return nil
}

// digestPath is where a layout keeps a blob: blobs/<alg>/<hex>.
func digestPath(d string) (string, error) {
	alg, hexd, ok := strings.Cut(d, ":")
	if !ok || alg == "" || hexd == "" || strings.ContainsAny(d, "/\\") {
		return "", fmt.Errorf("bad digest %q", d)
	}
	return "blobs/" + alg + "/" + hexd, nil
}

// blobDigest is the digest a blob path names ("blobs/sha256/<hex>"), or ""
// for the legacy docker layout ("<id>/layer.tar").
func blobDigest(p string) string {
	if rest, ok := strings.CutPrefix(p, "blobs/"); ok {
		if alg, hexd, ok := strings.Cut(rest, "/"); ok && !strings.Contains(hexd, "/") {
			return alg + ":" + hexd
		}
	}
	return ""
}

func readJSON(fsys imageFS, name string, v any) error {
	data, err := readSmall(fsys, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func readSmall(fsys imageFS, name string) ([]byte, error) {
	rc, size, err := fsys.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > imageMaxJSON {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d", name, size, imageMaxJSON)
	}
	return io.ReadAll(io.LimitReader(rc, imageMaxJSON))
}

// imageConfig is the part of an image config that is scanned.
type imageConfig struct {
	Config struct {
		Env        []string          `json:"Env"`
		Cmd        []string          `json:"Cmd"`
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	History []struct {
		CreatedBy string `json:"created_by"`
	} `json:"history"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// scanImage scans every image of a layout. base is the location of the
// tarball or directory (Path "" for a directory scanned as the root).
func (s *run) scanImage(ctx context.Context, fsys imageFS, base aicred.Location) error {
	refs, err := images(fsys)
	if err != nil {
		s.warn(displayPath(base.Path), fmt.Errorf("source: malformed container image %s: %w", displayPath(base.Path), err))
		return nil
	}
	base = withKind(base, aicred.SourceArchive)
	prefix := ""
	if base.Path != "" {
		prefix = base.Path + "!"
	}
	done := map[string]bool{} // configs and layers already scanned
	layers := map[string]*layerIndex{}
	for _, ref := range refs {
		cfg, data, err := s.readConfig(fsys, ref, prefix)
		if err != nil {
			return err
		}
		if ref.configDigest == "" && data != nil {
			sum := sha256.Sum256(data)
			ref.configDigest = "sha256:" + hex.EncodeToString(sum[:])
		}
		if ref.name == "" {
			ref.name = ref.configDigest
		}
		for i := range ref.layers {
			if ref.layers[i].digest == "" {
				if i < len(cfg.RootFS.DiffIDs) {
					ref.layers[i].digest = cfg.RootFS.DiffIDs[i]
				} else {
					ref.layers[i].digest = ref.layers[i].path
				}
			}
		}
		loc := base
		loc.Image = ref.name
		if !done[ref.config] && data != nil {
			done[ref.config] = true
			loc.Path = prefix + ref.config
			if err := s.scanConfig(ctx, loc, cfg); err != nil {
				return err
			}
		}
		// Top layer first: an upper layer's whiteouts and files are known
		// before the lower layers' files they remove.
		var hid hidden
		for i := len(ref.layers) - 1; i >= 0; i-- {
			l := ref.layers[i]
			li := layers[l.path]
			if li == nil {
				li = &layerIndex{}
				layers[l.path] = li
				loc.Path, loc.Layer = prefix+l.path, l.digest
				if err := s.scanLayer(ctx, fsys, l, loc, li, &hid); err != nil {
					return err
				}
			}
			hid.add(li, l.digest)
		}
	}
	return nil
}

func (s *run) readConfig(fsys imageFS, ref imageRef, prefix string) (imageConfig, []byte, error) {
	var cfg imageConfig
	data, err := readSmall(fsys, ref.config)
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		s.warn(prefix+ref.config, fmt.Errorf("source: image config %s%s: %w", prefix, ref.config, err))
		return cfg, nil, nil
	}
	return cfg, data, nil
}

// scanConfig scans the config's Env, Cmd, Entrypoint, Labels and history,
// one line per item, so that a finding's line is the item's index plus one.
func (s *run) scanConfig(ctx context.Context, loc aicred.Location, cfg imageConfig) error {
	labels := make([]string, 0, len(cfg.Config.Labels))
	for k, v := range cfg.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	history := make([]string, len(cfg.History))
	for i, h := range cfg.History {
		history[i] = strings.ReplaceAll(h.CreatedBy, "\n", " ")
	}
	for _, part := range []struct {
		locator string
		lines   []string
	}{
		{"config Env", cfg.Config.Env},
		{"config Entrypoint", []string{strings.Join(cfg.Config.Entrypoint, " ")}},
		{"config Cmd", []string{strings.Join(cfg.Config.Cmd, " ")}},
		{"config Labels", labels},
		{"history created_by", history},
	} {
		text := strings.Join(part.lines, "\n")
		if strings.TrimSpace(text) == "" {
			continue
		}
		l := loc
		l.Locator = part.locator
		if err := s.emit(ctx, l, []byte(text)); err != nil {
			return err
		}
	}
	return nil
}

// A layerIndex is what a layer removes from the layers below it: the paths
// it holds (a file replaces a file or a directory) and its whiteouts.
type layerIndex struct {
	paths  []string // files and whiteout targets: hide the path and all below
	opaque []string // directories made opaque: hide all below
}

// hidden is what the layers above the current one remove, each path with
// the lowest such layer: the one that removed it first.
type hidden struct {
	paths, opaque map[string]string
}

func (h *hidden) add(li *layerIndex, digest string) {
	if h.paths == nil {
		h.paths, h.opaque = map[string]string{}, map[string]string{}
	}
	for _, p := range li.paths {
		h.paths[p] = digest
	}
	for _, p := range li.opaque {
		h.opaque[p] = digest
	}
}

// by returns the layer that removes name, or "".
func (h *hidden) by(name string) string {
	if h.paths == nil {
		return ""
	}
	if d, ok := h.paths[name]; ok {
		return d
	}
	for p := name; ; {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return h.opaque[""]
		}
		p = p[:i]
		if d, ok := h.opaque[p]; ok {
			return d
		}
		if d, ok := h.paths[p]; ok {
			return d
		}
	}
}

// scanLayer scans one layer's files, gzip or uncompressed, and fills li.
func (s *run) scanLayer(ctx context.Context, fsys imageFS, l layerRef, loc aicred.Location, li *layerIndex, hid *hidden) error {
	rc, size, err := fsys.open(l.path)
	if err != nil {
		s.warn(loc.Path, fmt.Errorf("source: image layer %s: %w", loc.Path, err))
		return nil
	}
	defer rc.Close()
	// A layer's size is known; a compressed one may expand, within bounds.
	b := &budget{left: max(s.MaxArchiveBytes, 32*size)}
	br := bufio.NewReaderSize(rc, 64<<10)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case len(magic) >= 3 && magic[0] == 0x1f && magic[1] == 0x8b && magic[2] == 8:
		gz, err := gzip.NewReader(br)
		if err != nil {
			s.warn(loc.Path, fmt.Errorf("source: image layer %s: %w", loc.Path, err))
			return nil
		}
		defer gz.Close()
		r = gz
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		s.warn(loc.Path, fmt.Errorf("source: image layer %s is zstd-compressed, which aicred does not read; skipped", loc.Path))
		return nil
	}
	tr := tar.NewReader(&limited{r: r, b: b})
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if errors.Is(err, errBudget) {
				s.warn(loc.Path, fmt.Errorf("source: image layer %s: expanded size limit reached, rest skipped", loc.Path))
				return nil
			}
			s.warn(loc.Path, fmt.Errorf("source: malformed image layer %s: %w", loc.Path, err))
			return nil
		}
		name := cleanMember(hdr.Name)
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if target, ok := strings.CutPrefix(base, ".wh."); ok {
			if target == ".wh..opq" {
				li.opaque = append(li.opaque, dir)
			} else if target != "" {
				li.paths = append(li.paths, path.Join(dir, target))
			}
			continue
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		li.paths = append(li.paths, name)
		switch hdr.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		default:
			continue
		}
		if s.excluded(name) {
			continue
		}
		m := &entry{loc: loc, name: name, r: tr, depth: 1, budget: b}
		m.loc.Path = loc.Path + "!" + name
		m.loc.RemovedIn = hid.by(name)
		if err := s.scan(ctx, m); err != nil {
			if errors.Is(err, errBudget) {
				s.warn(loc.Path, fmt.Errorf("source: image layer %s: expanded size limit reached, rest skipped", loc.Path))
				return nil
			}
			return err
		}
	}
}
