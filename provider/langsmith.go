package provider

import "github.com/aicred/aicred"

func init() {
	key := func(kind string) func(g *Gen) string {
		return func(g *Gen) string { return "lsv2_" + kind + "_" + g.Hex(32) + "_" + g.Hex(10) }
	}
	negatives := func(kind string) func(g *Gen) []string {
		return func(g *Gen) []string {
			p := "lsv2_" + kind + "_"
			return []string{
				p + g.Hex(31) + "_" + g.Hex(10),
				p + g.Hex(32) + "_" + g.Hex(11),
				p + g.Hex(32) + "-" + g.Hex(10),
				p + g.Chars(Upper, 32) + "_" + g.Hex(10),
				"lsv1_" + kind + "_" + g.Hex(32) + "_" + g.Hex(10),
			}
		}
	}
	register(&Provider{
		ID: "langsmith", Name: "LangSmith (LangChain)", Category: Observability,
		RevokeURL: "https://smith.langchain.com/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "LangSmith personal access token",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData),
				Liveness: &Liveness{
					BaseURL: "https://api.smith.langchain.com", Path: "/api/v1/api-key/current", Auth: HeaderAuth("X-API-Key"),
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "LangSmith personal access token: lsv2_pt_ + 32 hex + _ + 10 hex (51 characters)",
					Keywords:    []string{"lsv2_pt_"},
					Pattern:     `lsv2_pt_[0-9a-f]{32}_[0-9a-f]{10}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := key("pt")(g)
						return append(assign("LANGSMITH_API_KEY", k),
							Ex("export LANGCHAIN_API_KEY="+k, k),
							Ex(notebook(`os.environ["LANGCHAIN_API_KEY"] = "`+k+`"`), k))
					},
					Negatives: negatives("pt"),
				},
			},
			{
				ID: "service-key", Name: "LangSmith service key",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData, aicred.CapOrgAdmin),
				Liveness: &Liveness{
					BaseURL: "https://api.smith.langchain.com", Path: "/api/v1/orgs/current", Auth: HeaderAuth("X-API-Key"),
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "LangSmith service key: lsv2_sk_ + 32 hex + _ + 10 hex (51 characters)",
					Keywords:    []string{"lsv2_sk_"},
					Pattern:     `lsv2_sk_[0-9a-f]{32}_[0-9a-f]{10}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := key("sk")(g)
						return append(assign("LANGSMITH_API_KEY", k),
							Ex(curl("https://api.smith.langchain.com/api/v1/orgs/current", "X-API-Key", k), k))
					},
					Negatives: negatives("sk"),
				},
			},
		},
	})
}
