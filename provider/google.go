package provider

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/aicred/aicred"
)

// googleExampleKeys holds the SHA-256 (hex) of the example AIza keys
// published in Google's Firebase SDKs (the list gitleaks allowlists). They are
// kept as hashes so that the repository holds nothing key-shaped.
var googleExampleKeys = map[string]bool{
	"f56e323494a6ffc2064e7a955908957d84f0755e5f975dabd64328d0359a8f7c": true,
	"2037abcaffb2b77785da716cf7ccff4ff4d00c4ea930db0167b7d71f50af7eb4": true,
	"3f370c9dd8225c63b5c77de1f785edc9712958f18bb612d5fa2e0ae33aeca682": true,
	"e4a5542bb7fd7b67e943c71ad29c34b5972c9840597e7eda53e666f44d5da0b9": true,
	"a19f89ab3555eac10c40741f6df79ecf0935998f15569f8db9d67bce0181fff6": true,
	"0b476bdf9acf2123d547b5ae76f1e59884d8ec9553ee0c47e9f31fd4768f3f3c": true,
	"eb540d2b6ee2a0a47c5779bc8a0141784c6b753840d4c6f4e2428a6e86e9e0b1": true,
	"37f8f09bdf12c2f2eae4ead7273a62ddb0c23459cbf902892f282b57f7ed6619": true,
	"8731261cb72d86267a32a532ebd3df429e2144e5e4ced7e13568bc9e6c8fb1b1": true,
	"49f777db995e8260da7ca9ffdf0c08d66f0453e97ec967018baf2cdfe3b582d0": true,
	"27a9a42931dff7eb2f8434e20a9bce976ea364e7bee49187f19d5cfeca9c7045": true,
	"dc0fcf046c61640cbd1e8b999ada3262d722c2ca4bf42dceac999020ffdbb614": true,
	"4c98242dcadc8b29005c6b4aad526552d5ea1842149154c0694adeec75847583": true,
	"ea9bb1082cf95663f5faca23b8b15ef2aa0fce0a5c6df9c32dcb85b2e0a4513d": true,
	"3a8b61d0f636b007840c0d40ba12bcf48465dc054cdc1a68704a33521d84b665": true,
	"a6c814bc555ae62c7bd8b58ec07bf559c7ed3a009976a1e0acc9cef0d4473b41": true,
}

// notGoogleExample rejects the published example keys.
func notGoogleExample(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return !googleExampleKeys[hex.EncodeToString(sum[:])]
}

func init() {
	// The key goes in a header, not in ?key=, so it stays out of proxy logs.
	// 400 means the key is invalid; 403 means it is active but refused here
	// (no Generative Language API, or an API, referrer, IP or app restriction).
	gemini := &Liveness{
		BaseURL: "https://generativelanguage.googleapis.com", Path: "/v1beta/models", Auth: HeaderAuth("x-goog-api-key"),
		Live: []int{200}, Dead: []int{400}, NoPermission: []int{403}, LiveBody: []string{`"models"`},
	}
	register(&Provider{
		ID: "google", Name: "Google (API keys, Gemini)", Category: ModelAPI,
		RevokeURL: "https://console.cloud.google.com/apis/credentials",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Google API key",
				// Any AIza key, including Maps and Firebase keys, reaches Gemini
				// once the Generative Language API is enabled on its project.
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     gemini,
				Rule: Rule{
					Description: "Google API key: AIza + 35 url-safe characters (39 characters)",
					Keywords:    []string{"AIza"},
					Pattern:     `AIza[A-Za-z0-9_-]{35}`,
					MinEntropy:  4,
					Validate:    notGoogleExample,
					Examples: func(g *Gen) []Example {
						k := "AIzaSy" + g.URL64(33)
						k2 := "AIza" + g.URL64(35)
						return append(assign("GOOGLE_API_KEY", k),
							Ex(notebook(`genai.configure(api_key="`+k+`")`), k),
							Ex(`const firebaseConfig = { apiKey: "`+k2+`", authDomain: "demo.firebaseapp.com" };`, k2),
							Ex(`<string name="google_api_key">`+k+`</string>`, k),
							Ex("https://maps.googleapis.com/maps/api/geocode/json?address=x&key="+k2, k2))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "AIza", URL64, 35),
							"AIZA"+g.URL64(35),         // prefix case differs
							"AIzaSy"+g.URL64(32),       // 32-character tail
							"AIzaSy"+g.Chars("ab", 33), // too little entropy
							"AIzaSy"+g.URL64(20)+"."+g.URL64(12),
						)
					},
				},
			},
			{
				ID: "gemini-key", Name: "Google Gemini API key (AQ. format)",
				RevokeURL:    "https://aistudio.google.com/app/apikey",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     gemini,
				Rule: Rule{
					// The reference gives AQ.Ab8RN6 + 44; Kingfisher matches the
					// shorter fixed run AQ.Ab8R + 46. Both make 53 characters.
					Description: "Google Gemini API key: AQ.Ab8R + 46 url-safe characters (53 characters)",
					Keywords:    []string{"AQ.Ab8R"},
					Pattern:     `AQ\.Ab8R[A-Za-z0-9_-]{46}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "AQ.Ab8RN6" + g.URL64(44)
						return append(assign("GEMINI_API_KEY", k),
							Ex(notebook(`client = genai.Client(api_key="`+k+`")`), k),
							Ex(curl("https://generativelanguage.googleapis.com/v1beta/models", "x-goog-api-key", k), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "AQ.Ab8RN6", URL64, 44),
							"AQ.Ab9RN6"+g.URL64(44),
							"AQxAb8RN6"+g.URL64(44),
						)
					},
				},
			},
			{
				// OAuth clients created in the Cloud console since 2021 carry a
				// GOCSPX- secret (28 url-safe characters, which may begin with
				// '-'); with the client id it mints tokens for whatever the
				// consenting user reaches, Vertex AI included.
				ID: "oauth-client-secret", Name: "Google OAuth client secret (GOCSPX-)",
				RevokeURL:    "https://console.cloud.google.com/apis/credentials",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
				Rule: simpleRule(simple{
					Desc: "Google OAuth client secret: GOCSPX- + 28 url-safe characters",
					Env:  "GOOGLE_CLIENT_SECRET", Prefix: "GOCSPX-", Set: URL64, N: 28,
					Extra: func(g *Gen, k string) []Example {
						dash := "GOCSPX--" + g.URL64(27) // a secret whose body starts with '-'
						return []Example{
							Ex(`{"installed":{"client_id":"`+g.Digits(12)+`-`+g.LowerNum(32)+`.apps.googleusercontent.com","client_secret":"`+k+`"}}`, k),
							Ex(`clientSecret: "`+dash+`",`, dash),
						}
					},
				}),
			},
			{
				// ya29. access tokens are short-lived bearer tokens for Google
				// APIs (Vertex AI among them); their length varies.
				ID: "oauth-access-token", Name: "Google OAuth access token (ya29.)",
				RevokeURL:    "https://myaccount.google.com/permissions",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
				Rule: simpleRule(simple{
					Desc: "Google OAuth 2.0 access token: ya29. + 30 to 1000 url-safe characters",
					Env:  "GOOGLE_ACCESS_TOKEN", Prefix: "ya29.",
					Pattern: `ya29\.[A-Za-z0-9_-]{30,1000}`,
					Gen:     func(g *Gen) string { return "ya29.a0" + g.URL64(150+g.IntN(100)) },
					Neg: func(g *Gen) []string {
						return []string{"ya29." + g.URL64(20), "ya28." + g.URL64(160), "xya29." + g.URL64(160)}
					},
					Entropy: 4,
					Extra: func(g *Gen, k string) []Example {
						return []Example{Ex(curl("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models", "Authorization", "Bearer "+k), k)}
					},
				}),
			},
		},
	})
}
