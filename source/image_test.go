package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred"
)

// A testLayer is a layer's files, in order; a name ending in "/" is a
// directory, a ".wh." name a whiteout.
type testLayer struct {
	files [][2]string
	gzip  bool
}

type testImage struct {
	tag     string
	env     []string
	cmd     []string
	labels  map[string]string
	history []string
	layers  []testLayer
}

func tarBytes(t testing.TB, files [][2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		hdr := &tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f[0], "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobName(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layout returns the files of an image layout holding img, in the order
// the tools write them (manifests last), and the layer digests bottom first.
func layout(t testing.TB, img testImage, oci bool) (files [][2]string, layers []string) {
	t.Helper()
	var diffIDs []string
	var descs []map[string]any
	for _, l := range img.layers {
		raw := tarBytes(t, l.files)
		blob, mt := raw, "application/vnd.oci.image.layer.v1.tar"
		if l.gzip {
			blob, mt = gzipBytes(t, raw), mt+"+gzip"
		}
		d := digestOf(blob)
		diffIDs = append(diffIDs, digestOf(raw))
		layers = append(layers, d)
		files = append(files, [2]string{blobName(d), string(blob)})
		descs = append(descs, map[string]any{"mediaType": mt, "digest": d, "size": len(blob)})
	}
	var hist []map[string]string
	for _, h := range img.history {
		hist = append(hist, map[string]string{"created_by": h})
	}
	cfg := mustJSON(t, map[string]any{
		"architecture": "amd64", "os": "linux",
		"config":  map[string]any{"Env": img.env, "Cmd": img.cmd, "Labels": img.labels},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": hist,
	})
	cd := digestOf(cfg)
	files = append(files, [2]string{blobName(cd), string(cfg)})
	if oci {
		man := mustJSON(t, map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
			"layers": descs,
		})
		md := digestOf(man)
		ann := map[string]string{}
		if img.tag != "" {
			ann["io.containerd.image.name"] = img.tag
		}
		files = append(files,
			[2]string{blobName(md), string(man)},
			[2]string{"index.json", string(mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{
				"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man), "annotations": ann,
			}}}))},
			[2]string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`})
		return files, layers
	}
	var names []string
	for _, d := range layers {
		names = append(names, blobName(d))
	}
	tags := []string{}
	if img.tag != "" {
		tags = append(tags, img.tag)
	}
	files = append(files, [2]string{"manifest.json", string(mustJSON(t, []map[string]any{{
		"Config": blobName(cd), "RepoTags": tags, "Layers": names,
	}}))})
	return files, layers
}

// imageHits scans path with the collector and returns its hits and the
// locations' image fields, keyed by path.
type imageHit struct {
	hit
	Image, Layer, RemovedIn string
}

type imageCollector struct {
	*collector
	mu   sync.Mutex
	locs map[string]aicred.Location
}

func (c *imageCollector) handle(ctx context.Context, ch *Chunk) error {
	if bytes.Contains(ch.Data, []byte(marker)) {
		c.mu.Lock()
		k := ch.Path
		if ch.Locator != "" {
			k += "#" + ch.Locator
		}
		c.locs[k] = ch.Location
		c.mu.Unlock()
	}
	return c.collector.handle(ctx, ch)
}

func scanImageAt(t *testing.T, root string) (*imageCollector, []hit) {
	t.Helper()
	c := &imageCollector{collector: newCollector(t), locs: map[string]aicred.Location{}}
	if err := Walk(context.Background(), root, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	return c, c.sorted()
}

func sampleImage() testImage {
	return testImage{
		tag: "example.com/app:1.0",
		env: []string{"PATH=/usr/bin", "TOKEN=" + marker},
		cmd: []string{"python", "app.py", "--key=" + marker},
		labels: map[string]string{
			"maintainer": "me", "build.secret": marker,
		},
		history: []string{
			"/bin/sh -c #(nop) ADD file:abc in /",
			"|1 API_KEY=" + marker + " /bin/sh -c pip install -r requirements.txt",
		},
		layers: []testLayer{
			{files: [][2]string{{"app/", ""}, {"app/.env", "A=" + marker + "\n"}, {"app/keep.txt", "x " + marker}, {"etc/secret/", ""}, {"etc/secret/k", marker}, {"bin/tool", "\x00\x01" + marker}}},
			{gzip: true, files: [][2]string{{"app/.wh..env", ""}, {"app/keep.txt", "clean"}, {"etc/secret/.wh..wh..opq", ""}, {"usr/lib/new.py", "k = '" + marker + "'\n"}}},
			{files: [][2]string{{"srv/", ""}, {"srv/conf", "\n\n" + marker}}},
		},
	}
}

// TestImageLayers: docker save and OCI layouts, as tarballs and as
// directories, yield every layer's files with whiteouts honoured, the
// config's Env, Cmd and Labels and the build history, each with the image,
// the layer digest and the path inside the layer; files deleted, hidden or
// replaced by an upper layer are reported with the layer that removed them.
func TestImageLayers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oci, dir bool
	}{
		{"docker-save.tar", false, false},
		{"oci.tar", true, false},
		{"docker-dir", false, true},
		{"oci-dir", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := sampleImage()
			files, layers := layout(t, img, tc.oci)
			root := filepath.Join(t.TempDir(), "img.tar")
			prefix := filepath.ToSlash(root) + "!"
			if tc.dir {
				root = filepath.Dir(root)
				prefix = ""
				for _, f := range files {
					writeTree(t, root, map[string]string{f[0]: f[1]})
				}
			} else if err := os.WriteFile(root, tarBytes(t, files), 0o644); err != nil {
				t.Fatal(err)
			}
			c, hits := scanImageAt(t, root)
			if len(c.warnings) > 0 {
				t.Errorf("warnings: %q", c.warnings)
			}
			l0, l1, l2 := prefix+blobName(layers[0]), prefix+blobName(layers[1]), prefix+blobName(layers[2])
			cfgDigest := ""
			for k := range c.locs {
				if strings.Contains(k, "#config Env") {
					cfgDigest = strings.TrimSuffix(k, "#config Env")
				}
			}
			if cfgDigest == "" {
				t.Fatalf("config Env not scanned; chunks with the marker: %v", slices.Sorted(mapsKeys(c.locs)))
			}
			got := map[string]string{}
			for _, h := range hits {
				got[h.String()] = ""
			}
			want := []string{
				l0 + "!app/.env[archive  ] 1:3",
				l0 + "!app/keep.txt[archive  ] 1:3",
				l0 + "!etc/secret/k[archive  ] 1:1",
				l1 + "!usr/lib/new.py[archive  ] 1:6",
				l2 + "!srv/conf[archive  ] 3:1",
				cfgDigest + "[archive config Env ] 2:7",
				cfgDigest + "[archive config Cmd ] 1:21",
				cfgDigest + "[archive config Labels ] 1:14",
				cfgDigest + "[archive history created_by ] 2:12",
			}
			var gotS []string
			for _, h := range hits {
				gotS = append(gotS, h.String())
			}
			sort.Strings(want)
			if !slices.Equal(gotS, want) {
				t.Errorf("hits:\n got %q\nwant %q", gotS, want)
			}
			removed := map[string]string{
				l0 + "!app/.env":       layers[1], // whiteout
				l0 + "!app/keep.txt":   layers[1], // replaced
				l0 + "!etc/secret/k":   layers[1], // opaque directory
				l1 + "!usr/lib/new.py": "",
				l2 + "!srv/conf":       "",
			}
			layerOf := map[string]string{l0: layers[0], l1: layers[1], l2: layers[2]}
			for p, by := range removed {
				loc, ok := c.locs[p]
				if !ok {
					t.Errorf("%s: not scanned", p)
					continue
				}
				if loc.RemovedIn != by {
					t.Errorf("%s: RemovedIn %q, want %q", p, loc.RemovedIn, by)
				}
				if want := layerOf[p[:strings.LastIndex(p, "!")]]; loc.Layer != want {
					t.Errorf("%s: Layer %q, want %q", p, loc.Layer, want)
				}
				if loc.Image != img.tag {
					t.Errorf("%s: Image %q, want %q", p, loc.Image, img.tag)
				}
			}
			if loc := c.locs[cfgDigest+"#config Env"]; loc.Image != img.tag || loc.Layer != "" {
				t.Errorf("config location %+v", loc)
			}
		})
	}
}

func mapsKeys(m map[string]aicred.Location) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestImageUntagged: an image without a repo tag is named by its config
// digest.
func TestImageUntagged(t *testing.T) {
	img := testImage{env: []string{"K=" + marker}, layers: []testLayer{{files: [][2]string{{"a", marker}}}}}
	files, _ := layout(t, img, false)
	var cfg string
	for _, f := range files {
		if strings.Contains(f[1], `"rootfs"`) {
			cfg = digestOf([]byte(f[1]))
		}
	}
	root := filepath.Join(t.TempDir(), "untagged.tar")
	if err := os.WriteFile(root, tarBytes(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	c, hits := scanImageAt(t, root)
	if len(hits) != 2 {
		t.Fatalf("hits %v", hits)
	}
	for k, loc := range c.locs {
		if loc.Image != cfg {
			t.Errorf("%s: Image %q, want config digest %q", k, loc.Image, cfg)
		}
	}
}

// TestImageNotImage: a tar or directory with a manifest.json that is not
// an image's (a web app's) is scanned as plain content, once.
func TestImageNotImage(t *testing.T) {
	files := [][2]string{{"manifest.json", `{"name":"app","icons":[]}`}, {"src/a.js", marker}}
	root := filepath.Join(t.TempDir(), "web.tar")
	if err := os.WriteFile(root, tarBytes(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	_, hits := scanImageAt(t, root)
	if got := paths(hits); !slices.Equal(got, []string{filepath.ToSlash(root) + "!src/a.js"}) {
		t.Errorf("paths %q", got)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"manifest.json": `[{"Config":"missing.json","Layers":[]}]`, "x.txt": marker})
	_, hits = scanImageAt(t, dir)
	if got := paths(hits); !slices.Equal(got, []string{"x.txt"}) {
		t.Errorf("dir paths %q", got)
	}
}

// TestImageMalformed: a broken layer or config is a warning; the rest of
// the image is scanned.
func TestImageMalformed(t *testing.T) {
	img := testImage{tag: "x:1", layers: []testLayer{{files: [][2]string{{"ok", marker}}}, {gzip: true, files: [][2]string{{"b", marker}}}}}
	files, layers := layout(t, img, false)
	for i, f := range files {
		if f[0] == blobName(layers[1]) {
			files[i][1] = f[1][:20] // truncated gzip
		}
	}
	root := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(root, tarBytes(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	c, hits := scanImageAt(t, root)
	if len(hits) != 1 || !strings.HasSuffix(hits[0].Path, "!ok") {
		t.Errorf("hits %v", hits)
	}
	if !c.warned("image layer") {
		t.Errorf("no warning for the broken layer: %q", c.warnings)
	}
}

// FuzzImageLayout: manifests, indexes and configs from anywhere never
// panic the reader.
func FuzzImageLayout(f *testing.F) {
	f.Add(`[{"Config":"c.json","RepoTags":["a:b"],"Layers":["l.tar"]}]`, `{"config":{"Env":["A=B"]},"history":[{"created_by":"x"}]}`, true)
	f.Add(`{"manifests":[{"digest":"sha256:00"}]}`, `{"layers":[{"digest":"sha256:01"}],"config":{"digest":"sha256:02"}}`, false)
	f.Fuzz(func(t *testing.T, manifest, blob string, docker bool) {
		files := [][2]string{{"c.json", blob}, {"l.tar", blob}, {"blobs/sha256/00", blob}, {"blobs/sha256/01", blob}, {"blobs/sha256/02", blob}}
		if docker {
			files = append(files, [2]string{"manifest.json", manifest})
		} else {
			files = append(files, [2]string{"index.json", manifest}, [2]string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`})
		}
		root := filepath.Join(t.TempDir(), "f.tar")
		if err := os.WriteFile(root, tarBytes(t, files), 0o644); err != nil {
			t.Fatal(err)
		}
		c := newCollector(t)
		if err := Walk(context.Background(), root, c.opts(Options{}), c.handle); err != nil {
			t.Fatal(err)
		}
	})
}
