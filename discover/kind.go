package discover

import (
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// MatchesKind reports whether the engine recognises secret as kind k: the
// check made before aicred holds a credential, so that the inventory,
// redacted preview and posture describe what is really held.
//
// An AWS access key is held as its pair, "KEY_ID:SECRET_ACCESS_KEY" or
// "KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN" (the gateway signs Bedrock
// requests with it): the key id must match the kind and the secret key
// must have its 40-character shape.
func MatchesKind(k *provider.Kind, secret aicred.Secret) bool {
	raw := secret.Reveal()
	if p := k.Provider(); p != nil && p.ID == "aws" && k.ID == "access-key-id" && strings.Contains(raw, ":") {
		parts := strings.Split(raw, ":")
		if len(parts) > 3 || !awsSecretKey(parts[1]) || (len(parts) == 3 && parts[2] == "") {
			return false
		}
		raw = parts[0]
	}
	e, err := scan.New(scan.Options{Kinds: []*provider.Kind{k}, DecodeDepth: -1, NoInlineAllow: true})
	if err != nil {
		return false
	}
	found := false
	// Context rules need one of their words before the value.
	for _, kw := range k.Rule.Keywords {
		e.Scan([]byte(kw+" = "+raw+"\n"), func(m scan.Match) { found = found || m.Secret == raw })
		if found || k.Rule.ContextWindow == 0 {
			break
		}
	}
	return found
}

// awsSecretKey reports whether s has the shape of an AWS secret access
// key: 40 characters of base64's alphabet.
func awsSecretKey(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '/' || c == '+') {
			return false
		}
	}
	return true
}
