package scan

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzFoldLit holds the Horspool search to the plain case-folding scan.
func FuzzFoldLit(f *testing.F) {
	f.Add([]byte("x SESSION_TOKEN= y"), []byte("ssion"))
	f.Add([]byte("directorY"), []byte("directory"))
	f.Add([]byte("aaaab"), []byte("aab"))
	f.Fuzz(func(t *testing.T, data, lit []byte) {
		lit = bytes.ToLower(lit)
		if len(lit) == 0 {
			return
		}
		if got, want := newFoldLit(lit).in(data), containsFold(data, lit); got != want {
			t.Errorf("foldLit(%q).in(%q) = %v, scan says %v", lit, data, got, want)
		}
	})
}

func TestFoldLitAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alpha = "aAbBsStT_-.ion"
	yes := 0
	for range 20000 {
		lit := make([]byte, 1+rng.IntN(6))
		for i := range lit {
			lit[i] = lowerASCII(alpha[rng.IntN(len(alpha))])
		}
		data := make([]byte, rng.IntN(64))
		for i := range data {
			data[i] = alpha[rng.IntN(len(alpha))]
		}
		got, want := newFoldLit(lit).in(data), containsFold(data, lit)
		if got != want {
			t.Fatalf("foldLit(%q).in(%q) = %v, scan says %v", lit, data, got, want)
		}
		if want {
			yes++
		}
	}
	if yes < 1000 || yes > 19000 {
		t.Fatalf("%d of 20000 hold the literal: the draw does not exercise both answers", yes)
	}
}
