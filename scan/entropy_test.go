package scan

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// entropyRef is the textbook form: -sum(p * log2(p)) over the bytes' frequencies.
func entropyRef(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

func TestEntropy(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want float64
	}{
		{"", 0},
		{"a", 0},
		{"aaaa", 0},
		{"ab", 1},
		{"abcd", 2},
		{"aabb", 1},
		{"0123456789abcdef", 4},
		{strings.Repeat("0123456789abcdef", 100), 4}, // long: the counting form
		{strings.Repeat("ab", 255) + "c", entropyRef(strings.Repeat("ab", 255) + "c")},
	} {
		if got := Entropy(tc.s); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Entropy(%.20q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	// Every length around the switch between the two forms, random
	// values from small and large alphabets.
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 2*maxTableCount; n++ {
		for _, alpha := range []int{2, 16, 64, 256} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(alpha))
			}
			if got, want := Entropy(string(b)), entropyRef(string(b)); math.Abs(got-want) > 1e-9 {
				t.Fatalf("length %d, alphabet %d: Entropy = %v, want %v", n, alpha, got, want)
			}
		}
	}
}

func FuzzEntropy(f *testing.F) {
	f.Add("sk-proj-abc")
	f.Add(strings.Repeat("z", 600))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Entropy(s), entropyRef(s); math.Abs(got-want) > 1e-9 || got < 0 || got > 8+1e-9 {
			t.Fatalf("Entropy(%q) = %v, want %v", s, got, want)
		}
	})
}

// BenchmarkEntropy measures a 40-byte key, the usual candidate.
func BenchmarkEntropy(b *testing.B) {
	s := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9mVb3Kd2"
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		Entropy(s)
	}
}
