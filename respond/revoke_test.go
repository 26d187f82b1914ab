package respond

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/storetest"
)

// Revoke at the provider through the admin API: the key dies, every token
// that may use it is revoked, the audit record names the cause.
func TestRevoke(t *testing.T) {
	st, path := sqliteStore(t)
	e := newEnv(t, st, path, false)
	ctx := context.Background()
	g, _ := storetest.NewGrant(t, "https://issuer.test", "ci", "ci", "p", e.held.ID)
	if err := st.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := e.x.Revoke(ctx, e.held.ID, "", "leak"); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("no admin: %v", err)
	}
	res, err := e.x.Revoke(ctx, e.held.ID, e.adm.ID, "leaked in a public repository")
	if err != nil {
		t.Fatal(err)
	}
	if !res.AtProvider || res.Grants != 1 || res.Liveness.State != aicred.Dead || e.api.live(e.old) {
		t.Fatalf("%+v", res)
	}
	if got, _ := st.LookupGrant(ctx, g.TokenHash); got.RevokedAt.IsZero() {
		t.Fatal("token using the credential not revoked")
	}
	last := lastAudit(t, st)
	if last.Action != ActionCredentialRevoked || last.Data["cause"] != "leaked in a public repository" || last.Data["liveness"] != "dead" {
		t.Fatalf("%+v", last)
	}
	e.chain()
}

// Guided: a catalog kind with no admin API rotation (OpenAI project key),
// its liveness check pointed at a local server by the base URL. Revoke
// withdraws aicred's tokens and reports the key still live with the
// console URL; Replace checks the new key works, holds it, tells the
// gateways, and reports whether the old one is dead yet.
func TestGuidedCatalogKind(t *testing.T) {
	st, path := sqliteStore(t)
	e := newEnv(t, st, path, false)
	ctx := context.Background()
	k, ok := provider.LookupKind("openai", "project-key")
	if !ok || k.Rotation != nil {
		t.Skip("openai/project-key has an admin API rotation now; the guided path is tested on the test kind")
	}
	x, err := New(Options{Store: st, Sealer: e.ring, BaseURLs: map[string]string{"openai": e.api.srv.URL}, Checks: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	old := e.api.newKey("proj_1")
	h := &aicred.HeldCredential{ID: "hc_openai", Provider: "openai", Kind: "project-key", Fingerprint: old.Fingerprint(), Redacted: old.Redacted()}
	if h.Sealed, h.KeyID, err = e.ring.Seal(old, h.AAD()); err != nil {
		t.Fatal(err)
	}
	if err := st.PutHeldCredential(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Rotate(ctx, h.ID, ""); aicred.KindOf(err) != aicred.ErrInvalid || !strings.Contains(err.Error(), "credential replace hc_openai") {
		t.Fatalf("rotate without an admin API: %v", err)
	}

	// A dead replacement is refused; nothing changes.
	dead := e.api.newKey("proj_1")
	e.api.mu.Lock()
	e.api.keys[dead.Reveal()].revoked = true
	e.api.mu.Unlock()
	if _, err := x.Replace(ctx, h.ID, dead, "rotation"); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("dead replacement: %v", err)
	}
	if got, _ := st.GetHeldCredential(ctx, h.ID); got.Fingerprint != old.Fingerprint() {
		t.Fatal("a refused replacement changed the held credential")
	}
	if _, err := x.Replace(ctx, h.ID, old, "rotation"); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("same secret: %v", err)
	}

	fresh := e.api.newKey("proj_1")
	res, err := x.Replace(ctx, h.ID, fresh, "leaked in CI logs")
	if err != nil {
		t.Fatal(err)
	}
	if res.New.State != aicred.Live || !res.OldLive || res.RevokeURL != k.RevokeURL || res.RevokeURL == "" {
		t.Fatalf("%+v", res)
	}
	got, _ := st.GetHeldCredential(ctx, h.ID)
	if s, err := e.ring.Open(got.Sealed, got.AAD()); err != nil || s.Reveal() != fresh.Reveal() {
		t.Fatal("the new key is not held")
	}
	if last := lastAudit(t, st); last.Action != ActionCredentialReplaced || last.Data["cause"] != "leaked in CI logs" || last.Data["old_liveness"] != "live" {
		t.Fatalf("%+v", last)
	}
	// The person revokes the old key at the console; revoking the held
	// (new) one in aicred with no admin API reports it still live.
	rv, err := x.Revoke(ctx, h.ID, "", "decommissioned")
	if err != nil {
		t.Fatal(err)
	}
	if rv.AtProvider || rv.Liveness.State != aicred.Live || rv.RevokeURL != k.RevokeURL || rv.Liveness.Checks != 1 {
		t.Fatalf("%+v", rv)
	}
	e.chain()
}

func lastAudit(t *testing.T, st aicred.Store) aicred.AuditEvent {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), 1, 100000)
	if err != nil || len(evs) == 0 {
		t.Fatal(err)
	}
	return evs[len(evs)-1]
}

// The rotation, a crash after the switch, resume, and a rollback, on
// PostgreSQL (AICRED_TEST_POSTGRES).
func TestRotatePostgres(t *testing.T) {
	dsn := os.Getenv("AICRED_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AICRED_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "aicred_respond_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	e := newEnv(t, st, "", false)
	r := crash(t, e, aicred.RotationSwitched, "error")
	e.x.afterStep = nil
	got, err := e.x.Resume(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.rotated(got)

	e.old = e.heldSecret()
	r2 := crash(t, e, aicred.RotationVerifiedNew, "cancel")
	e.x.afterStep = nil
	if got, err = e.x.Rollback(ctx, r2.ID); err != nil || got.State != aicred.RotationRolledBack {
		t.Fatalf("%+v %v", got, err)
	}
	if s := e.heldSecret(); s.Reveal() != e.old.Reveal() || !e.api.live(s) {
		t.Fatal("old key not back in place")
	}
	e.chain()
}
