package scan

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// hasContextForward is hasContext as first written: every keyword in
// reach, in order, the last before the secret that gives context being
// the nearest. The reference for the nearest-first walk.
func hasContextForward(data []byte, kws []span, s, t, ctx int) (bool, int) {
	i := sort.Search(len(kws), func(i int) bool { return kws[i].end >= s-max(ctx, blockBytes) })
	best := -1
	for ; i < len(kws); i++ {
		k := kws[i]
		switch {
		case k.end <= s:
			d := s - k.end
			if d <= ctx && !k.jumbled || k.word && d <= blockBytes && sameBlock(data, k, data[k.end:s]) {
				best = d
			}
		case k.start >= t:
			d := k.start - t
			if d > blockBytes || best >= 0 && d >= best {
				return best >= 0, best
			}
			if k.word && sameBlock(data, k, data[t:k.start]) {
				return true, d
			}
		}
	}
	return best >= 0, best
}

// TestHasContextNearestFirst draws lines of keywords and values and holds
// hasContext to the forward walk.
func TestHasContextNearestFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	words := []string{"azure", "KEY", "api_key: ", "export AZURE=", "\n", "\n\n", " ", "x", "[azure]\n", "aZure"}
	found := 0
	for range 20000 {
		var b []byte
		var kws []span
		for b2 := rng.IntN(40); b2 > 0; b2-- {
			w := words[rng.IntN(len(words))]
			if w == "azure" || w == "aZure" || w == "KEY" {
				start := len(b)
				b = append(b, w...)
				kws = append(kws, span{start: start, end: len(b)})
			} else {
				b = append(b, w...)
			}
			for n := rng.IntN(60); n > 0; n-- {
				b = append(b, 'a'+byte(rng.IntN(26)))
			}
		}
		if len(b) < 10 {
			continue
		}
		for i := range kws {
			kws[i] = kwSpan(b, kws[i].start, kws[i].end)
		}
		s := rng.IntN(len(b) - 5)
		t2 := s + 1 + rng.IntN(4)
		ctx := []int{24, 64, 512}[rng.IntN(3)]
		got, gd := hasContext(b, kws, s, t2, ctx)
		want, wd := hasContextForward(b, kws, s, t2, ctx)
		if got != want || gd != wd {
			t.Fatalf("hasContext = %v %d, the forward walk %v %d", got, gd, want, wd)
		}
		if want {
			found++
		}
	}
	if found < 1000 {
		t.Fatalf("only %d draws had context", found)
	}
}
