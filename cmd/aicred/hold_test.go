package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
)

// TestServeWorkloadHoldAndReplay runs two servers on one store, as two
// aicred processes. A JWT exchanged at one is refused as a replay at the
// other; after `aicred token revoke --workload`, fresh JWTs of that
// workload are refused at both until `aicred token unhold`.
func TestServeWorkloadHoldAndReplay(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	store := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", store)
	is := newIssuer(t, dir)
	cfg := strings.Replace(serverConfigYAML(is, store), "    audiences: [aicred]\n", "    audiences: [aicred]\n    replay_protection: true\n", 1)
	cfg = strings.Replace(cfg, "log:\n", "workload_hold: 30m\nlog:\n", 1)

	var bases []string
	for i := range 2 {
		addr := freeAddr(t)
		path := filepath.Join(dir, fmt.Sprintf("aicred-%d.yaml", i))
		writeFile(t, path, fmt.Sprintf(cfg, addr))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan result, 1)
		go func() {
			var out, errb lockedBuffer
			code := run(ctx, []string{"serve", "--config", path}, strings.NewReader(""), &out, &errb)
			done <- result{code, out.String(), errb.String()}
		}()
		t.Cleanup(func() {
			cancel()
			if res := <-done; res.code != exitOK {
				t.Errorf("serve %d exit %d: %s", i, res.code, res.stderr)
			}
		})
		base := "http://" + addr
		waitServing(t, base, done)
		bases = append(bases, base)
	}
	const sub = "repo:acme/trainer:ref:refs/heads/main"
	exchange := func(base, jwt string) (int, string) {
		t.Helper()
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {jwt},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
		return httpDo(t, "POST", base+"/oauth/token", "", strings.NewReader(form.Encode()))
	}
	withJTI := func() string {
		now := time.Now()
		return is.sign(t, is.key, map[string]any{"iss": is.url, "sub": sub, "aud": "aicred", "jti": fmt.Sprint(now.UnixNano()),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	}

	// Replay across processes.
	jwt := withJTI()
	if code, body := exchange(bases[0], jwt); code != 200 {
		t.Fatalf("first use: %d %s", code, body)
	}
	for i, base := range []string{bases[1], bases[0]} {
		if code, body := exchange(base, jwt); code != 400 || !strings.Contains(body, "already used") {
			t.Fatalf("replay at server %d: %d %s", i, code, body)
		}
	}

	// Revocation by workload holds it everywhere.
	r := runCLI(t, "", "token", "revoke", "--workload", is.url+" "+sub, "--reason", "incident")
	if r.code != exitOK || !strings.Contains(r.stdout, "held from new tokens until") {
		t.Fatalf("revoke: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for i, base := range bases {
		jwt := withJTI()
		code, body := exchange(base, jwt)
		if code != 400 || !strings.Contains(body, `"invalid_grant"`) || !strings.Contains(body, "held") || strings.Contains(body, jwt) {
			t.Fatalf("held workload at server %d: %d %s", i, code, body)
		}
	}
	r = runCLI(t, "", "token", "holds", "-f", "json")
	var out struct{ Holds []aicred.WorkloadHold }
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Holds) != 1 ||
		out.Holds[0].Workload != is.url+" "+sub || out.Holds[0].Reason != "incident" ||
		out.Holds[0].Until.Before(time.Now().Add(aicred.DefaultWorkloadHold-time.Minute)) {
		t.Fatalf("token holds: %d %s", r.code, r.stdout)
	}
	if r := runCLI(t, "", "token", "holds"); r.code != exitOK || !strings.Contains(r.stdout, sub) {
		t.Fatalf("token holds (text): %d %s", r.code, r.stdout)
	}
	if r := runCLI(t, "", "token", "revoke", "--role", "trainer-inference", "--hold", "1h"); r.code == exitOK {
		t.Fatal("--hold accepted for a revocation by role")
	}

	// Lifting lets it exchange again.
	if r := runCLI(t, "", "token", "unhold", "--workload", is.url+" "+sub, "--reason", "cleared"); r.code != exitOK {
		t.Fatalf("unhold: %d %s", r.code, r.stderr)
	}
	if code, body := exchange(bases[1], withJTI()); code != 200 {
		t.Fatalf("after unhold: %d %s", code, body)
	}
	if r := runCLI(t, "", "token", "unhold", "--workload", is.url+" "+sub); r.code == exitOK {
		t.Fatal("unhold of a workload not held succeeded")
	}
	out2 := runCLI(t, "", "audit", "export")
	for _, action := range []string{aicred.ActionWorkloadHeld, aicred.ActionWorkloadHoldLifted, "token.exchange_refused"} {
		if !strings.Contains(out2.stdout, action) {
			t.Errorf("audit has no %s record", action)
		}
	}
}

// TestHoldingRevoker: the revoker the anomaly detector suspends through
// gives a revocation by workload the server's workload_hold, keeps a hold
// the caller named, and leaves other revocations alone.
func TestHoldingRevoker(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rv := holdingRevoker{st, 30 * time.Minute}
	cases := []struct {
		name string
		r    aicred.Revocation
		want time.Duration // 0: no hold
	}{
		{"suspension", aicred.Revocation{By: aicred.RevokeWorkload, Value: "https://iss a"}, 30 * time.Minute},
		{"named hold", aicred.Revocation{By: aicred.RevokeWorkload, Value: "https://iss b", Hold: 3 * time.Hour}, 3 * time.Hour},
		{"no hold", aicred.Revocation{By: aicred.RevokeWorkload, Value: "https://iss c", Hold: aicred.NoHold}, 0},
		{"by role", aicred.Revocation{By: aicred.RevokeRole, Value: "ci"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			if err := rv.Revoke(ctx, &c.r); err != nil {
				t.Fatal(err)
			}
			if c.r.By != aicred.RevokeWorkload {
				if hs, _ := st.ListWorkloadHolds(ctx); len(hs) != 2 {
					t.Fatalf("holds after a revocation by role: %+v", hs)
				}
				return
			}
			h, err := st.WorkloadHold(ctx, c.r.Value)
			if c.want == 0 {
				if aicred.KindOf(err) != aicred.ErrNotFound {
					t.Fatalf("held: %+v %v", h, err)
				}
				return
			}
			if err != nil || h.Until.Before(start.Add(c.want-time.Second)) || h.Until.After(time.Now().Add(c.want)) {
				t.Fatalf("hold %+v %v, want %v", h, err, c.want)
			}
		})
	}
}
