package provider

import "github.com/aicred/aicred"

// azureAIHost finds an Azure OpenAI or Azure AI services resource host. Only
// Microsoft-owned domains are accepted, so scanned text cannot steer a key
// to another server. (Near patterns are bounded by their window, so they use
// * and +: a counted run such as {1,62} would make Go's regexp carry one
// thread per count.)
var azureAIHost = Near{Pattern: `([a-z0-9][a-z0-9-]*\.(?:openai|cognitiveservices)\.azure\.com)`, Window: 512}

func init() {
	// Keys are bound to their resource: the check needs the host found near
	// the key. /openai/models lists models and runs none.
	models := &Liveness{
		BaseURL: "https://{host}", Path: "/openai/models?api-version=2024-10-21", Auth: HeaderAuth("api-key"),
		Live: []int{200}, Dead: []int{401},
	}
	register(&Provider{
		ID: "azure-openai", Name: "Azure OpenAI / Azure AI services", Category: CloudML,
		RevokeURL: "https://portal.azure.com/#browse/Microsoft.CognitiveServices%2Faccounts",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Azure OpenAI API key (32 hex)",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     models,
				Rule: Rule{
					Description:   "Azure OpenAI key: 32 hex after an Azure name (AZURE_OPENAI_API_KEY, AzureOpenAI(...), openai.azure.com)",
					Keywords:      []string{"azure"},
					ContextWindow: 64,
					Pattern:       `[0-9a-f]{32}`,
					MinEntropy:    3,
					Hints:         map[string]Near{"host": azureAIHost},
					Examples: func(g *Gen) []Example {
						k := g.Hex(32)
						host := g.Lower(8) + ".openai.azure.com"
						return append(assign("AZURE_OPENAI_API_KEY", k),
							Ex("AZURE_OPENAI_ENDPOINT=https://"+host+"/\nAZURE_OPENAI_KEY="+k+"\n", k),
							Ex(notebook(`client = AzureOpenAI(azure_endpoint="https://`+host+`", api_key="`+k+`", api_version="2024-10-21")`), k),
							Ex("curl https://"+host+`/openai/deployments?api-version=2024-10-21 -H "api-key: `+k+`"`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"OPENAI_API_KEY=" + g.Hex(32), // no Azure name
							"AZURE_OPENAI_API_KEY=" + g.Hex(31),
							"AZURE_OPENAI_API_KEY=" + g.Hex(33),
							"AZURE_OPENAI_API_KEY=" + g.Chars("ABCDEF0123456789", 32),
							"azure " + g.Alnum(80) + "\nmd5 = " + g.Hex(32),
						}
					},
				},
			},
			{
				ID: "identifiable-key", Name: "Azure AI services key (84-character identifiable key)",
				// Azure OpenAI, Speech, Vision, Document Intelligence...: the
				// character after the fixed AAA names the service.
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     models,
				Rule: Rule{
					// 52 random alphanumerics, the Azure signature JQQJ99 at a
					// fixed place, 14 more, AAA + a service letter + ACOG (the
					// Cognitive Services tag), 4 more: 84 characters in all.
					// The boundary (no letter, digit, _ or - on either side)
					// keeps it from starting inside a longer run.
					Description: "Azure AI services key: 52 alphanumerics + JQQJ99 + 14 + AAA?ACOG + 4 (84 characters)",
					Keywords:    []string{"JQQJ99"},
					Pattern:     `[A-Za-z0-9]{52}JQQJ99[A-Za-z0-9]{14}AAA[A-Za-z0-9]ACOG[A-Za-z0-9]{4}`,
					MinEntropy:  4,
					Hints:       map[string]Near{"host": azureAIHost},
					Examples: func(g *Gen) []Example {
						key := func(service string) string {
							return g.Alnum(52) + "JQQJ99" + g.Alnum(14) + "AAA" + service + "ACOG" + g.Alnum(4)
						}
						k, k2 := key("B"), key("Y")
						return append(assign("AZURE_OPENAI_API_KEY", k),
							Ex(`endpoint = "https://`+g.Lower(6)+`.cognitiveservices.azure.com/"`+"\nkey = \""+k2+"\"\n", k2),
							Ex(`speech_config = speechsdk.SpeechConfig(subscription="`+k2+`", region="eastus")`, k2))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							g.Alnum(51) + "JQQJ99" + g.Alnum(14) + "AAAB" + "ACOG" + g.Alnum(4),
							g.Alnum(52) + "JQQJ98" + g.Alnum(14) + "AAAB" + "ACOG" + g.Alnum(4),
							g.Alnum(52) + "JQQJ99" + g.Alnum(14) + "AAAB" + "ACOX" + g.Alnum(4),
							g.Alnum(52) + "JQQJ99" + g.Alnum(14) + "AAAB" + "ACOG" + g.Alnum(5),
						}
					},
				},
			},
		},
	})
}
