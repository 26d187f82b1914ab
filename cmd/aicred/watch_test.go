package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// syncBuffer is a bytes.Buffer safe for the watch's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// issueWorkloadToken stores a grant for a generated workload token.
func issueWorkloadToken(t testing.TB, st aicred.Store, id string, seed uint64) string {
	t.Helper()
	tok := provider.FormatToken(provider.TokenPrefixWorkload, provider.NewGen(seed).Chars(provider.Alnum, provider.TokenRandomLen))
	g := &aicred.Grant{ID: id, TokenHash: aicred.HashToken(tok), Class: aicred.TokenWorkload, Issuer: "https://ci.example",
		Subject: "repo:acme/api", Role: "ci", ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.IssueGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	return tok
}

// gitIn runs git in dir with a neutral configuration.
func gitIn(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.test",
		"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sightingsOf(st aicred.Store, secret string) []aicred.Sighting {
	d, err := st.GetCredential(context.Background(), aicred.FingerprintOf([]byte(secret)))
	if err != nil {
		return nil
	}
	return d.Sightings
}

// TestWatchCommand runs `aicred watch` on a repository and a log: a key
// written to a file, a key appended to the log and a key committed are
// recorded; an aicred token appended to the log is revoked and refused by
// a grant cache on the same store (another Store instance, as another
// process would have); the output never holds a secret; SIGINT-like
// cancellation ends the watch with exit 0.
func TestWatchCommand(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "aicred.db")
	repo := filepath.Join(dir, "repo")
	writeFile(t, filepath.Join(repo, "README.md"), "hello\n")
	gitIn(t, repo, "init", "-q")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "init")
	logPath := filepath.Join(dir, "logs", "app.log")
	writeFile(t, logPath, "started\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok := issueWorkloadToken(t, st, "tok_leaky", 4242)
	cache := grantcache.New(st, nil)
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}

	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--store", db, "watch", repo, "--git", "--log", logPath,
			"--debounce", "10ms", "--log-poll", "20ms", "--git-poll", "100ms"}, strings.NewReader(""), &out, &errb)
	}()
	time.Sleep(300 * time.Millisecond) // the watches are in place

	fileKey, fileForms := canary(101)
	logKey, logForms := canary(102)
	commitKey, commitForms := canary(103)

	writeFile(t, filepath.Join(repo, "config", "prod.env"), "ANTHROPIC_API_KEY="+fileKey+"\n")
	eventually(t, "key written to a file recorded", func() bool {
		s := sightingsOf(st, fileKey)
		return len(s) == 1 && s[0].Path == "config/prod.env" && s[0].Origin == repo
	})

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "request failed key=%s\nauth: Bearer %s\n", logKey, tok)
	f.Close()
	eventually(t, "key appended to the log recorded", func() bool {
		s := sightingsOf(st, logKey)
		return len(s) == 1 && s[0].Line == 2
	})
	eventually(t, "leaked aicred token refused by the gateway's grant cache", func() bool {
		_, err := broker.ValidateToken(ctx, cache, tok, time.Now())
		return aicred.KindOf(err) == aicred.ErrUnauthorized
	})
	g, err := st.LookupGrant(ctx, aicred.HashToken(tok))
	if err != nil || g.RevokeReason != "leaked: "+logPath+":3" {
		t.Fatalf("revocation reason %q (%v)", g.RevokeReason, err)
	}

	writeFile(t, filepath.Join(repo, "deploy.sh"), "export K="+commitKey+"\n")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "deploy")
	eventually(t, "committed key recorded with its commit", func() bool {
		for _, s := range sightingsOf(st, commitKey) {
			if s.Source == aicred.SourceGit && s.Commit != "" {
				return true
			}
		}
		return false
	})

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("watch exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop")
	}
	// leak.detected audited; no output or audit record holds a secret.
	st2, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	evs, err := st2.ListAudit(context.Background(), 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var detected int
	var audit strings.Builder
	for _, e := range evs {
		if e.Action == ActionLeakDetected {
			detected++
		}
		fmt.Fprintf(&audit, "%v\n", e)
	}
	if detected < 3 {
		t.Errorf("%d leak.detected records, want at least 3", detected)
	}
	forms := append(append(append([]string{tok}, fileForms...), logForms...), commitForms...)
	assertNoLeak(t, "watch", forms, out.String(), errb.String(), audit.String())
}

// TestScanRecordRevokesTokens: scan --record revokes an aicred token the
// store issued and reports one it does not know.
func TestScanRecordRevokesTokens(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "aicred.db")
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	tok := issueWorkloadToken(t, st, "tok_scanned", 77)
	st.Close()
	foreign := provider.FormatToken(provider.TokenPrefixWorkload, provider.NewGen(78).Chars(provider.Alnum, provider.TokenRandomLen))
	writeFile(t, filepath.Join(dir, "src", "ci.yml"), "token: "+tok+"\nother: "+foreign+"\n")
	r := runCLI(t, "", "--store", db, "scan", "--record", filepath.Join(dir, "src"))
	if r.code != exitFindings || !strings.Contains(r.stderr, "tok_scanned at ci.yml:1: revoked") || !strings.Contains(r.stderr, "not issued by this store") {
		t.Fatalf("scan --record: %d\n%s", r.code, r.stderr)
	}
	assertNoLeak(t, "scan --record", []string{tok, foreign}, r.stdout, r.stderr)
	st, err = sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := st.LookupGrant(context.Background(), aicred.HashToken(tok))
	if err != nil || g.RevokedAt.IsZero() || g.RevokeReason != "leaked: ci.yml:1" {
		t.Fatalf("grant after scan --record: %+v (%v)", g, err)
	}
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	for i := range 10 {
		if !s.add(fmt.Sprint(i)) {
			t.Fatalf("%d not new", i)
		}
	}
	if s.len() != 3 || len(s.index) != 3 {
		t.Fatalf("size %d/%d, want 3", s.len(), len(s.index))
	}
	if s.add("9") || !s.add("0") {
		t.Fatal("LRU order wrong")
	}
	s.forget("9")
	if !s.add("9") {
		t.Fatal("forget did not forget")
	}
}

func TestWatchUsage(t *testing.T) {
	for _, args := range [][]string{{"watch"}, {"watch", "-", "-"}, {"watch", "--memory", "0", "."}} {
		if r := runCLI(t, "", append([]string{"--store", filepath.Join(t.TempDir(), "a.db")}, args...)...); r.code != exitError {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
}
