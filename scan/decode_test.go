package scan

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// checkMayBePrintable fails when the early rejection drops a run whose
// decoded form printable accepts.
func checkMayBePrintable(t *testing.T, run []byte) (rejected bool) {
	t.Helper()
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	dec, err := base64.RawStdEncoding.DecodeString(string(run))
	if err != nil {
		return false
	}
	if !mayBePrintable(run) {
		if printable(dec) {
			t.Fatalf("mayBePrintable(%q) = false, but it decodes to printable text", run)
		}
		return true
	}
	return false
}

// TestMayBePrintable draws text with a varying share of bytes that are not
// text, base64-encodes it, and checks that the early rejection only drops
// what printable would.
func TestMayBePrintable(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	rejected, kept := 0, 0
	for range 20000 {
		b := make([]byte, 1+rng.IntN(120))
		badShare := rng.IntN(12) // percent
		for i := range b {
			switch r := rng.IntN(100); {
			case r < badShare:
				b[i] = byte(0x80 + rng.IntN(128))
			case r == 99 && rng.IntN(20) == 0:
				b[i] = 0
			default:
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		run := []byte(base64.RawStdEncoding.EncodeToString(b))
		if checkMayBePrintable(t, run) {
			rejected++
		} else {
			kept++
		}
	}
	if rejected < 1000 || kept < 1000 {
		t.Fatalf("%d rejected, %d kept: the draw does not exercise both answers", rejected, kept)
	}
}

func FuzzMayBePrintable(f *testing.F) {
	f.Add([]byte("c2stcHJvai1hYmNkZWZnaGlqa2xtbm9w"))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		run := make([]byte, 0, len(b))
		for _, c := range b {
			if b64Chars[c] {
				run = append(run, c)
			}
		}
		checkMayBePrintable(t, run)
	})
}
