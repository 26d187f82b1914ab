package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	docsHost = "docs-abc1234.svc.aped-4627-b74a.pinecone.io"
	roHost   = "ro-abc1234.svc.aped-4627-b74a.pinecone.io"
)

// pineconeServer answers as Pinecone does, told apart by Host: the
// control plane (api.pinecone.io, here the test server's own address)
// lists and describes indexes with their data-plane hosts; a data-plane
// host answers upsert, query, fetch and stats. Api-Key carries the key.
func pineconeServer(t *testing.T, key string) *mlServer {
	return newMLServer(t, true, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Api-Key") != key {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"UNAUTHENTICATED","message":"Invalid API Key"},"status":401}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		host := r.Host
		switch {
		case strings.HasSuffix(host, ".pinecone.io"):
			switch r.URL.Path {
			case "/vectors/upsert":
				io.WriteString(w, `{"upsertedCount":2}`)
			case "/query":
				fmt.Fprintf(w, `{"matches":[{"id":"v1","score":0.9}],"namespace":"","usage":{"readUnits":5},"echo":%q}`, r.Header.Get("Api-Key"))
			case "/vectors/fetch":
				io.WriteString(w, `{"vectors":{"v1":{"id":"v1","values":[0.1,0.2]}},"namespace":""}`)
			case "/describe_index_stats":
				io.WriteString(w, `{"namespaces":{"":{"vectorCount":2}},"dimension":2,"indexFullness":0,"totalVectorCount":2}`)
			default:
				w.WriteHeader(404)
			}
		case r.URL.Path == "/indexes" && r.Method == "GET":
			fmt.Fprintf(w, `{"indexes":[{"name":"docs","dimension":2,"metric":"cosine","host":%q,"status":{"ready":true,"state":"Ready"}},{"name":"ro","host":%q},{"name":"secret","host":"secret-abc1234.svc.aped-4627-b74a.pinecone.io"}]}`, docsHost, roHost)
		case r.URL.Path == "/indexes/docs":
			fmt.Fprintf(w, `{"name":"docs","dimension":2,"metric":"cosine","host":%q,"spec":{"serverless":{"cloud":"aws","region":"us-east-1"}},"status":{"ready":true,"state":"Ready"}}`, docsHost)
		case r.URL.Path == "/indexes" && r.Method == "POST":
			w.WriteHeader(201)
			io.WriteString(w, `{"name":"docs","host":"docs-abc1234.svc.aped-4627-b74a.pinecone.io"}`)
		default:
			w.WriteHeader(404)
		}
	})
}

// Pinecone: the control plane lists (filtered to the readable indexes)
// and describes indexes, teaching the gateway their data-plane hosts;
// data-plane calls go to those hosts only, scoped by the index each
// serves. Another host, one not learned, a disallowed index and a write
// to a read-only one never reach Pinecone.
func TestPineconeControlAndDataPlane(t *testing.T) {
	var srv *mlServer
	m := newMLFix(t, 1305, nil, nil)
	srv = pineconeServer(t, m.keys["pinecone"])
	m.gw.upstreams["pinecone"] = mustURL(t, srv.URL)
	m.gw.proxy.Transport = toTLS(srv.Server)
	n := 0
	ok := func(method, path, body string) []byte {
		t.Helper()
		resp, b := m.do(t, method, path, []byte(body), "Api-Key", m.tok, "Authorization", "", "X-Pinecone-Api-Version", "2025-04")
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		n++
		return b
	}
	// Before any describe, the data-plane host is unknown.
	m.refused(t, srv, "POST", "/pinecone/index/"+docsHost+"/query", []byte(`{"topK":1,"vector":[0.1,0.2]}`), "Api-Key", m.tok, "Authorization", "")
	list := ok("GET", "/pinecone/indexes", "")
	var l struct {
		Indexes []struct{ Name string } `json:"indexes"`
	}
	if json.Unmarshal(list, &l) != nil || len(l.Indexes) != 2 || l.Indexes[0].Name != "docs" || l.Indexes[1].Name != "ro" {
		t.Fatalf("list: %s", list)
	}
	ok("GET", "/pinecone/indexes/docs", "")
	m.lastRecord(t, n, "pinecone", "vectors", "docs")
	ok("POST", "/pinecone/index/"+docsHost+"/vectors/upsert", `{"vectors":[{"id":"v1","values":[0.1,0.2]},{"id":"v2","values":[0.3,0.4]}],"namespace":""}`)
	ok("POST", "/pinecone/index/"+docsHost+"/query", `{"topK":1,"vector":[0.1,0.2],"includeValues":false}`)
	ok("GET", "/pinecone/index/"+docsHost+"/vectors/fetch?ids=v1&namespace=&evil=1", "")
	ok("POST", "/pinecone/index/"+roHost+"/describe_index_stats", `{}`)
	m.lastRecord(t, n, "pinecone", "vectors", "ro")
	var dataCalls int
	for _, c := range srv.Calls() {
		if c.path == "/vectors/upsert" {
			dataCalls++
		}
		if strings.Contains(c.query, "evil") {
			t.Fatal("an unlisted query parameter reached Pinecone")
		}
		if c.header.Get("X-Pinecone-Api-Version") != "2025-04" {
			t.Fatalf("%s: the API version header was not forwarded", c.path)
		}
	}
	if dataCalls != 1 {
		t.Fatalf("upserts reaching the data plane: %d", dataCalls)
	}

	for _, c := range []struct{ method, path, body string }{
		{"POST", "/pinecone/index/" + roHost + "/vectors/upsert", `{"vectors":[]}`},
		{"POST", "/pinecone/index/secret-abc1234.svc.aped-4627-b74a.pinecone.io/query", `{"topK":1}`},
		{"POST", "/pinecone/index/evil.example.com/query", `{"topK":1}`},
		{"POST", "/pinecone/index/docs-abc1234.svc.aped-4627-b74a.pinecone.io.evil.com/query", `{"topK":1}`},
		{"GET", "/pinecone/indexes/secret", ``},
		{"DELETE", "/pinecone/indexes/ro", ``},
		{"POST", "/pinecone/indexes", `{"name":"other","dimension":2,"metric":"cosine","spec":{}}`},
	} {
		m.refused(t, srv, c.method, c.path, []byte(c.body), "Api-Key", m.tok, "Authorization", "")
	}
}

// qdrantServer answers as Qdrant's REST API does, with api-key auth.
func qdrantServer(t *testing.T, key string) *mlServer {
	return newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Api-Key") != key {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"status":{"error":"Invalid api-key"},"time":0}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case p == "/collections":
			io.WriteString(w, `{"result":{"collections":[{"name":"coll-a"},{"name":"secret"}]},"status":"ok","time":0.0001}`)
		case strings.HasSuffix(p, "/points/search"), strings.HasSuffix(p, "/points/query"):
			io.WriteString(w, `{"result":[{"id":1,"version":0,"score":0.9}],"status":"ok","time":0.001}`)
		default:
			io.WriteString(w, `{"result":{"operation_id":1,"status":"completed"},"status":"ok","time":0.001}`)
		}
	})
}

// Qdrant: collections and their points, read or written as the role's
// indexes say; the listing is filtered.
func TestQdrantScopedByCollection(t *testing.T) {
	m := newMLFix(t, 1306, nil, func(c *Config) { c.MLStack.QdrantCredential = "qdrant" })
	srv := qdrantServer(t, m.keys["qdrant"])
	m.gw.upstreams["qdrant"] = mustURL(t, srv.URL)
	n := 0
	ok := func(method, path, body string) []byte {
		t.Helper()
		resp, b := m.do(t, method, path, []byte(body), "Api-Key", m.tok, "Authorization", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		n++
		return b
	}
	ok("PUT", "/qdrant/collections/coll-a", `{"vectors":{"size":2,"distance":"Cosine"}}`)
	ok("PUT", "/qdrant/collections/coll-a/points?wait=true", `{"points":[{"id":1,"vector":[0.1,0.2],"payload":{"t":"x"}}]}`)
	ok("POST", "/qdrant/collections/coll-a/points/search", `{"vector":[0.1,0.2],"limit":1}`)
	ok("POST", "/qdrant/collections/ro/points/query", `{"query":[0.1,0.2],"limit":1}`)
	m.lastRecord(t, n, "qdrant", "vectors", "ro")
	list := ok("GET", "/qdrant/collections", "")
	if !strings.Contains(string(list), "coll-a") || strings.Contains(string(list), "secret") {
		t.Fatalf("list not filtered: %s", list)
	}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/qdrant/collections/secret/points", `{"points":[]}`},
		{"POST", "/qdrant/collections/secret/points/search", `{"limit":1}`},
		{"PUT", "/qdrant/collections/ro/points", `{"points":[]}`},
		{"POST", "/qdrant/collections/ro/points/delete", `{"points":[1]}`},
		{"DELETE", "/qdrant/collections/ro", ``},
		{"POST", "/qdrant/collections/aliases", `{"actions":[]}`},
	} {
		m.refused(t, srv, c.method, c.path, []byte(c.body), "Api-Key", m.tok, "Authorization", "")
	}
}
