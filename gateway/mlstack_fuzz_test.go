package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// FuzzMLResolve runs every ML stack surface's request parser (path
// segments, JSON bodies, GraphQL documents) on arbitrary input. Whatever
// it accepts names a resource the role allows for the access asked, and
// an upstream path with no segment that climbs.
func FuzzMLResolve(f *testing.F) {
	seeds := []struct{ surface, method, path, body string }{
		{"hf", "GET", "/acme/bert/resolve/main/config.json", ""},
		{"hf", "GET", "/datasets/acme/corpus/resolve/refs%2Fpr%2F1/a/b.parquet", ""},
		{"hf", "POST", "/acme/bert.git/info/lfs/objects/batch", `{"operation":"upload","objects":[]}`},
		{"hf", "POST", "/api/repos/create", `{"name":"x","organization":"acme","type":"dataset"}`},
		{"hf", "POST", "/api/models/acme/bert/commit/main", "{\"key\":\"header\"}\n"},
		{"mlflow", "POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id":"r1","key":"k","value":1}`},
		{"mlflow", "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=train-x", ""},
		{"mlflow", "PUT", "/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/m.pkl", "x"},
		{"mlflow", "GET", "/api/2.0/mlflow-artifacts/artifacts?path=7/r1", ""},
		{"wandb", "POST", "/graphql", `{"query":"mutation { upsertBucket(input: {entityName: \"acme\", modelName: \"vision\"}) { inserted } }"}`},
		{"wandb", "POST", "/graphql", `{"query":"mutation($a: ID!) { commitArtifact(input: {artifactID: $a}) { artifact { id } } }","variables":{"a":"art1"}}`},
		{"pinecone", "POST", "/index/docs-abc1234.svc.us-east-1-aws.pinecone.io/query", `{"topK":1}`},
		{"pinecone", "POST", "/indexes", `{"name":"docs","dimension":2}`},
		{"qdrant", "PUT", "/collections/coll-a/points", `{"points":[]}`},
		{"http", "GET", "/v1/items/42", ""},
	}
	for _, s := range seeds {
		f.Add(s.surface, s.method, s.path, s.body)
	}
	role := &broker.Role{
		Name:         "r",
		Repositories: []broker.ResourceGrant{{Name: "acme/*", Access: "write"}, {Name: "datasets/acme/*", Access: "read"}},
		Experiments:  []broker.ResourceGrant{{Name: "train-*", Access: "write"}, {Name: "acme/vision", Access: "write"}, {Name: "shared", Access: "read"}},
		Indexes:      []broker.ResourceGrant{{Name: "docs", Access: "write"}, {Name: "coll-*", Access: "read"}},
		HTTP:         []broker.HTTPGrant{{Upstream: "tool", Methods: []string{"GET"}, Paths: []string{"/v1/items/*"}}},
	}
	objs := NewMemoryObjects()
	ctx := context.Background()
	for _, o := range []aicred.GatewayObject{
		{Provider: "databricks", Kind: aicred.ObjectMLflowExperiment, ID: "7", Purpose: "train-x"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowExperiment, ID: "8", Purpose: "shared"},
		{Provider: "databricks", Kind: aicred.ObjectMLflowRun, ID: "r1", Purpose: "7"},
		{Provider: "wandb", Kind: aicred.ObjectWandbArtifact, ID: "art1", Purpose: "acme/vision"},
		{Provider: "pinecone", Kind: aicred.ObjectPineconeIndex, ID: "docs-abc1234.svc.us-east-1-aws.pinecone.io", Purpose: "docs"},
	} {
		o.TokenID, o.Workload, o.Role = "t", "w", "r"
		if err := objs.RecordGatewayObject(ctx, o); err != nil {
			f.Fatal(err)
		}
	}
	surfaces := map[string]*surface{
		"hf": hubSurface(), "mlflow": mlflowSurface(MLStack{}), "wandb": wandbSurface(),
		"pinecone": pineconeSurface(MLStack{}), "qdrant": qdrantSurface(MLStack{}),
		"http": httpSurface(HTTPUpstream{Name: "tool", BaseURL: "https://tool.test", Credential: "replicate", Inject: HTTPInject{Bearer: true}}),
	}
	prefixes := map[string]string{"hf": hubPrefix, "mlflow": mlflowPrefix, "wandb": wandbPrefix, "pinecone": pineconePrefix, "qdrant": qdrantPrefix, "http": "/http/tool"}
	f.Fuzz(func(t *testing.T, name, method, path, body string) {
		s, ok := surfaces[name]
		if !ok {
			return
		}
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			return
		}
		r, err := http.NewRequest(method, "http://gw.test"+prefixes[name]+path, nil)
		if err != nil {
			return
		}
		x := &exchange{r: r, route: &route{method: method, surface: s}, role: role, body: []byte(body),
			grant: &aicred.Grant{ID: "g", Issuer: "i", Subject: "s", Role: "r"}}
		x.ml.objects = objs
		if s.resolve(x) != nil {
			return
		}
		// Whatever passed names what the role allows.
		res, w := x.ml.resource, x.ml.write
		switch name {
		case "hf":
			if !role.Repository(res, w) {
				t.Fatalf("accepted repository %q write=%v", res, w)
			}
		case "mlflow":
			if !role.Experiment(res, w) && !role.Repository(res, w) {
				t.Fatalf("accepted experiment %q write=%v", res, w)
			}
		case "wandb":
			for _, p := range strings.Fields(res) {
				if !role.Experiment(p, false) {
					t.Fatalf("accepted project %q", p)
				}
			}
		case "pinecone", "qdrant":
			if res != "*" && !role.Index(res, w) {
				t.Fatalf("accepted index %q write=%v", res, w)
			}
		}
		p, err := url.PathUnescape(x.ml.path)
		if err != nil {
			t.Fatalf("accepted an upstream path that does not unescape: %q", x.ml.path)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("accepted a climbing upstream path %q", x.ml.path)
			}
		}
	})
}
