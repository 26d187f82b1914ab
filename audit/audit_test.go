package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

func chain(t *testing.T, n int) []aicred.AuditEvent {
	t.Helper()
	ctx := aicred.WithActor(context.Background(), "tester")
	c := audit.NewChain(ctx, aicred.AuditHead{}, time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC))
	for i := range n {
		c.Append(aicred.AuditEvent{Action: "test.event", Subject: "s" + string(rune('a'+i%26)), Data: map[string]string{"i": string(rune('0' + i%10))}})
	}
	return c.Pending
}

func TestCanonicalIsStable(t *testing.T) {
	e := aicred.AuditEvent{
		Seq: 7, Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)),
		Actor: "cli:a<b>", Action: "x.y", Subject: "sha256:00",
		Data:     map[string]string{"z": "1", "a": "é\"\n"},
		PrevHash: audit.Genesis, Hash: "ignored",
	}
	want := `{"action":"x.y","actor":"cli:a<b>","data":{"a":"é\"\n","z":"1"},"prev":"` + audit.Genesis +
		`","seq":7,"subject":"sha256:00","time":"2025-01-02T02:04:05.000006Z","v":1}`
	if got := string(audit.Canonical(&e)); got != want {
		t.Fatalf("canonical:\n got %s\nwant %s", got, want)
	}
	e.Data = nil
	if !strings.Contains(string(audit.Canonical(&e)), `"data":{}`) {
		t.Fatalf("nil data must encode as {}: %s", audit.Canonical(&e))
	}
}

func TestChainVerifies(t *testing.T) {
	evs := chain(t, 10)
	if evs[0].PrevHash != audit.Genesis || evs[0].Seq != 1 {
		t.Fatalf("first record: %+v", evs[0])
	}
	if evs[0].Actor != "tester" {
		t.Fatalf("actor from context: %q", evs[0].Actor)
	}
	if evs[0].Time.Nanosecond() != 123456000 {
		t.Fatalf("time not truncated to microseconds: %v", evs[0].Time)
	}
	head := aicred.AuditHead{Seq: 10, Hash: evs[9].Hash}
	v := audit.Verify(evs, &head)
	if !v.OK() || v.Records != 10 || v.Head != head {
		t.Fatalf("verify: %+v", v)
	}
	if v := audit.Verify(nil, &aicred.AuditHead{}); !v.OK() {
		t.Fatalf("empty log: %+v", v)
	}
}

func TestChainDetectsTampering(t *testing.T) {
	type tc struct {
		name   string
		tamper func([]aicred.AuditEvent) []aicred.AuditEvent
		bad    int64
	}
	cases := []tc{
		{"modified", func(e []aicred.AuditEvent) []aicred.AuditEvent { e[4].Actor = "mallory"; return e }, 5},
		{"modified-data", func(e []aicred.AuditEvent) []aicred.AuditEvent { e[4].Data["i"] = "x"; return e }, 5},
		{"modified-rehashed", func(e []aicred.AuditEvent) []aicred.AuditEvent {
			e[4].Actor = "mallory"
			e[4].Hash = audit.Hash(&e[4])
			return e
		}, 6},
		{"deleted", func(e []aicred.AuditEvent) []aicred.AuditEvent { return append(e[:4:4], e[5:]...) }, 5},
		{"deleted-renumbered", func(e []aicred.AuditEvent) []aicred.AuditEvent {
			out := append(e[:4:4], e[5:]...)
			for i := 4; i < len(out); i++ {
				out[i].Seq--
			}
			return out
		}, 5},
		{"inserted", func(e []aicred.AuditEvent) []aicred.AuditEvent {
			forged := e[3]
			forged.Seq = 5
			forged.PrevHash = e[3].Hash
			forged.Hash = audit.Hash(&forged)
			out := append(e[:4:4], forged)
			for _, r := range e[4:] {
				r.Seq++
				out = append(out, r)
			}
			return out
		}, 6},
		{"reordered", func(e []aicred.AuditEvent) []aicred.AuditEvent {
			e[4], e[5] = e[5], e[4]
			e[4].Seq, e[5].Seq = 5, 6
			return e
		}, 5},
		{"reordered-rows", func(e []aicred.AuditEvent) []aicred.AuditEvent { e[4], e[5] = e[5], e[4]; return e }, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := c.tamper(chain(t, 10))
			v := audit.Verify(evs, nil)
			if v.OK() || v.BadSeq != c.bad {
				t.Fatalf("want bad record %d, got %+v", c.bad, v)
			}
			if v.Problem == "" {
				t.Fatal("no problem described")
			}
		})
	}
}

func TestEndChecksHead(t *testing.T) {
	evs := chain(t, 5)
	if v := audit.Verify(evs[:3], &aicred.AuditHead{Seq: 5, Hash: evs[4].Hash}); v.BadSeq != 4 {
		t.Fatalf("truncated log: %+v", v)
	}
	if v := audit.Verify(evs, &aicred.AuditHead{Seq: 4, Hash: evs[3].Hash}); v.BadSeq != 5 {
		t.Fatalf("extended log: %+v", v)
	}
	if v := audit.Verify(evs, &aicred.AuditHead{Seq: 5, Hash: evs[3].Hash}); v.BadSeq != 5 {
		t.Fatalf("head hash differs: %+v", v)
	}
}

func TestChainCleansText(t *testing.T) {
	c := audit.NewChain(context.Background(), aicred.AuditHead{}, time.Now())
	e := c.Append(aicred.AuditEvent{Action: "a", Subject: "bad\xff\x00", Data: map[string]string{"k\x00": "v\xfe"}})
	if e.Actor != aicred.DefaultActor {
		t.Fatalf("default actor: %q", e.Actor)
	}
	// The record survives a JSON round trip (what a database or an export
	// does to it) and still verifies.
	b, _ := json.Marshal(e)
	var back aicred.AuditEvent
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if v := audit.Verify([]aicred.AuditEvent{back}, nil); !v.OK() {
		t.Fatalf("cleaned record does not verify after a round trip: %+v", v)
	}
}

var epochTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type sliceLog struct{ evs []aicred.AuditEvent }

func (l *sliceLog) AppendAudit(context.Context, aicred.AuditEvent) (aicred.AuditEvent, error) {
	panic("unused")
}
func (l *sliceLog) VerifyAudit(context.Context) (aicred.AuditVerification, error) { panic("unused") }
func (l *sliceLog) ListAudit(_ context.Context, from int64, limit int) ([]aicred.AuditEvent, error) {
	var out []aicred.AuditEvent
	for _, e := range l.evs {
		if e.Seq >= from && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestExportAndVerifyJSONL(t *testing.T) {
	evs := chain(t, audit.ExportPage*2+3)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), &buf, &sliceLog{evs}, 1)
	if err != nil || n != int64(len(evs)) {
		t.Fatalf("export: %d, %v", n, err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != len(evs) {
		t.Fatalf("%d lines for %d events", lines, len(evs))
	}
	head := aicred.AuditHead{Seq: evs[len(evs)-1].Seq, Hash: evs[len(evs)-1].Hash}
	v, err := audit.VerifyJSONL(bytes.NewReader(buf.Bytes()), &head)
	if err != nil || !v.OK() || v.Records != int64(len(evs)) {
		t.Fatalf("verify export: %+v %v", v, err)
	}
	// Change one byte of one record's data in the export.
	lines := strings.Split(buf.String(), "\n")
	lines[7] = strings.Replace(lines[7], `"i":"7"`, `"i":"8"`, 1)
	v, err = audit.VerifyJSONL(strings.NewReader(strings.Join(lines, "\n")), nil)
	if err != nil || v.BadSeq != 8 {
		t.Fatalf("tampered export: %+v %v", v, err)
	}
	if _, err := audit.VerifyJSONL(strings.NewReader("{not json\n"), nil); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("garbage: %v", err)
	}
	// Export from the middle.
	buf.Reset()
	if n, err := audit.Export(context.Background(), &buf, &sliceLog{evs}, 2000); err != nil || n != int64(len(evs)-1999) {
		t.Fatalf("partial export: %d %v", n, err)
	}
}
