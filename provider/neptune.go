package provider

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/aicred/aicred"
)

// neptuneTokenPrefix is base64 of `{"api_address":`, the start of every
// Neptune API token.
const neptuneTokenPrefix = "eyJhcGlfYWRkcmVzcyI6"

// neptuneAnonymousKey is the api_key inside the public anonymous token that
// neptune-client ships as ANONYMOUS_API_TOKEN.
const neptuneAnonymousKey = "b706bc8f-76f9-4c2e-939d-4ba036f932e4"

// validNeptuneToken decodes the token and requires the JSON object Neptune
// itself reads: an api_address and an api_key, not the anonymous one.
func validNeptuneToken(s string) bool {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return false
		}
	}
	var t struct {
		APIAddress string `json:"api_address"`
		APIKey     string `json:"api_key"`
	}
	if json.Unmarshal(raw, &t) != nil {
		return false
	}
	return t.APIAddress != "" && len(t.APIKey) >= 16 && t.APIKey != neptuneAnonymousKey
}

func init() {
	token := func(g *Gen, key string) string {
		host := "https://" + g.Lower(8) + ".neptune.ai"
		return base64.StdEncoding.EncodeToString([]byte(`{"api_address":"` + host + `","api_url":"` + host + `","api_key":"` + key + `"}`))
	}
	register(&Provider{
		ID: "neptune", Name: "neptune.ai", Category: MLOps,
		RevokeURL: "https://app.neptune.ai",
		Kinds: []*Kind{{
			ID: "api-token", Name: "neptune.ai API token",
			Capabilities: caps(aicred.CapTracking, aicred.CapModelRegistry, aicred.CapFilesData),
			// No scanner or reference documents a liveness check.
			Rule: Rule{
				Description: "neptune.ai API token: base64 of a JSON object with api_address and api_key",
				Keywords:    []string{neptuneTokenPrefix},
				Pattern:     neptuneTokenPrefix + `[A-Za-z0-9+/]{40,600}={0,2}`,
				Boundary:    "A-Za-z0-9+/_-",
				MinEntropy:  4,
				Validate:    validNeptuneToken,
				Examples: func(g *Gen) []Example {
					k := token(g, g.UUID())
					return append(assign("NEPTUNE_API_TOKEN", k),
						Ex(notebook(`run = neptune.init_run(project="team/proj", api_token="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					anon := token(g, neptuneAnonymousKey)
					full := token(g, g.UUID())
					return []string{
						"NEPTUNE_API_TOKEN=" + anon, // the public anonymous token
						"NEPTUNE_API_TOKEN=" + full[:len(full)-12],
						"NEPTUNE_API_TOKEN=" + neptuneTokenPrefix + g.B64(80),
						"NEPTUNE_API_TOKEN=" + base64.StdEncoding.EncodeToString([]byte(`{"api_address":"https://app.neptune.ai"}`)),
					}
				},
			},
		}},
	})
}
