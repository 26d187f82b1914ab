package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "voiceflow", Name: "Voiceflow", Category: AgentTools,
		RevokeURL: "https://creator.voiceflow.com",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Voiceflow API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
			// TruffleHog verifies these, but the reference gives no request.
			Rule: Rule{
				Description: "Voiceflow API key: VF. (optionally DM. or WS.) + 24 hex + . + 16 alphanumerics",
				Keywords:    []string{"VF."},
				Pattern:     `VF\.(?:DM\.|WS\.)?[0-9a-f]{24}\.[A-Za-z0-9]{16}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "VF.DM." + g.Hex(24) + "." + g.Alnum(16)
					k2 := "VF." + g.Hex(24) + "." + g.Alnum(16)
					return append(assign("VOICEFLOW_API_KEY", k),
						Ex(curl("https://general-runtime.voiceflow.com/state/user/1/interact", "Authorization", k2), k2))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"VF.DM." + g.Hex(23) + "." + g.Alnum(16),
						"VF.DM." + g.Hex(24) + "." + g.Alnum(15),
						"VF.DM." + g.Hex(24) + "." + g.Alnum(17),
						"VF.XX." + g.Hex(24) + "." + g.Alnum(16),
					}
				},
			},
		}},
	})
}
