package broker

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// What became of a leaked aicred token (LeakResult.Status).
const (
	// LeakRevoked: the token's grant was active and is now revoked.
	LeakRevoked = "revoked"
	// LeakAlreadyDead: the grant was already revoked or had expired;
	// nothing was changed.
	LeakAlreadyDead = "already-dead"
	// LeakUnknown: a well-formed aicred token this store never issued
	// (another deployment's, or a made-up one); reported and ignored.
	LeakUnknown = "unknown"
	// LeakNotToken: the text is not a well-formed aicred token (wrong
	// prefix, length or checksum); ignored.
	LeakNotToken = "not-a-token"
)

// A LeakResult says what RevokeLeaked did with one token. It never holds
// the token: GrantID names the grant it stood for, when one is known.
type LeakResult struct {
	Status  string `json:"status"`
	GrantID string `json:"grant_id,omitempty"`
	Class   string `json:"class,omitempty"`
}

// Ours reports whether the token was issued by this store (whatever its
// state): a true positive for a secret-scanning partner's feedback.
func (r LeakResult) Ours() bool { return r.GrantID != "" }

// maxLeakWhere bounds the place named in a leak revocation's reason.
const maxLeakWhere = 200

// RevokeLeaked revokes, at once, the grant of an aicred token found where
// it must not be. where names the place ("path/app.log:12", a URL); the
// revocation's reason is "leaked: " + where, with the token itself cut out
// should where contain it, so neither the token nor its hash is kept
// (the revocation is by grant id, audited token.revoked by the store).
// A token the store does not know is LeakUnknown, and a grant already
// revoked or expired is left alone. Errors are the store's
// (ErrUnavailable ...): the caller must retry or fail, since the leak
// stands.
func RevokeLeaked(ctx context.Context, s TokenStore, token, where string, now time.Time) (LeakResult, error) {
	if !provider.ValidToken(token) {
		return LeakResult{Status: LeakNotToken}, nil
	}
	g, err := s.LookupGrant(ctx, aicred.HashToken(token))
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound:
		return LeakResult{Status: LeakUnknown}, nil
	case err != nil:
		return LeakResult{}, err
	}
	res := LeakResult{Status: LeakAlreadyDead, GrantID: g.ID, Class: g.Class}
	if !g.Active(now) {
		return res, nil
	}
	r := &aicred.Revocation{By: aicred.RevokeToken, Value: g.ID, Reason: LeakReason(token, where)}
	if err := s.Revoke(ctx, r); err != nil {
		return LeakResult{}, err
	}
	res.Status = LeakRevoked
	return res, nil
}

// LeakReason is the reason recorded for revoking a leaked token: "leaked: "
// and the place, bounded, with the token and anything else shaped like an
// aicred token cut out of it.
func LeakReason(token, where string) string {
	where = strings.ReplaceAll(where, token, "[token]")
	where = scrubTokens(where)
	if len(where) > maxLeakWhere {
		cut := maxLeakWhere
		for cut > 0 && !utf8.RuneStart(where[cut]) {
			cut--
		}
		where = where[:cut] + "…"
	}
	if strings.TrimSpace(where) == "" {
		where = "unknown place"
	}
	return "leaked: " + where
}

// scrubTokens replaces every run that starts with an aicred token prefix
// by "[token]": a place name has no business carrying one.
func scrubTokens(s string) string {
	for _, p := range []string{provider.TokenPrefixWorkload, provider.TokenPrefixAdmin} {
		for {
			i := strings.Index(s, p)
			if i < 0 {
				break
			}
			j := i + len(p)
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			s = s[:i] + "[token]" + s[j:]
		}
	}
	return s
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
