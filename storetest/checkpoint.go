package storetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/seal"
)

// checkpoints returns s as an audit.CheckpointStore, failing when it is
// not one.
func checkpoints(tb testing.TB, s aicred.Store) audit.CheckpointStore {
	tb.Helper()
	cs, ok := s.(audit.CheckpointStore)
	if !ok {
		tb.Fatalf("%T does not keep audit checkpoints", s)
	}
	return cs
}

func keyring(tb testing.TB) *seal.Keyring {
	tb.Helper()
	return must(seal.NewKeyring(seal.NewKey()))(tb)
}

// verifyCheckpoints runs the chain and checkpoint verification `aicred
// audit verify` runs.
func verifyCheckpoints(tb testing.TB, s aicred.Store, keys audit.CheckpointKeys) (aicred.AuditVerification, audit.CheckpointVerification) {
	tb.Helper()
	v := must(s.VerifyAudit(ctx(tb)))(tb)
	pubs := must(keys.CheckpointPublicKeys())(tb)
	cv := must(audit.VerifyStoreCheckpoints(ctx(tb), s, checkpoints(tb, s), pubs))(tb)
	return v, cv
}

func testAuditCheckpoints(t *testing.T, b Backend) {
	s := open(t, b)
	cs := checkpoints(t, s)
	ring := keyring(t)
	wantKind(t, func() error { _, err := cs.LastCheckpoint(ctx(t)); return err }(), aicred.ErrNotFound)
	head := must(cs.AuditHead(ctx(t)))(t)
	if head.Seq != 0 || head.Hash != audit.Genesis {
		t.Fatalf("empty log's head: %+v", head)
	}
	cp := &audit.Checkpointer{Store: cs, Signer: ring}
	if wrote := must(cp.Once(ctx(t), 5, time.Hour))(t); wrote {
		t.Fatal("a checkpoint of an empty log")
	}
	evs := seedAudit(t, s, 10)
	head = must(cs.AuditHead(ctx(t)))(t)
	if head.Seq != 10 || head.Hash != evs[9].Hash {
		t.Fatalf("head %+v, want 10 and the last record's hash", head)
	}
	if wrote := must(cp.Once(ctx(t), 5, time.Hour))(t); !wrote {
		t.Fatal("no checkpoint of 10 new records (every 5)")
	}
	last := must(cs.LastCheckpoint(ctx(t)))(t)
	if last.Seq != 10 || last.Hash != evs[9].Hash || last.KeyID != ring.Primary() || len(last.Signature) != ed25519.SignatureSize {
		t.Fatalf("checkpoint %+v", last)
	}
	// A second server signing the same head keeps the first checkpoint.
	again := must(audit.Sign(ring, head, time.Now().Add(time.Second)))(t)
	if err := cs.PutCheckpoint(ctx(t), again); err != nil {
		t.Fatalf("the same head again: %v", err)
	}
	if got := must(cs.ListCheckpoints(ctx(t)))(t); len(got) != 1 || !got[0].At.Equal(last.At) {
		t.Fatalf("checkpoints after a duplicate: %+v", got)
	}
	wantKind(t, cs.PutCheckpoint(ctx(t), audit.Checkpoint{Seq: 11}), aicred.ErrInvalid)

	// Fewer than Every new records and Interval not passed: none.
	seedAudit(t, s, 3)
	if wrote := must(cp.Once(ctx(t), 5, time.Hour))(t); wrote {
		t.Fatal("a checkpoint after 3 records (every 5, hourly)")
	}
	// Interval passed: one.
	if wrote := must(cp.Once(ctx(t), 5, time.Nanosecond))(t); !wrote {
		t.Fatal("no checkpoint once the interval passed")
	}
	got := must(cs.ListCheckpoints(ctx(t)))(t)
	if len(got) != 2 || got[0].Seq != 10 || got[1].Seq != 13 {
		t.Fatalf("checkpoints %+v, want at 10 and 13", got)
	}
	// Checkpoints are not audit records: the head did not move.
	if h := must(cs.AuditHead(ctx(t)))(t); h.Seq != 13 {
		t.Fatalf("head %d after checkpoints, want 13", h.Seq)
	}
	v, cv := verifyCheckpoints(t, s, ring)
	if !v.OK() || !cv.OK() || cv.Checkpoints != 2 || cv.Last != 13 {
		t.Fatalf("verify: %+v %+v", v, cv)
	}

	// After a master key rotation the new key signs; the old
	// checkpoints still verify, also once the old key is retired.
	path := t.TempDir() + "/master.key"
	fring, _ := must2(seal.OpenFile(path))(t)
	cp.Signer = fring
	seedAudit(t, s, 1)
	must(cp.Once(ctx(t), 1, time.Hour))(t)
	old := fring.Primary()
	must(fring.Rotate())(t)
	seedAudit(t, s, 1)
	must(cp.Once(ctx(t), 1, time.Hour))(t)
	if err := fring.Retire(old); err != nil {
		t.Fatal(err)
	}
	pubs := must(fring.CheckpointPublicKeys())(t)
	for k, v := range must(ring.CheckpointPublicKeys())(t) {
		pubs[k] = v
	}
	cv = must(audit.VerifyStoreCheckpoints(ctx(t), s, cs, pubs))(t)
	if !cv.OK() || cv.Checkpoints != 4 || cv.Last != 15 {
		t.Fatalf("after rotation and retirement: %+v", cv)
	}
	// Without the retired key's public half, its checkpoint fails.
	delete(pubs, old)
	if cv = must(audit.VerifyStoreCheckpoints(ctx(t), s, cs, pubs))(t); cv.OK() || cv.BadSeq != 14 {
		t.Fatalf("checkpoint of an unknown key: %+v", cv)
	}
}

// testAuditCheckpointTamper: an attacker with database access rewrites
// the whole chain consistently (every hash recomputed, the head moved):
// the chain verifies, the checkpoints catch it. So does a forged
// checkpoint, and records removed up to a checkpoint.
func testAuditCheckpointTamper(t *testing.T, b Backend) {
	if b.Exec == nil {
		t.Skip("backend offers no raw SQL access")
	}
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		tamper func(evs []aicred.AuditEvent, cp audit.Checkpoint) []string
		bad    int64
	}{
		{"rewritten-consistently", func(evs []aicred.AuditEvent, _ audit.Checkpoint) []string {
			// Change record 4, then recompute every hash after it and
			// the head, as a careful attacker would.
			chain := append([]aicred.AuditEvent(nil), evs...)
			chain[3].Actor = "mallory"
			var qs []string
			for i := 3; i < len(chain); i++ {
				chain[i].PrevHash = chain[i-1].Hash
				chain[i].Hash = audit.Hash(&chain[i])
				qs = append(qs, "UPDATE audit_log SET actor = "+sqlText(chain[i].Actor)+", prev_hash = "+sqlText(chain[i].PrevHash)+
					", hash = "+sqlText(chain[i].Hash)+" WHERE seq = "+itoa(chain[i].Seq))
			}
			last := chain[len(chain)-1]
			return append(qs, "UPDATE audit_head SET seq = "+itoa(last.Seq)+", hash = "+sqlText(last.Hash))
		}, 10},
		{"checkpoint-re-signed-by-another-key", func(evs []aicred.AuditEvent, cp audit.Checkpoint) []string {
			sig := ed25519.Sign(mallory, audit.CheckpointMessage(cp.Seq, cp.Hash, cp.At))
			return []string{"UPDATE audit_checkpoints SET signature = " + sqlText(b64(sig)) + " WHERE seq = 10"}
		}, 10},
		{"checkpoint-moved", func(evs []aicred.AuditEvent, cp audit.Checkpoint) []string {
			return []string{"UPDATE audit_checkpoints SET hash = " + sqlText(evs[8].Hash) + ", seq = 9 WHERE seq = 10"}
		}, 9},
		{"checkpoint-unknown-key", func(evs []aicred.AuditEvent, cp audit.Checkpoint) []string {
			return []string{"UPDATE audit_checkpoints SET key_id = 'mk_mallory' WHERE seq = 10"}
		}, 10},
		{"truncated-through-checkpoint", func(evs []aicred.AuditEvent, cp audit.Checkpoint) []string {
			return []string{"DELETE FROM audit_log WHERE seq >= 8", "UPDATE audit_head SET seq = 7, hash = " + sqlText(evs[6].Hash)}
		}, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, b)
			cs := checkpoints(t, s)
			ring := keyring(t)
			evs := seedAudit(t, s, 10)
			cpr := &audit.Checkpointer{Store: cs, Signer: ring}
			must(cpr.Once(ctx(t), 1, time.Hour))(t)
			cp := must(cs.LastCheckpoint(ctx(t)))(t)
			if _, cv := verifyCheckpoints(t, s, ring); !cv.OK() {
				t.Fatalf("before: %+v", cv)
			}
			for _, q := range c.tamper(evs, cp) {
				b.Exec(t, s, q)
			}
			v, cv := verifyCheckpoints(t, s, ring)
			if c.name == "rewritten-consistently" && !v.OK() {
				t.Fatalf("the consistent rewrite should pass the chain check alone: %+v", v)
			}
			if cv.OK() || cv.BadSeq != c.bad || cv.Problem == "" {
				t.Fatalf("want the checkpoint at %d to fail, got %+v", c.bad, cv)
			}
			t.Logf("checkpoint %d: %s", cv.BadSeq, cv.Problem)
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// must2 is must for two results.
func must2[T, U any](v T, u U, err error) func(testing.TB) (T, U) {
	return func(tb testing.TB) (T, U) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v, u
	}
}
