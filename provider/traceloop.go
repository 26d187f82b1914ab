package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "traceloop", Name: "Traceloop", Category: Observability,
		RevokeURL: "https://app.traceloop.com/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Traceloop API key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "Traceloop API key: tl_ + 32 hex, or 64 hex, after a Traceloop name", Env: "TRACELOOP_API_KEY", Keywords: []string{"traceloop"}, Pattern: `tl_[0-9a-f]{32}|[0-9a-f]{64}`, Gen: func(g *Gen) string { return "tl_" + g.Hex(32) }, Neg: func(g *Gen) []string { return []string{"TRACELOOP_API_KEY=tl_" + g.Hex(31)} }}),
			},
		},
	})
}
