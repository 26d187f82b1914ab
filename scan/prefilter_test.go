package scan

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aicred/aicred/provider"
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

// TestRunFilterMatchAgrees holds matchExact and matchHead, whose sequence
// matchers take the bytes of a class that holds the whole run without
// testing them, to the regexps they stand for, on runs of the filter's
// bytes: every catalog rule's and near pattern's filter, on runs drawn
// around the lengths its pattern allows and on the catalog's secrets.
func TestRunFilterMatchAgrees(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var secrets []string
	for _, k := range provider.Kinds() {
		for _, ex := range k.Rule.Examples(provider.NewGen(17)) {
			secrets = append(secrets, ex.Secret)
		}
	}
	checked := 0
	check := func(id string, f *runFilter) {
		if f == nil || f.seq == nil {
			return
		}
		var set []byte
		for c := range 256 {
			if f.set[c] {
				set = append(set, byte(c))
			}
		}
		runs := [][]byte{}
		for _, s := range secrets {
			if in := []byte(s); len(in) > 0 && !slices.ContainsFunc(in, func(c byte) bool { return !f.set[c] }) {
				runs = append(runs, in)
			}
		}
		for range 300 {
			b := make([]byte, max(f.min-2+rng.IntN(f.maxLen-f.min+5), 1))
			for i := range b {
				b[i] = set[rng.IntN(len(set))]
			}
			runs = append(runs, b)
		}
		for _, b := range runs {
			if f.exact != nil {
				if got, want := f.matchExact(b), f.exact.Match(b); got != want {
					t.Fatalf("%s: matchExact(%q) = %v, regexp says %v", id, b, got, want)
				}
			}
			if f.head != nil && bytes.HasPrefix(b, f.headPrefix) {
				want := -1
				if loc := f.head.FindIndex(b); loc != nil {
					want = loc[1]
				}
				if got := f.matchHead(b); got != want {
					t.Fatalf("%s: matchHead(%q) = %d, regexp says %d", id, b, got, want)
				}
			}
			checked++
		}
	}
	for _, r := range e.rules {
		check(r.kind.Rule.ID, r.rf)
		for _, n := range append(append([]near{}, r.related...), r.hints...) {
			check(r.kind.Rule.ID+"/"+n.name, n.rf)
		}
	}
	t.Logf("%d runs", checked)
}
