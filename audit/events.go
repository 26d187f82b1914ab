package audit

import (
	"strconv"
	"strings"

	"github.com/aicred/aicred"
)

// The events the stores write. Each names a credential by fingerprint and
// carries only non-secret facts.

// Discovered records a credential entering the inventory.
func Discovered(o *aicred.Observation) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionCredentialDiscovered,
		Subject: string(o.Fingerprint),
		Data:    data("provider", o.Provider, "kind", o.Kind),
	}
}

// Sighted records a sighting at a new place.
func Sighted(s *aicred.Sighting) aicred.AuditEvent {
	d := data("rule", s.Rule, "source", string(s.Source), "path", s.Path,
		"origin", s.Origin, "commit", s.Commit, "locator", s.Locator, "scan", s.ScanID)
	if s.Line > 0 {
		d["line"] = strconv.Itoa(s.Line)
	}
	return aicred.AuditEvent{Action: aicred.ActionSightingRecorded, Subject: string(s.Fingerprint), Data: d}
}

// Refreshed records that n known sightings were seen again.
func Refreshed(n int, scanID string) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action: aicred.ActionSightingsRefreshed,
		Data:   data("count", strconv.Itoa(n), "scan", scanID),
	}
}

// Checked records a liveness check.
func Checked(c *aicred.LivenessCheck) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionCredentialChecked,
		Subject: string(c.Fingerprint),
		Data:    data("result", string(c.Result), "at", FormatTime(c.At)),
	}
}

// Updated records a change of a credential's metadata. Only the names of
// the fields are recorded, and the new owner, environments and workloads,
// which are names, not secrets.
func Updated(fp aicred.Fingerprint, u *aicred.CredentialUpdate) aicred.AuditEvent {
	d := data("fields", strings.Join(u.Changed(), ","))
	if u.Owner != nil {
		d["owner"] = *u.Owner
	}
	if u.Environments != nil {
		d["environments"] = strings.Join(*u.Environments, ",")
	}
	if u.Workloads != nil {
		d["workloads"] = strings.Join(*u.Workloads, ",")
	}
	return aicred.AuditEvent{Action: aicred.ActionCredentialUpdated, Subject: string(fp), Data: d}
}

// HeldAdded records a held credential being stored.
func HeldAdded(h *aicred.HeldCredential) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionHeldAdded,
		Subject: h.ID,
		Data: data("fingerprint", string(h.Fingerprint), "provider", h.Provider, "kind", h.Kind,
			"environment", h.Environment, "key_id", h.KeyID),
	}
}

// HeldRotated records a held credential's secret being replaced.
func HeldRotated(old aicred.Fingerprint, h *aicred.HeldCredential) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionHeldRotated,
		Subject: h.ID,
		Data:    data("old_fingerprint", string(old), "fingerprint", string(h.Fingerprint), "key_id", h.KeyID),
	}
}

// MasterKeyRotated records held credentials being re-wrapped under new
// master keys: how many, and the key ids involved.
func MasterKeyRotated(n int, from, to []string) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action: aicred.ActionMasterKeyRotated,
		Data:   data("count", strconv.Itoa(n), "from", strings.Join(from, ","), "to", strings.Join(to, ",")),
	}
}

// TokenIssued records a grant being stored: which grant, for whom, what
// allowed it and until when. Never the token, nor its hash: the hash is
// what the gateway looks tokens up by, and the log is read by more people
// than the grants table.
func TokenIssued(g *aicred.Grant) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionTokenIssued,
		Subject: g.ID,
		Data: data("class", g.Class, "issuer", g.Issuer, "subject", g.Subject, "role", g.Role, "policy", g.Policy,
			"audience", g.Audience, "environment", g.Environment, "scope", strings.Join(g.Scope, ","),
			"credentials", strings.Join(g.Credentials, ","), "expires_at", FormatTime(g.ExpiresAt)),
	}
}

// TokenRevoked records a revocation: what it matched, why, and how many
// active grants it withdrew. Its subject is the value (for a revocation by
// token, the grant id), so a grant's issue and revocation share a subject.
func TokenRevoked(r *aicred.Revocation) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionTokenRevoked,
		Subject: r.Value,
		Data: data("by", r.By, "value", r.Value, "reason", r.Reason, "count", strconv.Itoa(r.Grants),
			"seq", strconv.FormatInt(r.Seq, 10)),
	}
}

// data builds an event's data from key, value pairs, leaving out empty
// values.
func data(kv ...string) map[string]string {
	d := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			d[kv[i]] = kv[i+1]
		}
	}
	return d
}

// WorkloadHeld records a workload hold: which workload, until when, why,
// and the revocation that set it (0: set directly).
func WorkloadHeld(h *aicred.WorkloadHold) aicred.AuditEvent {
	seq := ""
	if h.RevocationSeq > 0 {
		seq = strconv.FormatInt(h.RevocationSeq, 10)
	}
	return aicred.AuditEvent{
		Action:  aicred.ActionWorkloadHeld,
		Subject: h.Workload,
		Data:    data("until", FormatTime(h.Until), "reason", h.Reason, "revocation_seq", seq),
	}
}

// WorkloadHoldLifted records that a hold was lifted before its end.
func WorkloadHoldLifted(h *aicred.WorkloadHold, reason string) aicred.AuditEvent {
	return aicred.AuditEvent{
		Action:  aicred.ActionWorkloadHoldLifted,
		Subject: h.Workload,
		Data:    data("until", FormatTime(h.Until), "reason", reason, "held_by", h.CreatedBy),
	}
}

// ActionStorePruned is written when the store deletes what its retention
// settings no longer keep (expired grants, old usage records, idle
// budget rows).
const ActionStorePruned = "store.pruned"

// Pruned records what a prune deleted.
func Pruned(grants, usage, budgets int64) aicred.AuditEvent {
	return aicred.AuditEvent{Action: ActionStorePruned, Subject: "store", Data: map[string]string{
		"grants": strconv.FormatInt(grants, 10), "usage_records": strconv.FormatInt(usage, 10), "budgets": strconv.FormatInt(budgets, 10)}}
}
