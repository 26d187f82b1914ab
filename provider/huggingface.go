package provider

import "github.com/aicred/aicred"

func init() {
	whoami := &Liveness{
		BaseURL: "https://huggingface.co", Path: "/api/whoami-v2", Auth: Bearer,
		Live: []int{200}, Dead: []int{401, 403},
	}
	// Scanners disagree on the body: gitleaks says 34 letters, TruffleHog
	// and Kingfisher 34 alphanumerics. The wider set is kept; the length is
	// exact. '_' counts as part of a word (default Boundary), so identifiers
	// such as _call_hf_processor never match.
	register(&Provider{
		ID: "huggingface", Name: "Hugging Face", Category: MLOps,
		RevokeURL: "https://huggingface.co/settings/tokens",
		Kinds: []*Kind{
			{
				ID: "access-token", Name: "Hugging Face user access token",
				Capabilities: caps(aicred.CapModelRegistry, aicred.CapFilesData, aicred.CapInference),
				Liveness:     whoami,
				Rule: Rule{
					Description: "Hugging Face access token: hf_ + 34 letters or digits (37 characters)",
					Keywords:    []string{"hf_"},
					Pattern:     `hf_[A-Za-z0-9]{34}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "hf_" + g.Letters(34)
						k2 := "hf_" + g.Alnum(34)
						return append(assign("HF_TOKEN", k),
							Ex("huggingface-cli login --token "+k, k),
							Ex(notebook(`login(token="`+k+`")`), k),
							Ex(`pipe = pipeline("text-generation", token='`+k2+`')`, k2),
							Ex(curl("https://huggingface.co/api/whoami-v2", "Authorization", "Bearer "+k), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "hf_", Letters, 34),
							"_call_hf_"+g.Letters(34),           // '_' glues it to an identifier
							"model.hf_"+g.Letters(30)+"_config", // a field, not a token
							"hf-"+g.Letters(34),
						)
					},
				},
			},
			{
				ID: "org-token", Name: "Hugging Face organization API token (deprecated)",
				Capabilities: caps(aicred.CapModelRegistry, aicred.CapFilesData, aicred.CapInference),
				Liveness:     whoami,
				Rule: Rule{
					Description: "Hugging Face organization token: api_org_ + 34 letters or digits",
					Keywords:    []string{"api_org_"},
					Pattern:     `api_org_[A-Za-z0-9]{34}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "api_org_" + g.Letters(34)
						return append(assign("HUGGINGFACE_ORG_TOKEN", k), Ex(notebook(`HfApi(token="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "api_org_", Letters, 34), "my_api_org_"+g.Letters(34))
					},
				},
			},
		},
	})
}
