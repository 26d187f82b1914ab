package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "labelbox", Name: "Labelbox", Category: MLOps,
		RevokeURL: "https://app.labelbox.com/workspace-settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Labelbox API key (JWT)",
				Capabilities: caps(aicred.CapFilesData, aicred.CapModelRegistry),
				Rule:         simpleRule(simple{Desc: "Labelbox API key: a JWT after a Labelbox name", Env: "LABELBOX_API_KEY", Keywords: []string{"labelbox"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"LABELBOX_API_KEY=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
