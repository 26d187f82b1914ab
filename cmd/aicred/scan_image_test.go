package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"
)

// imageTar builds a docker save tarball (new layout: blobs/sha256) of one
// image tagged tag, with the given config Env, history and layers (each a
// list of name, content pairs; the second layer is gzip-compressed). It
// returns the tarball and the layer digests.
func imageTar(t *testing.T, tag string, env, history []string, layers [][][2]string) ([]byte, []string) {
	t.Helper()
	tarOf := func(files [][2]string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, f := range files {
			if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
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
	digest := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	var files [][2]string
	var names, digests []string
	for i, l := range layers {
		blob := tarOf(l)
		if i == 1 {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(blob)
			zw.Close()
			blob = z.Bytes()
		}
		d := digest(blob)
		digests = append(digests, "sha256:"+d)
		names = append(names, "blobs/sha256/"+d)
		files = append(files, [2]string{"blobs/sha256/" + d, string(blob)})
	}
	var hist []map[string]string
	for _, h := range history {
		hist = append(hist, map[string]string{"created_by": h})
	}
	cfg, _ := json.Marshal(map[string]any{"config": map[string]any{"Env": env}, "history": hist})
	cd := digest(cfg)
	files = append(files, [2]string{"blobs/sha256/" + cd, string(cfg)})
	man, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + cd, "RepoTags": []string{tag}, "Layers": names}})
	files = append(files, [2]string{"manifest.json", string(man)})
	return tarOf(files), digests
}

// TestScanImage: aicred scan IMAGE.tar finds a key in two layers (deleted
// from the second by the third) and in a build argument, reports it once
// with all its places in text, one finding per place sharing a fingerprint
// in JSON (valid against the schema), and image fields in SARIF.
func TestScanImage(t *testing.T) {
	key, forms := canary(41)
	img, layers := imageTar(t, "registry.example/app:2", []string{"PATH=/bin"},
		[]string{"|1 ANTHROPIC_API_KEY=" + key + " /bin/sh -c make"},
		[][][2]string{
			{{"app/.env", "ANTHROPIC_API_KEY=" + key + "\n"}},
			{{"srv/app.env", "ANTHROPIC_API_KEY=" + key + "\n"}},
			{{"srv/.wh.app.env", ""}},
		})
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	writeFile(t, p, string(img))

	r := runCLI(t, "", "scan", p)
	if r.code != exitFindings {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertNoLeak(t, "text", forms, r.stdout, r.stderr)
	if n := strings.Count(r.stdout, "kind:"); n != 1 {
		t.Errorf("text lists %d credentials, want 1:\n%s", n, r.stdout)
	}
	for _, want := range []string{
		"!app/.env:1:19 in image registry.example/app:2 layer " + layers[0][:19],
		"!srv/app.env:1:19 in image registry.example/app:2 layer " + layers[1][:19] + ", removed in layer " + layers[2][:19],
		"(history created_by) in image registry.example/app:2",
		"1 credential in 3 places",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runCLI(t, "", "scan", "--format", "json", p)
	assertNoLeak(t, "json", forms, r.stdout, r.stderr)
	schema, err := filepath.Abs(filepath.Join(repoRoot, "schema", "scan-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader("file://"+filepath.ToSlash(schema)), gojsonschema.NewStringLoader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("report does not match the schema: %v", res.Errors())
	}
	var rep struct {
		Summary  struct{ Findings, Credentials int }
		Findings []struct {
			Fingerprint, Path, Image, Layer, Locator string
			RemovedIn                                string `json:"removed_in"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Findings != 3 || rep.Summary.Credentials != 1 {
		t.Errorf("summary %+v, want 3 findings of 1 credential", rep.Summary)
	}
	removed := 0
	for _, f := range rep.Findings {
		if f.Fingerprint != rep.Findings[0].Fingerprint || f.Image != "registry.example/app:2" {
			t.Errorf("finding %+v", f)
		}
		if f.Layer == "" && f.Locator != "history created_by" {
			t.Errorf("finding without a layer outside the config: %+v", f)
		}
		if f.RemovedIn == layers[2] {
			removed++
		}
	}
	if removed != 1 {
		t.Errorf("%d findings removed in the top layer, want 1", removed)
	}

	r = runCLI(t, "", "scan", "--format", "sarif", p)
	assertNoLeak(t, "sarif", forms, r.stdout, r.stderr)
	if !strings.Contains(r.stdout, `"removed_in": "`+layers[2]+`"`) || !strings.Contains(r.stdout, `"image": "registry.example/app:2"`) {
		t.Errorf("sarif lacks the image properties:\n%s", r.stdout)
	}
}
