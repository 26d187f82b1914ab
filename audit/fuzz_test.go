package audit_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// FuzzVerifyJSONL: any input either fails to parse or yields a verdict;
// it never panics, and a verdict of OK means every record chained.
func FuzzVerifyJSONL(f *testing.F) {
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), &buf, &sliceLog{chainOf(5)}, 1); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"time":"2025-01-01T00:00:00Z","actor":"a","action":"b","prev_hash":"0","hash":"x"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := audit.VerifyJSONL(bytes.NewReader(in), nil)
		if err != nil {
			return
		}
		if v.OK() && v.Head.Seq != v.Records {
			t.Fatalf("OK with head %d after %d records", v.Head.Seq, v.Records)
		}
	})
}

func chainOf(n int) []aicred.AuditEvent {
	c := audit.NewChain(context.Background(), aicred.AuditHead{}, epochTime)
	for range n {
		c.Append(aicred.AuditEvent{Action: "x", Data: map[string]string{"k": "v"}})
	}
	return c.Pending
}
