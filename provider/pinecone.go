package provider

import "github.com/aicred/aicred"

func init() {
	// The control plane lists indexes. 403 means the key is live but its
	// role cannot reach the control plane.
	indexes := &Liveness{
		BaseURL: "https://api.pinecone.io", Path: "/indexes", Auth: HeaderAuth("Api-Key"),
		Header: map[string]string{"X-Pinecone-Api-Version": "2025-10"},
		Live:   []int{200}, Dead: []int{401}, NoPermission: []int{403}, LiveBody: []string{`"indexes"`},
	}
	register(&Provider{
		ID: "pinecone", Name: "Pinecone", Category: VectorDB,
		RevokeURL: "https://app.pinecone.io",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Pinecone API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     indexes,
				Rule: Rule{
					Description: "Pinecone API key: pcsk_ + 5 or 6 alphanumerics + _ + 63 alphanumerics",
					Keywords:    []string{"pcsk_"},
					Pattern:     `pcsk_[A-Za-z0-9]{5,6}_[A-Za-z0-9]{63}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "pcsk_" + g.Alnum(5+g.IntN(2)) + "_" + g.Alnum(63)
						return append(assign("PINECONE_API_KEY", k),
							Ex(notebook(`pc = Pinecone(api_key="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"pcsk_" + g.Alnum(4) + "_" + g.Alnum(63),
							"pcsk_" + g.Alnum(7) + "_" + g.Alnum(63),
							"pcsk_" + g.Alnum(5) + "_" + g.Alnum(62),
							"pcsk_" + g.Alnum(5) + "_" + g.Alnum(64),
							"pcsk_" + g.Alnum(5) + "-" + g.Alnum(63),
						}
					},
				},
			},
			{
				ID: "legacy-key", Name: "Pinecone API key (legacy UUID)",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     indexes,
				Rule: Rule{
					Description:   "Pinecone legacy API key: a UUID after a Pinecone name",
					Keywords:      []string{"pinecone"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
					MinEntropy:    3,
					Examples: func(g *Gen) []Example {
						k := g.UUID()
						return append(assign("PINECONE_API_KEY", k),
							Ex(notebook(`pinecone.init(api_key="`+k+`", environment="us-west1-gcp")`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"API_KEY=" + g.UUID(),
							"PINECONE_API_KEY=00000000-0000-0000-0000-000000000000",
							"PINECONE_API_KEY=" + g.UUID() + "0",
							"pinecone " + g.Alnum(60) + "\nid = " + g.UUID(),
						}
					},
				},
			},
		},
	})
}
