package provider

import "github.com/aicred/aicred"

func init() {
	user := &Liveness{
		BaseURL: "https://api.elevenlabs.io", Path: "/v1/user", Auth: HeaderAuth("xi-api-key"),
		Live: []int{200}, Dead: []int{400, 401},
	}
	capabilities := caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling)
	register(&Provider{
		ID: "elevenlabs", Name: "ElevenLabs", Category: ModelAPI,
		RevokeURL: "https://elevenlabs.io/app/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "ElevenLabs API key",
				Capabilities: capabilities,
				Liveness:     user,
				Rule: Rule{
					// sk_ + exactly 48 hex is specific enough on its own
					// (TruffleHog, Kingfisher); Stripe's sk_live_/sk_test_
					// bodies are not hex.
					Description: "ElevenLabs API key: sk_ + 48 hex (51 characters)",
					Keywords:    []string{"sk_"},
					Pattern:     `sk_[0-9a-f]{48}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk_" + g.Hex(48)
						return append(assign("ELEVENLABS_API_KEY", k),
							Ex(notebook(`client = ElevenLabs(api_key="`+k+`")`), k),
							Ex(curl("https://api.elevenlabs.io/v1/user", "xi-api-key", k), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "sk_", Hex, 48),
							"sk_live_"+g.Alnum(48),
							"task_"+g.Hex(48),
							"sk_"+g.Chars("ABCDEF0123456789", 48))
					},
				},
			},
			{
				ID: "legacy-key", Name: "ElevenLabs API key (legacy, 32 hex)",
				Capabilities: capabilities,
				Liveness:     user,
				Rule: Rule{
					Description:   "ElevenLabs legacy API key: 32 hex after an ElevenLabs name or the xi-api-key header",
					Keywords:      []string{"elevenlabs", "eleven_labs", "xi-api-key", "xi_api_key"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{32}`,
					MinEntropy:    3,
					Examples: func(g *Gen) []Example {
						k := g.Hex(32)
						return append(assign("ELEVENLABS_API_KEY", k),
							Ex(curl("https://api.elevenlabs.io/v1/voices", "xi-api-key", k), k),
							Ex(`headers = {"xi-api-key": "`+k+`"}`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"md5 = " + g.Hex(32),
							"ELEVENLABS_API_KEY=" + g.Hex(31),
							"ELEVENLABS_API_KEY=" + g.Hex(33),
							"ELEVENLABS_API_KEY=" + g.Chars("ABCDEF0123456789", 32),
						}
					},
				},
			},
		},
	})
}
