package broker

import (
	"strings"
	"testing"
)

// TestRoleMLStackGrants: a role's repositories, experiments, indexes and
// http grants load from YAML and answer by glob and access; malformed
// grants are refused when the configuration loads.
func TestRoleMLStackGrants(t *testing.T) {
	base := configWith(t, "  - {name: p, issuer: corp, role: r, claims: {sub: a}}\n")
	grants := `    repositories:
      - {name: "acme/*", access: write}
      - {name: "datasets/acme/*"}
    experiments:
      - {name: "train-*", access: write}
      - {name: shared, access: read}
    indexes:
      - {name: docs, access: write}
    http:
      - {upstream: tool, methods: [GET, post], paths: ["/v1/items", "/v1/items/*"]}
`
	doc := strings.Replace(base, "    operations: [chat]\n", "    operations: [chat, registry, tracking, vectors, http]\n"+grants, 1)
	cfg, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	x, err := cfg.Build(BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := x.Role("r")
	if !ok {
		t.Fatal("role r not built")
	}
	for _, c := range []struct {
		got, want bool
		what      string
	}{
		{r.Repository("acme/bert", true), true, "write acme/bert"},
		{r.Repository("acme/team/bert", false), true, "'*' spans '/'"},
		{r.Repository("other/bert", false), false, "other org"},
		{r.Repository("datasets/acme/corpus", false), true, "read dataset (default access)"},
		{r.Repository("datasets/acme/corpus", true), false, "write read-only dataset"},
		{r.Repository("", false), false, "empty name"},
		{r.Experiment("train-bert", true), true, "write train-bert"},
		{r.Experiment("shared", true), false, "write shared"},
		{r.Experiment("shared", false), true, "read shared"},
		{r.Index("docs", true), true, "write docs"},
		{r.Index("docs2", false), false, "docs2"},
		{r.HTTPAllowed("tool", "POST", "/v1/items"), true, "POST items"},
		{r.HTTPAllowed("tool", "get", "/v1/items/42"), true, "GET item"},
		{r.HTTPAllowed("tool", "DELETE", "/v1/items/42"), false, "DELETE"},
		{r.HTTPAllowed("other", "GET", "/v1/items"), false, "other upstream"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	s, err := r.Narrow("registry tracking chat", nil, nil)
	if err != nil || strings.Join(opStrings(s.Operations), " ") != "chat registry tracking" {
		t.Fatalf("narrowed to %v (%v), want chat registry tracking in canonical order", s.Operations, err)
	}

	for _, bad := range []struct{ grants, err string }{
		{"    repositories: [{name: \"acme/*\", access: admin}]\n", `access "admin"`},
		{"    experiments: [{name: \"\"}]\n", "empty glob"},
		{"    http: [{upstream: tool, methods: [GET]}]\n", "needs methods and paths"},
		{"    http: [{upstream: tool, methods: [TRACE], paths: [/x]}]\n", `method "TRACE"`},
		{"    http: [{upstream: tool, methods: [GET], paths: [x]}]\n", "must start with /"},
		{"    http: [{methods: [GET], paths: [/x]}]\n", "names its upstream"},
	} {
		doc := strings.Replace(base, "    operations: [chat]\n", "    operations: [chat]\n"+bad.grants, 1)
		cfg, err := ParseConfig([]byte(doc))
		if err == nil {
			_, err = cfg.Build(BuildOptions{})
		}
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%q: error %v, want %q", bad.grants, err, bad.err)
		}
	}
}

func opStrings(ops []Operation) []string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return s
}
