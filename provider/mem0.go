package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "mem0", Name: "Mem0", Category: VectorDB,
		RevokeURL: "https://app.mem0.ai/dashboard/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Mem0 API key",
			Capabilities: caps(aicred.CapVectorRW, aicred.CapFilesData),
			// The only known check lists one stored memory; the body is
			// discarded.
			Liveness: &Liveness{
				BaseURL: "https://api.mem0.ai", Path: "/v1/memories/?limit=1", Auth: Auth{Scheme: "Token"},
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description: "Mem0 API key: m0- + 24 to 44 alphanumerics",
				Keywords:    []string{"m0-"},
				Pattern:     `m0-[A-Za-z0-9]{24,44}`,
				MinEntropy:  3.5,
				Examples: func(g *Gen) []Example {
					k := "m0-" + g.Alnum(40)
					return append(assign("MEM0_API_KEY", k),
						Ex(notebook(`client = MemoryClient(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{"m0-" + g.Alnum(23), "m0-" + g.Alnum(45), "dm0-" + g.Alnum(40), "m0-" + g.Chars("ab", 30)}
				},
			},
		}},
	})
}
