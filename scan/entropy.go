package scan

import "math"

// maxTableCount bounds the byte counts whose terms come from tables.
const maxTableCount = 512

// clog2[c] is c*log2(c); dlog2[c] is clog2[c] - clog2[c-1], what one more
// of a byte adds to the sum when c-1 were counted before.
var clog2, dlog2 = func() (t, d [maxTableCount]float64) {
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
		d[c] = t[c] - t[c-1]
	}
	return t, d
}()

// Entropy returns the Shannon entropy of s in bits per character:
// log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c.
//
// A value shorter than maxTableCount (every key but a PEM block) is read
// once: each byte adds to the sum what its count's step adds
// (dlog2), into two sums for alternate bytes so that the additions do not
// wait on each other. Longer values count first and then add c*log2(c)
// per distinct byte.
func Entropy(s string) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	var sum float64
	if n < maxTableCount {
		var counts [256]uint16
		var s0, s1 float64
		i := 0
		for ; i+1 < n; i += 2 {
			a := counts[s[i]] + 1
			counts[s[i]] = a
			s0 += dlog2[a]
			b := counts[s[i+1]] + 1
			counts[s[i+1]] = b
			s1 += dlog2[b]
		}
		if i < n {
			a := counts[s[i]] + 1
			counts[s[i]] = a
			s0 += dlog2[a]
		}
		sum = s0 + s1
	} else {
		var counts [256]int32
		for i := 0; i < n; i++ {
			counts[s[i]]++
		}
		for _, c := range counts {
			if c > 1 {
				if int(c) < len(clog2) {
					sum += clog2[c]
				} else {
					sum += float64(c) * math.Log2(float64(c))
				}
			}
		}
	}
	return max(math.Log2(float64(n))-sum/float64(n), 0)
}
