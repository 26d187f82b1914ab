package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// TestPropertyMLStack is TestPropertyEveryRoute for the ML stack
// surfaces (whose routes there meet a role with no grants and are all
// refused): random in-scope and out-of-scope requests on every surface
// against the adversary upstream, which echoes its request into its
// answer, redirects elsewhere and errs. Whatever happens, (1) no byte of
// a held key reaches the client, (2) whatever reaches the upstream names
// a resource the role allows for the access used, carries no aicred
// token, no junk header and no unlisted query parameter, (3) each
// forwarded request writes one record in bytes at cost 0, (4) redirects
// are never followed. Pinecone's data plane (always https to
// *.pinecone.io) is left to TestPineconeControlAndDataPlane.
func TestPropertyMLStack(t *testing.T) {
	adv := newAdversary(t, 1310)
	ups := map[string]string{}
	for _, k := range MLUpstreamIDs() {
		ups[k] = adv.URL
	}
	m := newMLFix(t, 1311, ups, func(c *Config) {
		c.MLStack.QdrantCredential = "qdrant"
		c.MLStack.HTTP = []HTTPUpstream{{Name: "tool", BaseURL: adv.URL, Credential: "replicate", Inject: HTTPInject{Query: "key"}}}
	})
	ctx := t.Context()
	for _, o := range []aicred.GatewayObject{
		{Provider: "databricks", Kind: aicred.ObjectMLflowExperiment, ID: "1", Purpose: "train-a"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowExperiment, ID: "2", Purpose: "shared"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowExperiment, ID: "3", Purpose: "secret"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowRun, ID: "r1", Purpose: "1"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowRun, ID: "r3", Purpose: "3"},
	} {
		o.TokenID, o.Workload, o.Role = "t", "w", "chat-role"
		if err := m.objects.RecordGatewayObject(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	type req struct{ method, path, body string }
	pick := func(rng *rand.Rand, xs ...string) string { return xs[rng.IntN(len(xs))] }
	gen := func(rng *rand.Rand) req {
		repo := pick(rng, "acme/bert", "other/bert", "datasets/acme/corpus", "public/x")
		exp := pick(rng, "train-a", "shared", "secret")
		expID := pick(rng, "1", "2", "3", "9")
		run := pick(rng, "r1", "r3", "r9")
		idx := pick(rng, "docs", "ro", "secret", "coll-a")
		proj := pick(rng, "acme/vision", "acme/readonly", "acme/secret")
		e, p, _ := strings.Cut(proj, "/")
		org, name, _ := strings.Cut(strings.TrimPrefix(repo, "datasets/"), "/")
		kind := ""
		if strings.HasPrefix(repo, "datasets/") {
			kind = "datasets/"
		}
		switch rng.IntN(14) {
		case 0:
			return req{pick(rng, "GET", "HEAD"), "/hf/" + repo + "/resolve/main/config.json", ""}
		case 1:
			return req{"POST", "/hf/" + repo + ".git/info/lfs/objects/batch", `{"operation":"` + pick(rng, "upload", "download") + `","objects":[]}`}
		case 2:
			typ := "models"
			if kind != "" {
				typ = "datasets"
			}
			return req{"POST", "/hf/api/" + typ + "/" + org + "/" + name + "/preupload/main", `{"files":[]}`}
		case 3:
			return req{"POST", "/hf/api/repos/create", `{"name":"` + name + `","organization":"` + org + `"}`}
		case 4:
			return req{"GET", "/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + exp, ""}
		case 5:
			return req{"POST", "/mlflow/api/2.0/mlflow/runs/create", `{"experiment_id":"` + expID + `"}`}
		case 6:
			return req{"POST", "/mlflow/api/2.0/mlflow/runs/log-metric", `{"run_id":"` + run + `","key":"k","value":1,"timestamp":1}`}
		case 7:
			return req{pick(rng, "GET", "PUT"), "/mlflow/api/2.0/mlflow-artifacts/artifacts/" + expID + "/r/artifacts/m", "x"}
		case 8:
			return req{"POST", "/wandb/graphql", string(gql(`mutation($e: String, $p: String) { upsertBucket(input: {entityName: $e, modelName: $p}) { inserted } }`, map[string]any{"e": e, "p": p}))}
		case 9:
			return req{"POST", "/wandb/graphql", string(gql(`query { model(name: "`+p+`", entityName: "`+e+`") { bucket(name: "r") { files { edges { node { url`+pick(rng, "", "(upload: true)")+` } } } } } }`, nil))}
		case 10:
			return req{pick(rng, "GET", "DELETE"), "/pinecone/indexes/" + idx, ""}
		case 11:
			return req{pick(rng, "PUT", "POST"), "/qdrant/collections/" + idx + "/points" + pick(rng, "", "/search", "/delete"), `{"points":[]}`}
		case 12:
			return req{pick(rng, "GET", "POST", "DELETE"), "/http/tool/v1/items" + pick(rng, "", "/42", "/../admin", "%2F..%2Fadmin"), ""}
		default:
			return req{"GET", pick(rng, "/hf/api/models/acme", "/mlflow/api/2.0/mlflow/users/list", "/qdrant/collections/aliases", "/http/tool"), ""}
		}
	}
	// What the upstream may see: the resource a path names and whether
	// the call writes, as the role judges it.
	allowed := func(c advCall) bool {
		p := c.path
		write := c.method != "GET" && c.method != "HEAD"
		switch {
		case strings.Contains(p, "/resolve/"):
			return m.role.Repository(hubRepoOf(p), false)
		case strings.HasSuffix(p, "/lfs/objects/batch"):
			return m.role.Repository(hubRepoOf(p), bytes.Contains(c.body, []byte(`"upload"`)))
		case strings.Contains(p, "/preupload/"):
			return m.role.Repository(hubRepoOf(p), true)
		case p == "/api/repos/create":
			var r struct{ Name, Organization string }
			_ = json.Unmarshal(c.body, &r)
			return m.role.Repository(r.Organization+"/"+r.Name, true)
		case strings.HasSuffix(p, "/experiments/get-by-name"):
			return m.role.Experiment(strings.TrimPrefix(c.query, "experiment_name="), false)
		case strings.HasSuffix(p, "/runs/create"):
			return bytes.Contains(c.body, []byte(`"1"`)) // train-a: the only writable one
		case strings.HasSuffix(p, "/runs/log-metric"):
			return bytes.Contains(c.body, []byte(`"r1"`))
		case strings.Contains(p, "/mlflow-artifacts/artifacts/"):
			id := strings.Split(strings.TrimPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"), "/")[0]
			return id == "1" || (id == "2" && !write)
		case p == "/graphql":
			w := bytes.Contains(c.body, []byte("upsertBucket")) || bytes.Contains(c.body, []byte("upload: true"))
			for _, proj := range []string{"vision", "readonly"} {
				if bytes.Contains(c.body, []byte(proj)) {
					return m.role.Experiment("acme/"+proj, w)
				}
			}
			return false
		case strings.HasPrefix(p, "/indexes/"):
			return m.role.Index(strings.TrimPrefix(p, "/indexes/"), write)
		case strings.HasPrefix(p, "/collections/"):
			name := strings.Split(strings.TrimPrefix(p, "/collections/"), "/")[0]
			// POST .../points retrieves points by id (a read in Qdrant's API).
			read := strings.HasSuffix(p, "/search") || (c.method == "POST" && strings.HasSuffix(p, "/points"))
			return m.role.Index(name, !read)
		case strings.HasPrefix(p, "/v1/items"):
			return m.role.HTTPAllowed("tool", c.method, p)
		}
		return false
	}
	var forms []string
	for _, k := range m.keys {
		forms = append(forms, k, k[len(k)-12:], base64.StdEncoding.EncodeToString([]byte(k)), base64.StdEncoding.EncodeToString([]byte("api:"+k)))
	}
	rng := rand.New(rand.NewPCG(1312, 1313))
	checked, reached := 0, 0
	for range 600 {
		rq := gen(rng)
		q := pick(rng, "", "?evil=1", "?key=mine", "?wait=true")
		if strings.Contains(rq.path, "?") {
			q = strings.Replace(q, "?", "&", 1)
		}
		r, _ := http.NewRequest(rq.method, m.srv.URL+rq.path+q, strings.NewReader(rq.body))
		r.Header.Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(rq.path, "/wandb/"):
			r.SetBasicAuth("api", m.tok)
		case strings.HasPrefix(rq.path, "/pinecone/"), strings.HasPrefix(rq.path, "/qdrant/"):
			r.Header.Set("Api-Key", m.tok)
		default:
			r.Header.Set("Authorization", "Bearer "+m.tok)
		}
		junk := genHeaders(rng, r)
		adv.mu.Lock()
		before := len(adv.calls)
		adv.mu.Unlock()
		recs := len(m.usage.Records())
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var seen bytes.Buffer
		_ = resp.Header.Write(&seen)
		_, _ = io.Copy(&seen, resp.Body)
		resp.Body.Close()
		checked++
		for _, fm := range forms {
			if strings.Contains(seen.String(), fm) {
				t.Fatalf("%s %s (status %d): the client saw held-key bytes", rq.method, rq.path, resp.StatusCode)
			}
		}
		adv.mu.Lock()
		calls := slices.Clone(adv.calls[before:])
		adv.mu.Unlock()
		if len(calls) > 1 {
			t.Fatalf("%s %s: %d upstream calls", rq.method, rq.path, len(calls))
		}
		if len(calls) == 0 {
			continue
		}
		reached++
		c := calls[0]
		if !allowed(c) {
			t.Fatalf("%s %s reached the upstream as %s %s ? %s: out of the role's scope", rq.method, rq.path, c.method, c.path, c.query)
		}
		if strings.Contains(headerText(c.header)+c.query+string(c.body), provider.TokenPrefixWorkload) {
			t.Fatalf("%s %s: the aicred token reached the upstream", rq.method, rq.path)
		}
		for _, h := range junk {
			if c.header.Get(h) != "" {
				t.Fatalf("%s %s: header %s reached the upstream", rq.method, rq.path, h)
			}
		}
		if strings.Contains(c.query, "evil") || strings.Contains(c.query, "mine") {
			t.Fatalf("%s %s: a query parameter outside the allow-list reached the upstream: %s", rq.method, rq.path, c.query)
		}
		rec := m.waitRecords(t, recs+1)[recs]
		if rec.Usage.Unit != aicred.UnitByte || rec.CostUSD != 0 || rec.Validate() != nil {
			t.Fatalf("%s %s: record %+v", rq.method, rq.path, rec)
		}
	}
	if adv.strayHit != 0 {
		t.Fatalf("a redirect was followed %d times", adv.strayHit)
	}
	t.Logf("%d requests, %d reached the upstream", checked, reached)
	if reached < checked/10 {
		t.Fatalf("too few requests reached the upstream (%d of %d)", reached, checked)
	}
}

// hubRepoOf is the repository a Hub upstream path names.
func hubRepoOf(p string) string {
	p = strings.TrimPrefix(p, "/api/")
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	kind := ""
	switch parts[0] {
	case "models":
		parts = parts[1:]
	case "datasets", "spaces":
		kind, parts = parts[0]+"/", parts[1:]
	}
	return kind + parts[0] + "/" + strings.TrimSuffix(parts[1], ".git")
}
