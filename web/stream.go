package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
)

// Poll and heartbeat of the alert stream.
const (
	streamPoll      = 2 * time.Second
	streamHeartbeat = 15 * time.Second
	streamWrite     = 10 * time.Second
)

// alertStream sends each new alert as a server-sent event whose data is
// the alerts table's row for it (rendered and escaped here, as on the
// page). It wakes at once for alerts this process raises (Alerts.Tap)
// and reads the audit log every few seconds for those raised elsewhere.
func (c *Console) alertStream(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > after {
		after = id
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts; each
	// write gets its own deadline instead.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWrite))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 3000\n\n")) {
		return
	}
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	poll := time.NewTicker(streamPoll)
	defer poll.Stop()
	for {
		wake := c.alerts.woken()
		evs, err := c.newAlerts(ctx, after)
		if err != nil {
			c.o.Log.Warn("console: alert stream", "err", err)
		}
		for i := range evs {
			row, err := c.alertRow(alertOf(&evs[i]), s)
			if err != nil {
				c.o.Log.Error("console: alert row", "err", err)
				return
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "id: %d\nevent: alert\n", evs[i].Seq)
			for _, line := range strings.Split(row, "\n") {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
			b.WriteString("\n")
			if !send(b.Bytes()) {
				return
			}
			after = evs[i].Seq
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		case <-beat.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

// newAlerts returns the alerts after seq, oldest first.
func (c *Console) newAlerts(ctx context.Context, seq int64) ([]aicred.AuditEvent, error) {
	evs, err := c.o.Store.SearchAudit(ctx, aicred.AuditQuery{Actions: []string{gateway.ActionAnomalyDetected}, Limit: 50})
	if err != nil {
		return nil, err
	}
	var out []aicred.AuditEvent
	for _, e := range evs {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out, nil
}

func (c *Console) alertRow(a alert, s *session) (string, error) {
	var b bytes.Buffer
	err := c.pages["alerts"].ExecuteTemplate(&b, "alertrow", map[string]any{"A": a, "CSRF": s.csrf, "CanWrite": s.canWrite})
	return b.String(), err
}

// roleView shows a role as configured.
type roleView struct{ *broker.Role }

func (r roleView) TTLText() string {
	if r.TTL == 0 {
		return "15m (default)"
	}
	return r.TTL.String()
}

func (r roleView) Ops() string {
	var out []string
	for _, o := range r.Operations {
		out = append(out, string(o))
	}
	return strings.Join(out, ", ")
}

// auditExport writes the whole log as JSON lines (aicred audit export's
// format).
func auditExport(ctx context.Context, w io.Writer, st aicred.AuditLog) (int64, error) {
	return audit.Export(ctx, w, st, 1)
}
