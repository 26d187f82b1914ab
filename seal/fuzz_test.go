package seal_test

import (
	"testing"

	"github.com/aicred/aicred/seal"
)

// FuzzOpen: a blob from anywhere either opens to the sealed secret (only
// the genuine one) or fails; it never panics.
func FuzzOpen(f *testing.F) {
	k, err := seal.NewKeyring(make([]byte, seal.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	sec := secret(9)
	blob, _, _ := k.Seal(sec, []byte("aad"))
	f.Add(blob)
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := k.Open(b, []byte("aad"))
		if err == nil && got.Reveal() != sec.Reveal() {
			t.Fatal("a forged blob opened")
		}
		_, _ = seal.KeyIDOf(b)
		_, _, _ = k.Rewrap(b, []byte("aad"))
	})
}
