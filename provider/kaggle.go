package provider

import "github.com/aicred/aicred"

func init() {
	// Kaggle documents no liveness check in any scanner; none is made.
	capabilities := caps(aicred.CapFilesData, aicred.CapCompute)
	register(&Provider{
		ID: "kaggle", Name: "Kaggle", Category: MLOps,
		RevokeURL: "https://www.kaggle.com/settings",
		Kinds: []*Kind{
			{
				ID: "api-token", Name: "Kaggle API token (KGAT_)",
				Capabilities: capabilities,
				Rule: Rule{
					Description: "Kaggle API token: KGAT_ + 32 hex (37 characters; shape from public usage)",
					Keywords:    []string{"KGAT_"},
					Pattern:     `KGAT_[0-9a-f]{32}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "KGAT_" + g.Hex(32)
						return append(assign("KAGGLE_API_TOKEN", k),
							Ex(notebook(`os.environ["KAGGLE_API_TOKEN"] = "`+k+`"`), k))
					},
					Negatives: func(g *Gen) []string { return append(nearMisses(g, "KGAT_", Hex, 32), "KGAT-"+g.Hex(32)) },
				},
			},
			{
				ID: "legacy-key", Name: "Kaggle legacy API key (KAGGLE_KEY)",
				Capabilities: capabilities,
				Rule: Rule{
					Description:   "Kaggle legacy API key: 32 hex after a Kaggle name",
					Keywords:      []string{"kaggle"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{32}`,
					MinEntropy:    3,
					Hints:         map[string]Near{"username": {Pattern: `(?i:kaggle_username)["']?\s{0,8}[:=]\s{0,8}["']?([A-Za-z0-9_-]{1,40})`, Window: 256}},
					Examples: func(g *Gen) []Example {
						k := g.Hex(32)
						return append(assign("KAGGLE_KEY", k),
							Ex("KAGGLE_USERNAME=someone\nKAGGLE_KEY="+k+"\n", k),
							Ex(notebook(`os.environ["KAGGLE_KEY"] = "`+k+`"`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{"md5=" + g.Hex(32), "KAGGLE_KEY=" + g.Hex(31), "KAGGLE_KEY=" + g.Hex(33), "KAGGLE_KEY=" + g.Chars("ABCDEF0123456789", 32)}
					},
				},
			},
			{
				ID: "legacy-json", Name: "Kaggle legacy API key (kaggle.json)",
				Capabilities: capabilities,
				Rule: Rule{
					// kaggle.json names no provider; its exact two-field shape does.
					Description: `Kaggle kaggle.json: {"username": ..., "key": 32 hex}`,
					Keywords:    []string{`"username"`},
					Pattern:     `\{\s{0,8}"username"\s{0,8}:\s{0,8}"[A-Za-z0-9_.-]{1,64}"\s{0,8},\s{0,8}"key"\s{0,8}:\s{0,8}"(?P<secret>[0-9a-f]{32})"\s{0,8}\}`,
					MinEntropy:  3,
					Hints:       map[string]Near{"username": {Pattern: `"username"\s{0,8}:\s{0,8}"([A-Za-z0-9_.-]{1,64})"`, Window: 128}},
					Examples: func(g *Gen) []Example {
						k := g.Hex(32)
						return []Example{
							Ex(`{"username":"`+g.Lower(8)+`","key":"`+k+`"}`, k),
							Ex("{\n  \"username\": \"someone\",\n  \"key\": \""+k+"\"\n}\n", k),
							Ex(`echo '{"username":"someone","key":"`+k+`"}' > ~/.kaggle/kaggle.json`, k),
						}
					},
					Negatives: func(g *Gen) []string {
						return []string{
							`{"username":"someone","key":"` + g.Hex(31) + `"}`,
							`{"username":"someone","password_hash":"` + g.Hex(32) + `"}`,
							`{"username":"someone","key":"` + g.Hex(32) + `","extra":1}`,
						}
					},
				},
			},
		},
	})
}
