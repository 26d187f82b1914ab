package scan

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aicred/aicred/provider"
)

// TestSortMatches holds overlap resolution's keyed sort to the
// stable sort of the rules' matches it replaces, on random spans.
func TestSortMatches(t *testing.T) {
	kinds := provider.Kinds()
	rng := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		var ms []Match
		// Each rule's matches are disjoint and in order, as apply makes them.
		for r := range 1 + rng.IntN(5) {
			pos := rng.IntN(10)
			for range rng.IntN(8) {
				s := pos + rng.IntN(6)
				e := s + 1 + rng.IntN(6)
				ms = append(ms, Match{Kind: kinds[rng.IntN(len(kinds))], Start: s, End: e, rule: int32(r), ctxDist: rng.IntN(3)})
				pos = e
			}
		}
		want := append([]Match(nil), ms...)
		slices.SortStableFunc(want, func(a, b Match) int {
			if a.Start != b.Start {
				return a.Start - b.Start
			}
			return b.End - a.End
		})
		got := append([]Match(nil), ms...)
		sortMatches(got, nil)
		for i := range got {
			if got[i].Start != want[i].Start || got[i].End != want[i].End || got[i].Kind != want[i].Kind || got[i].rule != want[i].rule {
				t.Fatalf("match %d: %+v, the stable sort gives %+v", i, got[i], want[i])
			}
		}
	}
}
