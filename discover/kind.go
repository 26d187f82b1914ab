package discover

import (
	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// MatchesKind reports whether the engine recognises secret as kind k: the
// check made before aicred holds a credential, so that the inventory,
// redacted preview and posture describe what is really held.
func MatchesKind(k *provider.Kind, secret aicred.Secret) bool {
	e, err := scan.New(scan.Options{Kinds: []*provider.Kind{k}, DecodeDepth: -1, NoInlineAllow: true})
	if err != nil {
		return false
	}
	raw := secret.Reveal()
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
