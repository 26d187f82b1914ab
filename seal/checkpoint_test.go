package seal

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"
)

// TestCheckpointKeys: the checkpoint key is derived from the primary
// master key, so it rotates with it; a retired key's public half stays in
// the file, so checkpoints it signed still verify; the private half is
// never written.
func TestCheckpointKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, _, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("aicred audit checkpoint v1\n1\nabc\n")
	id1, sig1, err := k.SignCheckpoint(msg)
	if err != nil || id1 != k.Primary() || len(sig1) != ed25519.SignatureSize {
		t.Fatalf("sign: %q %d %v", id1, len(sig1), err)
	}
	// Deterministic: the same master key gives the same key.
	if _, again, _ := k.SignCheckpoint(msg); string(again) != string(sig1) {
		t.Fatal("Ed25519 signatures of one key differ: the key is not derived deterministically")
	}
	id2, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	gotID, sig2, err := k.SignCheckpoint(msg)
	if err != nil || gotID != id2 {
		t.Fatalf("after rotation signed by %q, want %q (%v)", gotID, id2, err)
	}
	if err := k.Retire(id1); err != nil {
		t.Fatal(err)
	}
	// Another process loading the file sees both public keys.
	other, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := other.CheckpointPublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 2 || !ed25519.Verify(pubs[id1], msg, sig1) || !ed25519.Verify(pubs[id2], msg, sig2) {
		t.Fatalf("public keys after retirement: %d, old verifies %v, new verifies %v", len(pubs),
			ed25519.Verify(pubs[id1], msg, sig1), ed25519.Verify(pubs[id2], msg, sig2))
	}
	if ed25519.Verify(pubs[id2], msg, sig1) {
		t.Fatal("the new key verifies the old key's signature")
	}
	// The checkpoint key is not the master key, nor derivable from the
	// file's public part.
	master, _ := k.key(id2)
	priv := checkpointKey(master)
	if string(priv.Seed()) == string(master) {
		t.Fatal("the checkpoint key is the master key")
	}
	// An environment keyring signs too, and knows its keys' public halves.
	env, err := NewKeyring(NewKey(), NewKey())
	if err != nil {
		t.Fatal(err)
	}
	eid, esig, err := env.SignCheckpoint(msg)
	if err != nil {
		t.Fatal(err)
	}
	epubs, err := env.CheckpointPublicKeys()
	if err != nil || len(epubs) != 2 || !ed25519.Verify(epubs[eid], msg, esig) {
		t.Fatalf("environment keyring: %d keys, %v", len(epubs), err)
	}
}
