package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aicred/aicred"
)

// Signed checkpoints.
//
// A hash chain proves the log was not changed relative to a head one
// trusts; whoever can rewrite the whole table can recompute every hash and
// the head. A checkpoint is the head at some moment (seq and hash), signed
// with an Ed25519 key derived from the master key, which never lives in
// the database. Whoever rewrites the log without the master key cannot
// sign a checkpoint that matches the rewritten chain, so a verification
// that checks every checkpoint's signature, and that the chain passes
// through each checkpoint's hash, catches the rewrite for every record up
// to the last checkpoint. Records after it are covered by the next one
// (see Checkpointer: every N records or T seconds).

// A Checkpoint is a signed audit chain head.
type Checkpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	// KeyID names the master key the signing key was derived from.
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// CheckpointMessage is what a checkpoint's signature covers.
func CheckpointMessage(seq int64, hash string, at time.Time) []byte {
	return []byte("aicred audit checkpoint v1\n" + strconv.FormatInt(seq, 10) + "\n" + hash + "\n" + FormatTime(at) + "\n")
}

// A CheckpointSigner signs checkpoints: seal.Keyring, with the key
// derived from its primary master key.
type CheckpointSigner interface {
	SignCheckpoint(msg []byte) (keyID string, sig []byte, err error)
}

// CheckpointKeys returns the public keys that verify checkpoints, by key
// id: seal.Keyring, for every master key it holds and every one retired
// since.
type CheckpointKeys interface {
	CheckpointPublicKeys() (map[string]ed25519.PublicKey, error)
}

// CheckpointStore keeps checkpoints; sqlite.Store and postgres.Store
// implement it.
type CheckpointStore interface {
	// AuditHead returns the chain's head.
	AuditHead(ctx context.Context) (aicred.AuditHead, error)
	// PutCheckpoint stores c; a checkpoint already stored at c.Seq is
	// kept (several servers may sign the same head).
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// ListCheckpoints returns every checkpoint, by seq.
	ListCheckpoints(ctx context.Context) ([]Checkpoint, error)
	// LastCheckpoint returns the checkpoint with the highest seq, or
	// ErrNotFound.
	LastCheckpoint(ctx context.Context) (Checkpoint, error)
}

// Sign returns the checkpoint of head at now.
func Sign(s CheckpointSigner, head aicred.AuditHead, now time.Time) (Checkpoint, error) {
	at := aicred.StoreTime(now)
	id, sig, err := s.SignCheckpoint(CheckpointMessage(head.Seq, head.Hash, at))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	return Checkpoint{Seq: head.Seq, Hash: head.Hash, At: at, KeyID: id, Signature: sig}, nil
}

// CheckpointVerification is the outcome of checking the checkpoints.
type CheckpointVerification struct {
	Checkpoints int   `json:"checkpoints"`
	Last        int64 `json:"last_seq,omitempty"` // the highest seq checked
	// BadSeq is the seq of the first checkpoint that fails; 0 when all
	// hold.
	BadSeq  int64  `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// OK reports whether every checkpoint verified.
func (v CheckpointVerification) OK() bool { return v.BadSeq == 0 && v.Problem == "" }

// VerifyCheckpoints checks each checkpoint's signature with keys and
// that hashAt(seq), the hash of the record at seq in the chain being
// verified, is the one the checkpoint signed. hashAt returns "" for a seq
// the chain does not hold.
func VerifyCheckpoints(cps []Checkpoint, keys map[string]ed25519.PublicKey, hashAt func(seq int64) (string, error)) (CheckpointVerification, error) {
	res := CheckpointVerification{Checkpoints: len(cps)}
	for _, c := range cps {
		fail := func(problem string) (CheckpointVerification, error) {
			res.BadSeq, res.Problem = c.Seq, problem
			return res, nil
		}
		pub, ok := keys[c.KeyID]
		if !ok {
			return fail(fmt.Sprintf("checkpoint at record %d is signed by key %s, which the keyring does not hold: forged, or the key was lost", c.Seq, c.KeyID))
		}
		if !ed25519.Verify(pub, CheckpointMessage(c.Seq, c.Hash, c.At), c.Signature) {
			return fail(fmt.Sprintf("checkpoint at record %d: the signature does not verify: the checkpoint was forged or altered", c.Seq))
		}
		h, err := hashAt(c.Seq)
		if err != nil {
			return res, err
		}
		switch {
		case h == "":
			return fail(fmt.Sprintf("checkpoint at record %d: the log has no record %d: records were removed", c.Seq, c.Seq))
		case h != c.Hash:
			return fail(fmt.Sprintf("checkpoint at record %d: the log's record %d differs from the one signed: the log was rewritten", c.Seq, c.Seq))
		}
		res.Last = max(res.Last, c.Seq)
	}
	return res, nil
}

// Checkpointer signs the chain head every Every records or Interval,
// whichever comes first (and only when the head moved).
type Checkpointer struct {
	Store    CheckpointStore
	Signer   CheckpointSigner
	Every    int64         // records between checkpoints (default 1000)
	Interval time.Duration // time between checkpoints (default 1m)
	Log      *slog.Logger
	Now      func() time.Time
}

// Defaults of a Checkpointer.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// Run checkpoints until ctx ends.
func (c *Checkpointer) Run(ctx context.Context) {
	every, interval := c.Every, c.Interval
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The head is read often enough to catch Every records at a few
	// thousand records a second, and at most every Interval.
	tick := time.NewTicker(min(interval, time.Second))
	defer tick.Stop()
	for {
		if _, err := c.Once(ctx, every, interval); err != nil && ctx.Err() == nil {
			log.Warn("audit checkpoint not written; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Once writes a checkpoint when the head has moved Every records past the
// last one, or moved at all and Interval has passed; it reports whether
// it wrote one.
func (c *Checkpointer) Once(ctx context.Context, every int64, interval time.Duration) (bool, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	head, err := c.Store.AuditHead(ctx)
	if err != nil {
		return false, err
	}
	if head.Seq == 0 {
		return false, nil
	}
	last, err := c.Store.LastCheckpoint(ctx)
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound:
	case err != nil:
		return false, err
	case head.Seq <= last.Seq:
		return false, nil
	case head.Seq-last.Seq < every && now().Sub(last.At) < interval:
		return false, nil
	}
	cp, err := Sign(c.Signer, head, now())
	if err != nil {
		return false, err
	}
	if err := c.Store.PutCheckpoint(ctx, cp); err != nil {
		return false, err
	}
	return true, nil
}

// VerifyStoreCheckpoints checks every checkpoint cs holds against the
// records log holds (the same store), with keys. Run it with the chain
// itself verified (aicred.AuditLog.VerifyAudit): a checkpoint vouches for
// the record at its seq, and the chain for every record before it.
func VerifyStoreCheckpoints(ctx context.Context, log aicred.AuditLog, cs CheckpointStore, keys map[string]ed25519.PublicKey) (CheckpointVerification, error) {
	cps, err := cs.ListCheckpoints(ctx)
	if err != nil {
		return CheckpointVerification{}, err
	}
	return VerifyCheckpoints(cps, keys, func(seq int64) (string, error) {
		es, err := log.ListAudit(ctx, seq, 1)
		if err != nil {
			return "", err
		}
		if len(es) == 0 || es[0].Seq != seq {
			return "", nil
		}
		return es[0].Hash, nil
	})
}
