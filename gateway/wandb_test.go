package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// wandbServer answers as W&B's GraphQL endpoint does: HTTP Basic with
// user "api" and the key as password; upsertBucket answers the run,
// createRunFiles signed upload URLs on the storage host, createArtifact
// the artifact id, commitArtifact the committed state.
func wandbServer(t *testing.T, key, storage string) *mlServer {
	return newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "api" || p != key || r.URL.Path != "/graphql" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"message":"user is not logged in"}]}`)
			return
		}
		var req struct {
			Query string `json:"query"`
		}
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		switch q := req.Query; {
		case strings.Contains(q, "upsertBucket"):
			io.WriteString(w, `{"data":{"upsertBucket":{"bucket":{"id":"UnVuOnYx","name":"run1","displayName":"run1","project":{"id":"UHJvamVjdDox","name":"vision","entity":{"name":"acme"}}},"inserted":true}}}`)
		case strings.Contains(q, "createRunFiles"):
			fmt.Fprintf(w, `{"data":{"createRunFiles":{"runID":"UnVuOnYx","uploadHeaders":[],"files":[{"name":"wandb-summary.json","uploadUrl":%q}]}}}`, storage+"/wandb-upload/acme/vision/run1/wandb-summary.json?X-Goog-Signature=sig")
		case strings.Contains(q, "createArtifact"):
			io.WriteString(w, `{"data":{"createArtifact":{"artifact":{"id":"QXJ0aWZhY3Q6OTk=","state":"PENDING","digest":"d1"}}}}`)
		case strings.Contains(q, "commitArtifact"):
			io.WriteString(w, `{"data":{"commitArtifact":{"artifact":{"id":"QXJ0aWZhY3Q6OTk=","state":"COMMITTED"}}}}`)
		case strings.Contains(q, "viewer"):
			fmt.Fprintf(w, `{"data":{"viewer":{"id":"VXNlcjox","entity":"acme","username":"bot","echo":%q}}}`, r.Header.Get("Authorization"))
		default:
			io.WriteString(w, `{"data":{}}`)
		}
	})
}

func gql(query string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return b
}

// The wandb SDK's calls through the gateway with its Basic "api:TOKEN"
// auth: a run upserted, run files whose signed upload URLs the client
// uses on the storage host directly (which never sees the held key), an
// artifact created and committed by the id the gateway learned; each
// scoped by the entity/project its arguments name, literal or through
// variables. Other projects, read-only ones written, unknown root fields,
// subscriptions and unlearned artifact ids never reach W&B.
func TestWandbGraphQLScopedByProject(t *testing.T) {
	storage := newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(200) })
	m := newMLFix(t, 1304, nil, nil)
	srv := wandbServer(t, m.keys["wandb"], storage.URL)
	m.gw.upstreams["wandb"] = mustURL(t, srv.URL)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("api:"+m.tok))
	n := 0
	ok := func(body []byte) []byte {
		t.Helper()
		resp, b := m.do(t, "POST", "/wandb/graphql", body, "Authorization", basic)
		if resp.StatusCode != 200 {
			t.Fatalf("graphql: %d %s", resp.StatusCode, b)
		}
		n++
		return b
	}
	upsert := `mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $config: JSONString) {
  upsertBucket(input: {id: $id, name: $name, modelName: $project, entityName: $entity, config: $config}) {
    bucket { id name displayName project { id name entity { name } } } inserted } }`
	ok(gql(upsert, map[string]any{"name": "run1", "project": "vision", "entity": "acme", "config": "{}"}))
	m.lastRecord(t, n, "wandb", "tracking", "acme/vision")
	files := ok(gql(`mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) { runID uploadHeaders files { name uploadUrl } } }`,
		map[string]any{"entity": "acme", "project": "vision", "run": "run1", "files": []string{"wandb-summary.json"}}))
	var fr struct {
		Data struct {
			CreateRunFiles struct {
				Files []struct{ UploadURL string } `json:"files"`
			} `json:"createRunFiles"`
		} `json:"data"`
	}
	if json.Unmarshal(files, &fr) != nil || len(fr.Data.CreateRunFiles.Files) != 1 {
		t.Fatalf("createRunFiles: %s", files)
	}
	put, _ := http.NewRequest("PUT", fr.Data.CreateRunFiles.Files[0].UploadURL, strings.NewReader(`{"loss":0.1}`))
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload to the signed URL: %v", err)
	}
	for _, c := range storage.Calls() {
		if strings.Contains(headerText(c.header)+c.query, m.keys["wandb"]) || strings.Contains(headerText(c.header), base64.StdEncoding.EncodeToString([]byte("api:"+m.keys["wandb"]))) {
			t.Fatal("the storage host received the held key")
		}
	}
	ok(gql(`mutation { createArtifact(input: {entityName: "acme", projectName: "vision", artifactTypeName: "model", artifactCollectionName: "bert", digest: "d1", aliases: [{artifactCollectionName: "bert", alias: "latest"}]}) { artifact { id state digest } } }`, nil))
	ok(gql(`mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) { artifact { id state } } }`,
		map[string]any{"artifactID": "QXJ0aWZhY3Q6OTk="}))
	m.lastRecord(t, n, "wandb", "tracking", "acme/vision")
	ok(gql(`query Viewer { viewer { id entity username } }`, nil))
	// The Bearer form of the token works too (WANDB identity tokens).
	if resp, _ := m.do(t, "POST", "/wandb/graphql", gql(`{ serverInfo { latestLocalVersionInfo { latestVersionString } } }`, nil)); resp.StatusCode != 200 {
		t.Fatalf("bearer: %d", resp.StatusCode)
	}
	for _, c := range srv.Calls() {
		if u, p, _ := (&http.Request{Header: c.header}).BasicAuth(); u != "api" || p != m.keys["wandb"] {
			t.Fatal("W&B did not get the held key as the Basic password of api")
		}
	}

	refused := func(body []byte) {
		t.Helper()
		m.refused(t, srv, "POST", "/wandb/graphql", body, "Authorization", basic)
	}
	refused(gql(upsert, map[string]any{"name": "run1", "project": "secret", "entity": "acme"}))
	refused(gql(upsert, map[string]any{"name": "run1", "project": "vision"})) // no entity
	refused(gql(upsert, map[string]any{"name": "run1", "project": "readonly", "entity": "acme"}))
	refused(gql(`query { project(name: "vision", entityName: "other") { id } }`, nil))
	refused(gql(`query { project(name: "readonly", entityName: "acme") { run(name: "r") { files { edges { node { url(upload: true) } } } } } }`, nil))
	refused(gql(`mutation { deleteRun(input: {id: "UnVuOnYx"}) { clientMutationId } }`, nil))
	refused(gql(`mutation { commitArtifact(input: {artifactID: "QXJ0aWZhY3Q6MTAw"}) { artifact { id } } }`, nil))
	refused(gql(`subscription { runUpdated { id } }`, nil))
	refused(gql(`query { ...F } fragment F on Query { viewer { id } }`, nil))
	refused(gql(`query { project(name: "vision", entityName: "acme") { id } } mutation { upsertModel(input: {name: "x", entityName: "other"}) { model { id } } }`, nil))
	resp, _ := m.do(t, "POST", "/wandb/graphql", []byte(`{"query":"mutation { upsertBucket(input: {entityName: \"acme\", entityName: \"other\", modelName: \"vision\"}) { inserted } }"}`), "Authorization", basic)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a repeated input member: %d", resp.StatusCode)
	}
	// Basic with another user name is not a token.
	other := "Basic " + base64.StdEncoding.EncodeToString([]byte("root:"+m.tok))
	if resp, _ := m.do(t, "POST", "/wandb/graphql", gql(`{ viewer { id } }`, nil), "Authorization", other); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Basic as root: %d", resp.StatusCode)
	}
}
