package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// hubServer answers as the Hub documents: resolve serves small files
// itself and redirects LFS/Xet files to the content host with a signed
// URL (302, X-Linked-Size, X-Linked-Etag); a renamed repository answers
// a relative 307; the API answers repository information, preupload,
// LFS batch (with upload actions naming the storage host and a verify
// action back on the Hub), commit and create.
func hubServer(t *testing.T, key string, cdn, storage string) *mlServer {
	return newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			http.Error(w, `{"error":"Repository Not Found"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Request-Id", "Root=1-hub")
		p := r.URL.Path
		switch {
		case p == "/acme/bert/resolve/main/config.json":
			w.Header().Set("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
			w.Header().Set("ETag", `"cfg"`)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"hidden_size":768}`)
		case p == "/acme/bert/resolve/main/model.safetensors", p == "/datasets/acme/corpus/resolve/refs/pr/1/data/train.parquet":
			w.Header().Set("X-Linked-Size", "1048576")
			w.Header().Set("X-Linked-Etag", `"sha256-abc"`)
			w.Header().Set("Location", cdn+"/repos/ab/cd/sha256?X-Amz-Signature=sig&X-Amz-Expires=3600")
			w.WriteHeader(http.StatusFound)
		case p == "/acme/old-name/resolve/main/config.json":
			w.Header().Set("Location", "/acme/bert/resolve/main/config.json")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case p == "/api/models/acme/bert" || p == "/api/models/acme/bert/revision/main":
			fmt.Fprintf(w, `{"id":"acme/bert","sha":"0123","private":true,"siblings":[{"rfilename":"config.json"}],"echo":%q}`, r.Header.Get("Authorization"))
		case p == "/api/models/acme/bert/preupload/main":
			io.WriteString(w, `{"files":[{"path":"model.safetensors","uploadMode":"lfs","shouldIgnore":false}]}`)
		case p == "/acme/bert.git/info/lfs/objects/batch":
			var req struct {
				Operation string `json:"operation"`
				Objects   []struct {
					OID  string `json:"oid"`
					Size int64  `json:"size"`
				} `json:"objects"`
			}
			_ = json.Unmarshal(body, &req)
			w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
			o := req.Objects[0]
			fmt.Fprintf(w, `{"transfer":"basic","objects":[{"oid":%q,"size":%d,"authenticated":true,"actions":{"upload":{"href":%q,"expires_at":"2030-01-01T00:00:00Z"},"verify":{"href":"https://huggingface.co/acme/bert.git/info/lfs/objects/verify","header":{}}}}]}`,
				o.OID, o.Size, storage+"/upload/"+o.OID+"?X-Amz-Signature=sig")
		case p == "/acme/bert.git/info/lfs/objects/verify":
			io.WriteString(w, `{"message":"ok"}`)
		case p == "/api/models/acme/bert/commit/main":
			io.WriteString(w, `{"commitUrl":"https://huggingface.co/acme/bert/commit/89ab","commitOid":"89ab","pullRequestUrl":null}`)
		case p == "/api/repos/create":
			io.WriteString(w, `{"url":"https://huggingface.co/acme/new-model","name":"acme/new-model","id":"66"}`)
		default:
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, `{"error":"Entry not found"}`, http.StatusNotFound)
		}
	})
}

// A download through the gateway: small files come back as the Hub sends
// them; a large one's 302 to the content host is passed on as it is, the
// client follows it itself, and the content host never sees the held
// token (nor is it called by the gateway).
func TestHubDownloadRedirectNeverCarriesTheHeldToken(t *testing.T) {
	cdn := newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, "SAFETENSORS-BYTES")
	})
	var m *mlFix
	var hub *mlServer
	m = newMLFix(t, 1301, nil, func(c *Config) {})
	hub = hubServer(t, m.keys["huggingface"], cdn.URL, "")
	m.gw.upstreams["huggingface-hub"] = mustURL(t, hub.URL)

	resp, body := m.do(t, "GET", "/hf/acme/bert/resolve/main/config.json", nil)
	if resp.StatusCode != 200 || string(body) != `{"hidden_size":768}` || resp.Header.Get("X-Repo-Commit") == "" {
		t.Fatalf("small file: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	m.lastRecord(t, 1, "huggingface", "registry", "acme/bert")

	for i, path := range []string{"/hf/acme/bert/resolve/main/model.safetensors", "/hf/datasets/acme/corpus/resolve/refs%2Fpr%2F1/data/train.parquet"} {
		for _, method := range []string{"HEAD", "GET"} {
			resp, _ = m.do(t, method, path, nil)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, cdn.URL+"/repos/") || resp.Header.Get("X-Linked-Size") != "1048576" {
				t.Fatalf("%s %s: %d Location %q, want the Hub's 302 to the content host as it is", method, path, resp.StatusCode, loc)
			}
		}
		_ = i
	}
	// The revision "refs/pr/1" reached the Hub as one escaped segment.
	var sawPR bool
	for _, c := range hub.Calls() {
		sawPR = sawPR || strings.Contains(c.rawPath, "/resolve/refs%2Fpr%2F1/")
	}
	if !sawPR {
		t.Fatal("the revision was not forwarded as one escaped segment")
	}
	if n := len(cdn.Calls()); n != 0 {
		t.Fatalf("the gateway followed a redirect: the content host was called %d times", n)
	}
	// A client that follows the redirect as huggingface_hub does (it
	// drops its authorization header when the content is on another
	// host) gets the bytes; the content host never sees the held token.
	req, _ := http.NewRequest("GET", m.srv.URL+"/hf/acme/bert/resolve/main/model.safetensors", nil)
	req.Header.Set("Authorization", "Bearer "+m.tok)
	follow := &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Host != via[0].URL.Host {
			r.Header.Del("Authorization")
		}
		return nil
	}}
	fresp, err := follow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(fresp.Body)
	fresp.Body.Close()
	if string(got) != "SAFETENSORS-BYTES" {
		t.Fatalf("followed download: %q", got)
	}
	for _, c := range cdn.Calls() {
		if strings.Contains(headerText(c.header)+c.query, m.keys["huggingface"]) {
			t.Fatal("the content host received the held token")
		}
	}
	// A relative redirect (a renamed repository) stays under the mount.
	resp, _ = m.do(t, "GET", "/hf/acme/old-name/resolve/main/config.json", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || loc != "/hf/acme/bert/resolve/main/config.json" {
		t.Fatalf("relative redirect: %d %q", resp.StatusCode, loc)
	}
	// Every call reached the Hub with the held token, none with another.
	for _, c := range hub.Calls() {
		if c.header.Get("Authorization") != "Bearer "+m.keys["huggingface"] {
			t.Fatalf("%s %s: the Hub did not get the held token", c.method, c.path)
		}
	}
}

// Uploads: preupload, the LFS batch (whose upload action the client
// follows to the storage host directly), verify and commit; then
// repository creation. Reads, writes and repositories out of the role's
// grants are refused before the Hub sees them.
func TestHubUploadAndScope(t *testing.T) {
	storage := newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(200) })
	m := newMLFix(t, 1302, nil, nil)
	hub := hubServer(t, m.keys["huggingface"], "", storage.URL)
	m.gw.upstreams["huggingface-hub"] = mustURL(t, hub.URL)
	n := 0
	ok := func(method, path, body string, hdr ...string) []byte {
		t.Helper()
		resp, b := m.do(t, method, path, []byte(body), hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		n++
		return b
	}
	info := ok("GET", "/hf/api/models/acme/bert?expand=siblings&evil=1", "")
	if !strings.Contains(string(info), `"acme/bert"`) {
		t.Fatalf("model info: %s", info)
	}
	m.lastRecord(t, n, "huggingface", "registry", "acme/bert")
	ok("POST", "/hf/api/models/acme/bert/preupload/main", `{"files":[{"path":"model.safetensors","sample":"AAAA","size":4}]}`)
	batch := ok("POST", "/hf/acme/bert.git/info/lfs/objects/batch",
		`{"operation":"upload","transfers":["basic","multipart"],"objects":[{"oid":"abc123","size":4}],"hash_algo":"sha256","ref":{"name":"refs/heads/main"}}`,
		"Content-Type", "application/vnd.git-lfs+json", "Accept", "application/vnd.git-lfs+json")
	var b struct {
		Objects []struct {
			Actions struct {
				Upload struct{ Href string } `json:"upload"`
			} `json:"actions"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(batch, &b); err != nil || len(b.Objects) != 1 {
		t.Fatalf("batch answer: %s", batch)
	}
	// The client uploads to the storage host itself.
	put, _ := http.NewRequest("PUT", b.Objects[0].Actions.Upload.Href, strings.NewReader("DATA"))
	presp, err := http.DefaultClient.Do(put)
	if err != nil || presp.StatusCode != 200 {
		t.Fatalf("upload to storage: %v", err)
	}
	presp.Body.Close()
	ok("POST", "/hf/acme/bert.git/info/lfs/objects/verify", `{"oid":"abc123","size":4}`)
	ok("POST", "/hf/api/models/acme/bert/commit/main?create_pr=1",
		"{\"key\":\"header\",\"value\":{\"summary\":\"Upload model\",\"description\":\"\"}}\n{\"key\":\"lfsFile\",\"value\":{\"path\":\"model.safetensors\",\"algo\":\"sha256\",\"oid\":\"abc123\",\"size\":4}}\n",
		"Content-Type", "application/x-ndjson")
	ok("POST", "/hf/api/repos/create", `{"name":"new-model","organization":"acme","private":true}`)
	m.lastRecord(t, n, "huggingface", "registry", "acme/new-model")
	for _, c := range storage.Calls() {
		if strings.Contains(headerText(c.header)+c.query, m.keys["huggingface"]) {
			t.Fatal("the storage host received the held token")
		}
	}
	var commit mlCall
	for _, c := range hub.Calls() {
		if strings.HasSuffix(c.path, "/commit/main") {
			commit = c
		}
		if strings.Contains(c.query, "evil") {
			t.Fatalf("%s: an unlisted query parameter reached the Hub", c.path)
		}
	}
	if commit.query != "create_pr=1" || !strings.Contains(string(commit.body), `"lfsFile"`) {
		t.Fatalf("commit reached the Hub as %q %s", commit.query, commit.body)
	}

	// Out of scope: another organization, writing a read-only dataset,
	// an LFS upload to a read-only repository, creation elsewhere.
	m.refused(t, hub, "GET", "/hf/other/bert/resolve/main/config.json", nil)
	m.refused(t, hub, "GET", "/hf/api/models/other/bert", nil)
	m.refused(t, hub, "POST", "/hf/api/datasets/acme/corpus/preupload/main", []byte(`{"files":[]}`))
	m.refused(t, hub, "POST", "/hf/datasets/acme/corpus.git/info/lfs/objects/batch", []byte(`{"operation":"upload","objects":[]}`))
	m.refused(t, hub, "POST", "/hf/api/repos/create", []byte(`{"name":"x","organization":"other"}`))
	m.refused(t, hub, "POST", "/hf/api/repos/create", []byte(`{"name":"corpus","organization":"acme","type":"dataset"}`))
	m.refused(t, hub, "POST", "/hf/api/models/acme/bert/preupload/main", []byte(`{"files":[],"extra":1}`))
	// Reading the read-only dataset is fine.
	resp, _ := m.do(t, "POST", "/hf/datasets/acme/corpus.git/info/lfs/objects/batch", []byte(`{"operation":"download","objects":[]}`))
	if resp.StatusCode != http.StatusNotFound { // the local Hub has no such route; what matters is it got there
		t.Fatalf("LFS download on a readable dataset: %d", resp.StatusCode)
	}
	// Dot segments and unknown shapes never reach the Hub.
	for _, p := range []string{"/hf/acme/bert/resolve/main/..%2F..%2Fother%2Fmodel", "/hf/acme/bert/blob/main/x", "/hf/api/models/acme"} {
		before := len(hub.Calls())
		resp, _ := m.do(t, "GET", p, nil)
		if resp.StatusCode < 400 || len(hub.Calls()) != before {
			t.Fatalf("GET %s: %d, reached the Hub: %v", p, resp.StatusCode, len(hub.Calls()) != before)
		}
	}
}
