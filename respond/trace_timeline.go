package respond

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// traceAuditPage is how many audit records are read per call.
const traceAuditPage = 1000

// finish reads the audit trail and merges everything into the timeline.
func (t *tracer) finish(ctx context.Context) error {
	if err := t.loadAudit(ctx); err != nil {
		return err
	}
	t.timeline()
	return nil
}

// loadAudit keeps every audit record whose subject, or one of whose data
// values (or an element of a comma-separated list value), is a name the
// trace knows: the fingerprint, a held id, a token id.
func (t *tracer) loadAudit(ctx context.Context) error {
	if len(t.names) == 0 {
		return nil
	}
	for from := int64(1); ; {
		evs, err := t.st.ListAudit(ctx, from, traceAuditPage)
		if err != nil {
			return fmt.Errorf("trace: audit log: %w", err)
		}
		for i := range evs {
			if t.namesEvent(&evs[i]) {
				t.r.Audit = append(t.r.Audit, evs[i])
			}
		}
		if len(evs) < traceAuditPage {
			return nil
		}
		from = evs[len(evs)-1].Seq + 1
	}
}

func (t *tracer) namesEvent(e *aicred.AuditEvent) bool {
	if t.names[e.Subject] {
		return true
	}
	for _, v := range e.Data {
		if t.names[v] {
			return true
		}
		if strings.Contains(v, ",") {
			for _, p := range strings.Split(v, ",") {
				if t.names[strings.TrimSpace(p)] {
					return true
				}
			}
		}
	}
	return false
}

// timelineOrder breaks ties between entries at the same instant: the
// order in which things happen to a credential.
var timelineOrder = map[string]int{
	EventCommitted: 0, EventSeen: 1, EventSeenAgain: 2, EventChecked: 3, EventHeld: 4, EventRotated: 5,
	EventFirstUse: 6, EventNetwork: 7, EventLastUse: 8, EventAudit: 9, EventTraced: 10,
}

func (t *tracer) timeline() {
	var tl []TimelineEntry
	add := func(at time.Time, event, ref, format string, args ...any) {
		if at.IsZero() {
			return
		}
		tl = append(tl, TimelineEntry{Time: at.UTC(), Event: event, Ref: ref, Summary: fmt.Sprintf(format, args...)})
	}
	for _, s := range t.r.Sightings {
		place := tracePlace(&s)
		if s.Commit != "" {
			by := ""
			if s.Author != "" {
				by = " by " + s.Author
			}
			add(s.AuthorDate, EventCommitted, place, "commit %.12s authored%s, holding the credential at %s", s.Commit, by, place)
		}
		add(s.SeenAt, EventSeen, place, "first seen at %s (rule %s)", place, s.Rule)
		if s.LastSeenAt.After(s.SeenAt) {
			add(s.LastSeenAt, EventSeenAgain, place, "last seen at %s", place)
		}
	}
	for _, l := range t.r.Liveness {
		d := ""
		if l.Detail != "" {
			d = ": " + l.Detail
		}
		add(l.At, EventChecked, "", "liveness check: %s%s", l.Result, d)
	}
	for _, h := range t.r.Held {
		if h.Missing {
			continue
		}
		add(h.CreatedAt, EventHeld, h.ID, "held by aicred as %s (%s/%s)", h.ID, h.Provider, h.Kind)
		add(h.RotatedAt, EventRotated, h.ID, "held credential %s rotated", h.ID)
	}
	u := &t.r.Usage
	for _, w := range u.Workloads {
		add(w.First, EventFirstUse, w.Workload, "first gateway use by %s", w.Workload)
		add(w.Last, EventLastUse, w.Workload, "last gateway use by %s (%d requests, models %s)", w.Workload, w.Requests, traceList(w.Models))
	}
	for _, n := range u.Networks {
		add(n.First, EventNetwork, n.Network, "first gateway call from network %s (%d requests in all)", n.Network, n.Requests)
	}
	for _, e := range t.r.Audit {
		add(e.Time, EventAudit, "audit:"+strconv.FormatInt(e.Seq, 10), "%s", traceAuditSummary(&e))
	}
	if l := t.r.Live; l != nil && l.Status != LiveSkipped {
		add(l.At, EventTraced, "", "deep trace at the provider: %s", l.Status)
	}
	sort.SliceStable(tl, func(i, j int) bool {
		a, b := tl[i], tl[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return timelineOrder[a.Event] < timelineOrder[b.Event]
	})
	t.r.Timeline = append(t.r.Timeline, tl...)
}

// tracePlace names where a sighting is: origin, path and line, commit.
func tracePlace(s *aicred.Sighting) string {
	var b strings.Builder
	if s.Origin != "" && s.Origin != "." {
		b.WriteString(s.Origin)
		b.WriteString(": ")
	}
	b.WriteString(s.Path)
	if s.Line > 0 {
		fmt.Fprintf(&b, ":%d", s.Line)
	}
	if s.Commit != "" {
		fmt.Fprintf(&b, " @%.12s", s.Commit)
	}
	if s.Locator != "" {
		fmt.Fprintf(&b, " (%s)", s.Locator)
	}
	return b.String()
}

// traceAuditSummary is one line for an audit record: action, actor,
// subject and its data in key order.
func traceAuditSummary(e *aicred.AuditEvent) string {
	var b strings.Builder
	b.WriteString(e.Action)
	if e.Subject != "" {
		b.WriteString(" " + e.Subject)
	}
	keys := traceSortedKeys(e.Data)
	if len(keys) > 0 {
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + e.Data[k])
		}
		b.WriteString(")")
	}
	if e.Actor != "" {
		b.WriteString(" by " + e.Actor)
	}
	return b.String()
}

func traceList(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}
