package main

import (
	"strings"
	"testing"

	"github.com/aicred/aicred/gateway"
)

// TestServeConfigMLStack: the ML stack keys of the gateway section load
// (upstream ids outside the catalog, credentials, Pinecone hosts, http
// upstreams) and malformed ones are refused naming their line.
func TestServeConfigMLStack(t *testing.T) {
	cfg, err := parseServerConfig([]byte(`gateway:
  upstreams:
    mlflow: https://mlflow.internal.example
    qdrant: https://qdrant.internal.example:6333
    huggingface-hub: https://hub-mirror.internal.example
  mlflow_credential: databricks
  qdrant_credential: databricks
  pinecone_hosts:
    docs: docs-abc1234.svc.aped-4627-b74a.pinecone.io
  http_upstreams:
    - name: tool
      base_url: https://tool.example/api
      credential: replicate
      inject: {header: X-Tool-Key}
      query: [page]
    - name: basic-tool
      base_url: https://other.example
      credential: replicate
      inject: {basic: svc}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateway
	ups := g.upstreams()
	if ups["mlflow"] != "https://mlflow.internal.example" || ups["wandb"] != "https://api.wandb.ai" || ups["huggingface-hub"] != "https://hub-mirror.internal.example" {
		t.Fatalf("upstreams: %v", ups)
	}
	m := g.MLStack
	if m.MLflowCredential != "databricks" || m.PineconeHosts["docs"] == "" || len(m.HTTP) != 2 {
		t.Fatalf("ML stack: %+v", m)
	}
	want := gateway.HTTPUpstream{Name: "tool", BaseURL: "https://tool.example/api", Credential: "replicate", Inject: gateway.HTTPInject{Header: "X-Tool-Key"}, Query: []string{"page"}}
	if got := m.HTTP[0]; got.Name != want.Name || got.BaseURL != want.BaseURL || got.Inject != want.Inject || strings.Join(got.Query, ",") != "page" {
		t.Fatalf("http upstream: %+v", got)
	}
	if m.HTTP[1].Inject.Basic != "svc" {
		t.Fatalf("basic inject: %+v", m.HTTP[1].Inject)
	}
	for _, bad := range []struct{ doc, line string }{
		{"gateway:\n  upstreams:\n    mlfloww: https://x.example\n", "line 3"},
		{"gateway:\n  mlflow_credential: nosuch\n", "line 2"},
		{"gateway:\n  pinecone_hosts:\n    docs: evil.example.com\n", "line 3"},
		{"gateway:\n  http_upstreams:\n    - {name: t, base_url: https://x.example, credential: replicate}\n", "line 3"},
		{"gateway:\n  http_upstreams:\n    - {name: t, base_url: https://x.example, credential: replicate, inject: {bearer: true}, extra: 1}\n", "line 3"},
	} {
		_, err := parseServerConfig([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.line) {
			t.Errorf("%q: error %v, want one naming %s", bad.doc, err, bad.line)
		}
	}
}
