package provider

import (
	"math/rand/v2"
	"strings"
)

// Character sets used to generate and to describe key formats.
const (
	Digits   = "0123456789"
	Upper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	Lower    = "abcdefghijklmnopqrstuvwxyz"
	Letters  = Upper + Lower
	Alnum    = Upper + Lower + Digits
	UpperNum = Upper + Digits
	LowerNum = Lower + Digits
	Hex      = Digits + "abcdef"
	URL64    = Alnum + "-_"
	B64      = Alnum + "+/"
)

// Gen generates key-shaped test data from a format at test time, so the
// repository never holds a key-shaped string. It is deterministic per seed.
type Gen struct{ r *rand.Rand }

// NewGen returns a generator seeded with seed.
func NewGen(seed uint64) *Gen { return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

// Chars returns n characters drawn from set.
func (g *Gen) Chars(set string, n int) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(set[g.r.IntN(len(set))])
	}
	return b.String()
}

// Alnum, Hex and friends are shorthands for Chars.
func (g *Gen) Alnum(n int) string    { return g.Chars(Alnum, n) }
func (g *Gen) Hex(n int) string      { return g.Chars(Hex, n) }
func (g *Gen) URL64(n int) string    { return g.Chars(URL64, n) }
func (g *Gen) B64(n int) string      { return g.Chars(B64, n) }
func (g *Gen) Lower(n int) string    { return g.Chars(Lower, n) }
func (g *Gen) LowerNum(n int) string { return g.Chars(LowerNum, n) }
func (g *Gen) UpperNum(n int) string { return g.Chars(UpperNum, n) }
func (g *Gen) Letters(n int) string  { return g.Chars(Letters, n) }
func (g *Gen) Digits(n int) string   { return g.Chars(Digits, n) }

// UUID returns a random lower-case UUID-shaped string.
func (g *Gen) UUID() string {
	return g.Hex(8) + "-" + g.Hex(4) + "-4" + g.Hex(3) + "-" + g.Chars("89ab", 1) + g.Hex(3) + "-" + g.Hex(12)
}

// IntN returns a random int in [0, n).
func (g *Gen) IntN(n int) int { return g.r.IntN(n) }
