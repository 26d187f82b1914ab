// Package audit holds what every store shares about the audit log: the
// canonical encoding of a record, the hash chain, its verification, the
// events the store writes, and export as JSON lines.
//
// # Canonical encoding (version 1)
//
// The hash of a record is the lower-case hex SHA-256 of its canonical
// content: a JSON object with exactly the keys
//
//	action, actor, data, prev, seq, subject, time, v
//
// in that (bytewise sorted) order, no insignificant whitespace, strings
// escaped as Go's encoding/json does with HTML escaping off, data always an
// object with its keys sorted (empty: {}), seq and v as integers, time in
// UTC as 2006-01-02T15:04:05.000000Z (microseconds), and prev the hash of
// the previous record (64 zeros for the first). Hash itself is not part of
// the content. Any JSON library that sorts keys and does not escape HTML
// reproduces it.
//
// A hash chain proves that no record was changed, removed, inserted or
// moved, relative to a head one trusts. Whoever can rewrite the whole table
// can also recompute every hash, so the head (seq and hash, printed by
// verification) is worth keeping somewhere else.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// Genesis is the PrevHash of the first record.
var Genesis = strings.Repeat("0", 64)

// TimeLayout is how a record's time is written in its canonical content.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Version is the canonical encoding version.
const Version = 1

// Canonical returns the canonical content of e, the bytes that Hash hashes.
func Canonical(e *aicred.AuditEvent) []byte {
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	// Field order below is the sorted key order.
	c := struct {
		Action  string            `json:"action"`
		Actor   string            `json:"actor"`
		Data    map[string]string `json:"data"`
		Prev    string            `json:"prev"`
		Seq     int64             `json:"seq"`
		Subject string            `json:"subject"`
		Time    string            `json:"time"`
		V       int               `json:"v"`
	}{e.Action, e.Actor, data, e.PrevHash, e.Seq, e.Subject, FormatTime(e.Time), Version}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		// Only strings, ints and a string map: encoding cannot fail.
		panic(fmt.Sprintf("audit: canonical encoding: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Hash returns the hash of e's canonical content.
func Hash(e *aicred.AuditEvent) string {
	sum := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(sum[:])
}

// FormatTime writes t as canonical content and the SQLite store keep it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a time written by FormatTime (or any RFC 3339 time).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: bad time %q: %w", s, err)
	}
	return aicred.StoreTime(t), nil
}

// A Chain appends events to a log inside one transaction: a store reads the
// head under its write lock, appends the events of the change, writes
// Pending and the new Head, and commits.
type Chain struct {
	Head    aicred.AuditHead
	Actor   string
	Now     time.Time
	Pending []aicred.AuditEvent
}

// NewChain starts a chain at head for the actor named by ctx.
func NewChain(ctx context.Context, head aicred.AuditHead, now time.Time) *Chain {
	if head.Seq == 0 {
		head.Hash = Genesis
	}
	return &Chain{Head: head, Actor: aicred.ActorFrom(ctx), Now: aicred.StoreTime(now)}
}

// Append links e to the chain: it cleans e's text, fills Actor (when
// empty) and Time, and sets Seq, PrevHash and Hash.
func (c *Chain) Append(e aicred.AuditEvent) aicred.AuditEvent {
	if e.Actor == "" {
		e.Actor = c.Actor
	}
	e.Actor = aicred.StorableText(e.Actor)
	e.Action = aicred.StorableText(e.Action)
	e.Subject = aicred.StorableText(e.Subject)
	if len(e.Data) > 0 {
		clean := make(map[string]string, len(e.Data))
		for k, v := range e.Data {
			clean[aicred.StorableText(k)] = aicred.StorableText(v)
		}
		e.Data = clean
	} else {
		e.Data = nil
	}
	e.Time = c.Now
	e.Seq = c.Head.Seq + 1
	e.PrevHash = c.Head.Hash
	e.Hash = Hash(&e)
	c.Head = aicred.AuditHead{Seq: e.Seq, Hash: e.Hash}
	c.Pending = append(c.Pending, e)
	return e
}

// A Verifier checks a log fed to it record by record in Seq order.
type Verifier struct {
	res    aicred.AuditVerification
	broken bool
}

// NewVerifier returns a verifier expecting the first record.
func NewVerifier() *Verifier {
	return &Verifier{res: aicred.AuditVerification{Head: aicred.AuditHead{Hash: Genesis}}}
}

// Add checks the next record and reports whether the chain still holds.
// After the first break it ignores further records.
func (v *Verifier) Add(e *aicred.AuditEvent) bool {
	if v.broken {
		return false
	}
	v.res.Records++
	want := v.res.Head.Seq + 1
	switch {
	case e.Seq > want:
		return v.fail(want, fmt.Sprintf("record %d is missing (the next record is %d): removed", want, e.Seq))
	case e.Seq < want:
		return v.fail(want, fmt.Sprintf("record %d appears again after record %d: inserted or reordered", e.Seq, want-1))
	case Hash(e) != e.Hash:
		return v.fail(e.Seq, fmt.Sprintf("record %d does not match its hash: modified, inserted or moved", e.Seq))
	case e.PrevHash != v.res.Head.Hash:
		return v.fail(e.Seq, fmt.Sprintf("record %d does not follow record %d: a record before it was modified, inserted or removed", e.Seq, want-1))
	}
	v.res.Head = aicred.AuditHead{Seq: e.Seq, Hash: e.Hash}
	return true
}

func (v *Verifier) fail(seq int64, problem string) bool {
	v.broken = true
	v.res.BadSeq = seq
	v.res.Problem = problem
	return false
}

// End finishes verification. When head is not nil it is the head the log
// is expected to end at (the store's own head row, or one kept elsewhere):
// a log cut short or extended past it fails.
func (v *Verifier) End(head *aicred.AuditHead) aicred.AuditVerification {
	if v.broken || head == nil {
		return v.res
	}
	got := v.res.Head
	switch {
	case head.Seq == got.Seq+1:
		v.fail(got.Seq+1, fmt.Sprintf("record %d, the last, is missing (the chain head is %d)", head.Seq, head.Seq))
	case head.Seq > got.Seq:
		v.fail(got.Seq+1, fmt.Sprintf("records %d to %d are missing from the end (the chain head is %d)", got.Seq+1, head.Seq, head.Seq))
	case head.Seq < got.Seq:
		v.fail(head.Seq+1, fmt.Sprintf("record %d is beyond the chain head %d: appended outside the store", head.Seq+1, head.Seq))
	case head.Seq > 0 && head.Hash != got.Hash:
		v.fail(got.Seq, fmt.Sprintf("record %d differs from the chain head", got.Seq))
	}
	return v.res
}

// Verify checks a whole log. A nil head skips the end check.
func Verify(events []aicred.AuditEvent, head *aicred.AuditHead) aicred.AuditVerification {
	v := NewVerifier()
	for i := range events {
		if !v.Add(&events[i]) {
			break
		}
	}
	return v.End(head)
}

// ExportPage is how many events Export reads per call to ListAudit.
const ExportPage = 1000

// Export writes the events with Seq >= fromSeq as JSON lines and returns
// how many it wrote.
func Export(ctx context.Context, w io.Writer, log aicred.AuditLog, fromSeq int64) (int64, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	for {
		page, err := log.ListAudit(ctx, fromSeq, ExportPage)
		if err != nil {
			return n, fmt.Errorf("audit export: %w", err)
		}
		for i := range page {
			if err := enc.Encode(&page[i]); err != nil {
				return n, aicred.Errorf(aicred.ErrUnavailable, "audit export: write: %w", err)
			}
			n++
		}
		if len(page) < ExportPage {
			break
		}
		fromSeq = page[len(page)-1].Seq + 1
	}
	if err := bw.Flush(); err != nil {
		return n, aicred.Errorf(aicred.ErrUnavailable, "audit export: write: %w", err)
	}
	return n, nil
}

// VerifyJSONL verifies an exported log read from r. A nil head skips the
// end check. Errors: ErrInvalid (a line is not an event).
func VerifyJSONL(r io.Reader, head *aicred.AuditHead) (aicred.AuditVerification, error) {
	v := NewVerifier()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e aicred.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return v.res, aicred.Errorf(aicred.ErrInvalid, "audit: line %d: %w", line, err)
		}
		if !v.Add(&e) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return v.res, aicred.Errorf(aicred.ErrInvalid, "audit: read: %w", err)
	}
	return v.End(head), nil
}
