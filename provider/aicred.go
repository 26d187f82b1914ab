package provider

import (
	"hash/crc32"
	"strings"

	"github.com/aicred/aicred"
)

// aicred's own tokens are opaque and self-identifying, so a leaked one is
// recognised offline: a prefix naming the token class, 30 base62 characters
// of randomness (178 bits) and a 6-character base62 checksum (CRC-32 of
// prefix and random part). Workload tokens and admin tokens differ in prefix.
const (
	TokenPrefixWorkload = "aicw_"
	TokenPrefixAdmin    = "aica_"
	tokenRandomLen      = 30
	tokenChecksumLen    = 6
	base62              = Digits + Upper + Lower
)

// TokenChecksum returns the checksum part for a prefix and random part.
func TokenChecksum(prefix, random string) string {
	sum := uint64(crc32.ChecksumIEEE([]byte(prefix + random)))
	var b [tokenChecksumLen]byte
	for i := tokenChecksumLen - 1; i >= 0; i-- {
		b[i] = base62[sum%62]
		sum /= 62
	}
	return string(b[:])
}

// FormatToken builds a token from a prefix and tokenRandomLen base62 characters.
func FormatToken(prefix, random string) string {
	return prefix + random + TokenChecksum(prefix, random)
}

// TokenRandomLen is the number of random base62 characters in a token.
const TokenRandomLen = tokenRandomLen

// ValidToken reports whether s has a known aicred prefix, the right length
// and charset, and a correct checksum.
func ValidToken(s string) bool {
	var prefix string
	switch {
	case strings.HasPrefix(s, TokenPrefixWorkload):
		prefix = TokenPrefixWorkload
	case strings.HasPrefix(s, TokenPrefixAdmin):
		prefix = TokenPrefixAdmin
	default:
		return false
	}
	body := s[len(prefix):]
	if len(body) != tokenRandomLen+tokenChecksumLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false
		}
	}
	return TokenChecksum(prefix, body[:tokenRandomLen]) == body[tokenRandomLen:]
}

func init() {
	tokenExamples := func(prefix string) func(g *Gen) []Example {
		return func(g *Gen) []Example {
			t := FormatToken(prefix, g.Chars(base62, tokenRandomLen))
			return append(assign("AICRED_TOKEN", t), Ex("Authorization: Bearer "+t, t))
		}
	}
	tokenNegatives := func(prefix string) func(g *Gen) []string {
		return func(g *Gen) []string {
			t := FormatToken(prefix, g.Chars(base62, tokenRandomLen))
			bad := t[:len(t)-1] + string(base62[(strings.IndexByte(base62, t[len(t)-1])+1)%62])
			return []string{bad, t[:len(t)-1], prefix + g.Alnum(36)}
		}
	}
	register(&Provider{
		ID: "aicred", Name: "aicred", Category: Broker,
		RevokeURL: "https://github.com/aicred/aicred",
		Kinds: []*Kind{
			{
				ID: "workload-token", Name: "aicred workload token",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule: Rule{
					Description: "aicred short-lived workload token: aicw_ + 30 base62 + 6-character checksum",
					Keywords:    []string{TokenPrefixWorkload},
					Pattern:     TokenPrefixWorkload + `[0-9A-Za-z]{36}`,
					Validate:    ValidToken,
					Examples:    tokenExamples(TokenPrefixWorkload),
					Negatives:   tokenNegatives(TokenPrefixWorkload),
				},
			},
			{
				ID: "admin-token", Name: "aicred admin token",
				Capabilities: caps(aicred.CapKeyAdmin, aicred.CapOrgAdmin),
				Rule: Rule{
					Description: "aicred admin API token: aica_ + 30 base62 + 6-character checksum",
					Keywords:    []string{TokenPrefixAdmin},
					Pattern:     TokenPrefixAdmin + `[0-9A-Za-z]{36}`,
					Validate:    ValidToken,
					Examples:    tokenExamples(TokenPrefixAdmin),
					Negatives:   tokenNegatives(TokenPrefixAdmin),
				},
			},
		},
	})
}
