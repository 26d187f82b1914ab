package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
)

func secret(seed uint64) aicred.Secret {
	return aicred.NewSecret("sk-test-" + provider.NewGen(seed).Alnum(40))
}

func ring(t *testing.T) *seal.Keyring {
	t.Helper()
	k, err := seal.NewKeyring(seal.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	k := ring(t)
	s := secret(1)
	aad := []byte("record-1")
	blob, id, err := k.Seal(s, aad)
	if err != nil {
		t.Fatal(err)
	}
	if id != k.Primary() {
		t.Fatalf("key id %s, primary %s", id, k.Primary())
	}
	if got, _ := seal.KeyIDOf(blob); got != id {
		t.Fatalf("KeyIDOf: %s", got)
	}
	for _, form := range [][]byte{[]byte(s.Reveal()), []byte(base64.StdEncoding.EncodeToString([]byte(s.Reveal()))), []byte(hex.EncodeToString([]byte(s.Reveal())))} {
		if bytes.Contains(blob, form) {
			t.Fatal("blob contains the plaintext")
		}
	}
	got, err := k.Open(blob, aad)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reveal() != s.Reveal() {
		t.Fatal("round trip changed the secret")
	}
	// Two seals of one secret differ: fresh data key and nonces.
	blob2, _, _ := k.Seal(s, aad)
	if bytes.Equal(blob, blob2) {
		t.Fatal("sealing is deterministic")
	}
	if _, _, err := k.Seal(aicred.Secret{}, aad); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("empty secret: %v", err)
	}
}

func TestWrongKeyFails(t *testing.T) {
	k1, k2 := ring(t), ring(t)
	blob, _, _ := k1.Seal(secret(2), nil)
	if _, err := k2.Open(blob, nil); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Fatalf("unknown key: %v", err)
	}
	// Same key id but different key material: forge the id into the blob.
	forged := append([]byte(nil), blob...)
	id2 := []byte(k2.Primary())
	copy(forged[2:2+len(id2)], id2)
	if _, err := k2.Open(forged, nil); aicred.KindOf(err) != aicred.ErrUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestTamperedBlobFails(t *testing.T) {
	k := ring(t)
	aad := []byte("id\x00fp")
	blob, _, _ := k.Seal(secret(3), aad)
	for i := range blob {
		b := append([]byte(nil), blob...)
		b[i] ^= 0x01
		if _, err := k.Open(b, aad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := k.Open(blob[:len(blob)-1], aad); err == nil {
		t.Fatal("truncated blob opened")
	}
	if _, err := k.Open([]byte{1, 2, 3}, aad); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("garbage: %v", err)
	}
}

func TestAADBindsRecord(t *testing.T) {
	k := ring(t)
	a := aicred.HeldCredential{ID: "hc_a", Fingerprint: secret(4).Fingerprint()}
	b := aicred.HeldCredential{ID: "hc_b", Fingerprint: secret(5).Fingerprint()}
	blobA, _, _ := k.Seal(secret(4), a.AAD())
	if _, err := k.Open(blobA, b.AAD()); aicred.KindOf(err) != aicred.ErrUnauthorized {
		t.Fatalf("blob swapped onto another record opened: %v", err)
	}
	if _, _, err := k.Rewrap(blobA, b.AAD()); err == nil {
		t.Fatal("rewrap accepted a blob of another record")
	}
	// Swapping only the data part between two records fails too.
	blobB, _, _ := k.Seal(secret(5), b.AAD())
	n := 2 + len(k.Primary()) + 12 + 48
	mixed := append(append([]byte(nil), blobA[:n]...), blobB[n:]...)
	if _, err := k.Open(mixed, a.AAD()); err == nil {
		t.Fatal("mixed blob opened")
	}
}

func TestKeyFileCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "master.key")
	k, created, err := seal.OpenFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", di.Mode().Perm())
	}
	blob, _, _ := k.Seal(secret(6), nil)

	// Reopening loads the same key.
	k2, created, err := seal.OpenFile(path)
	if err != nil || created {
		t.Fatalf("reopen: %v %v", created, err)
	}
	if _, err := k2.Open(blob, nil); err != nil {
		t.Fatal(err)
	}

	// A file others can read is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.LoadFile(path); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("world-readable key file: %v", err)
	}
}

func TestKeyFileConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			k, _, err := seal.OpenFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.Primary()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent creators disagree: %v", ids)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".master.key-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestEnvKeys(t *testing.T) {
	newK, oldK := seal.NewKey(), seal.NewKey()
	oldRing, _ := seal.NewKeyring(oldK)
	blob, _, _ := oldRing.Seal(secret(7), nil)

	t.Setenv(seal.EnvKey, base64.StdEncoding.EncodeToString(newK)+","+base64.RawURLEncoding.EncodeToString(oldK))
	k, err := seal.Default()
	if err != nil {
		t.Fatal(err)
	}
	if k.Primary() != seal.KeyID(newK) || len(k.IDs()) != 2 {
		t.Fatalf("primary %s ids %v", k.Primary(), k.IDs())
	}
	if _, err := k.Open(blob, nil); err != nil {
		t.Fatalf("old key in env does not open: %v", err)
	}
	if _, err := k.Rotate(); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("rotate env keys: %v", err)
	}
	for _, bad := range []string{"!!!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := seal.ParseEnv(bad); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestDefaultCreatesKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(seal.EnvKey, "")
	t.Setenv(seal.EnvKeyFile, "")
	t.Setenv("XDG_CONFIG_HOME", dir)
	k, err := seal.Default()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "aicred", "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default key file: %v %v", fi, err)
	}
	if k.Primary() == "" {
		t.Fatal("no primary key")
	}
}

func TestRotationRewrapsAndOldBlobsStillOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, _, err := seal.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	oldID := k.Primary()
	type rec struct {
		aad  []byte
		s    aicred.Secret
		blob []byte
	}
	var recs []rec
	for i := range 20 {
		s := secret(uint64(100 + i))
		aad := []byte{byte(i)}
		blob, _, _ := k.Seal(s, aad)
		recs = append(recs, rec{aad, s, blob})
	}

	// A second process that loaded the keyring before the rotation.
	other, err := seal.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	newID, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || k.Primary() != newID || len(k.IDs()) != 2 {
		t.Fatalf("after rotate: primary %s ids %v", k.Primary(), k.IDs())
	}
	// Midway: half re-wrapped. Every blob, old or new, opens in both
	// processes.
	for i := range recs[:10] {
		nb, id, err := k.Rewrap(recs[i].blob, recs[i].aad)
		if err != nil || id != newID {
			t.Fatalf("rewrap %d: %s %v", i, id, err)
		}
		if !bytes.Equal(nb[len(nb)-16:], recs[i].blob[len(recs[i].blob)-16:]) {
			t.Fatal("rewrap re-encrypted the secret; it should only re-wrap the data key")
		}
		recs[i].blob = nb
	}
	for i, r := range recs {
		for _, kr := range []*seal.Keyring{k, other} {
			got, err := kr.Open(r.blob, r.aad)
			if err != nil || got.Reveal() != r.s.Reveal() {
				t.Fatalf("record %d during rotation: %v", i, err)
			}
		}
	}
	for i := range recs[10:] {
		r := &recs[10+i]
		nb, _, err := k.Rewrap(r.blob, r.aad)
		if err != nil {
			t.Fatal(err)
		}
		r.blob = nb
	}
	// Rewrap of an already re-wrapped blob is a no-op.
	if nb, _, _ := k.Rewrap(recs[0].blob, recs[0].aad); !bytes.Equal(nb, recs[0].blob) {
		t.Fatal("rewrap under the primary key changed the blob")
	}
	if err := k.Retire(newID); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("retire primary: %v", err)
	}
	if err := k.Retire(oldID); err != nil {
		t.Fatal(err)
	}
	reloaded, err := seal.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ids := reloaded.IDs(); len(ids) != 1 || ids[0] != newID {
		t.Fatalf("after retire: %v", ids)
	}
	for i, r := range recs {
		if kid, _ := seal.KeyIDOf(r.blob); kid != newID {
			t.Fatalf("record %d still under %s", i, kid)
		}
		got, err := reloaded.Open(r.blob, r.aad)
		if err != nil || got.Reveal() != r.s.Reveal() {
			t.Fatalf("record %d after rotation: %v", i, err)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode after rotation %04o", fi.Mode().Perm())
	}
}

// Two processes rotating at once keep both new keys.
func TestConcurrentRotateKeepsEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := seal.OpenFile(path); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		k, err := seal.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			id, err := k.Rotate()
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	k, err := seal.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(k.IDs()); got != 7 {
		t.Fatalf("%d keys after 6 concurrent rotations, want 7", got)
	}
}
