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
	for round := range 700 {
		var ms []Match
		// Each rule's matches are disjoint and in order, as apply makes them.
		// Rounds from 500 on are long enough for the radix sort, over
		// positions up to a few megabytes.
		rules, per, gap := 1+rng.IntN(5), 8, 6
		if round >= 500 {
			rules, per, gap = 2+rng.IntN(60), 200, 1+rng.IntN(1<<12)
		}
		for r := range rules {
			pos := rng.IntN(10 * gap)
			for range rng.IntN(per) {
				s := pos + rng.IntN(gap)
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
