package gateway

import (
	"net/url"
	"strings"
)

// bedrockRegion reads the region from a Bedrock runtime base URL
// ("https://bedrock-runtime.eu-west-1.amazonaws.com"), else us-east-1.
func bedrockRegion(base string) string {
	u, err := url.Parse(base)
	if err == nil {
		if r, ok := strings.CutPrefix(u.Hostname(), "bedrock-runtime."); ok {
			if r, _, ok := strings.Cut(r, "."); ok && r != "" {
				return r
			}
		}
	}
	return "us-east-1"
}
