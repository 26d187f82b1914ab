package scan

import "math"

// clog2[c] is c*log2(c), for the counts of short values.
var clog2 = func() [512]float64 {
	var t [512]float64
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// Entropy returns the Shannon entropy of s in bits per character:
// log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c. The sum walks
// s, not all 256 counts, and takes c*log2(c) from a table.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int32
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var sum float64
	for i := 0; i < len(s); i++ {
		c := counts[s[i]]
		if c == 0 {
			continue
		}
		counts[s[i]] = 0
		if int(c) < len(clog2) {
			sum += clog2[c]
		} else {
			sum += float64(c) * math.Log2(float64(c))
		}
	}
	n := float64(len(s))
	return max(math.Log2(n)-sum/n, 0)
}
