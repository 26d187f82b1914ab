package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aicred/aicred"
)

// testSecret is a whsec_ secret made at test time.
func testSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	if err := os.WriteFile(good, []byte(testSecret(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    Config
		want string // "" for no error
		kind aicred.ErrorKind
	}{
		{"secret file", Config{URL: "https://hooks.example/x", SecretFile: good}, "", 0},
		{"secret", Config{URL: "http://127.0.0.1:9/x", Secret: []byte(testSecret(t))}, "", 0},
		{"no secret", Config{URL: "https://hooks.example/x"}, "signing secret", aicred.ErrInvalid},
		{"short secret", Config{URL: "https://hooks.example/x", Secret: []byte("short")}, "at least 16", aicred.ErrInvalid},
		{"bad whsec", Config{URL: "https://hooks.example/x", Secret: []byte("whsec_!!")}, "not base64", aicred.ErrInvalid},
		{"missing file", Config{URL: "https://hooks.example/x", SecretFile: filepath.Join(dir, "none")}, "secret file", aicred.ErrUnavailable},
		{"relative URL", Config{URL: "/hook", Secret: []byte(testSecret(t))}, "absolute", aicred.ErrInvalid},
		{"URL with credentials", Config{URL: "https://u:p@hooks.example/", Secret: []byte(testSecret(t))}, "without credentials", aicred.ErrInvalid},
		{"ftp URL", Config{URL: "ftp://hooks.example/", Secret: []byte(testSecret(t))}, "http(s)", aicred.ErrInvalid},
		{"negative retries", Config{URL: "https://hooks.example/x", Secret: []byte(testSecret(t)), Retries: -1}, "negative", aicred.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name = "test webhook"
			_, err := New(tc.c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "test webhook: ") {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
			if aicred.KindOf(err) != tc.kind {
				t.Fatalf("kind %v, want %v", aicred.KindOf(err), tc.kind)
			}
			if s := string(tc.c.Secret); len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

// receiver answers with the statuses given, in turn, then 204, and keeps
// what it was sent.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	bodies   [][]byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	r.bodies = append(r.bodies, body)
	status := http.StatusNoContent
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	if status == http.StatusFound {
		http.Redirect(w, req, "http://elsewhere.example/", status)
		return
	}
	w.WriteHeader(status)
}

func TestSend(t *testing.T) {
	type event struct {
		Kind string `json:"kind"`
		N    int    `json:"n"`
	}
	at := time.Date(2026, 12, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	tests := []struct {
		name     string
		statuses []int
		retries  int
		attempts int
		wantErr  string
	}{
		{"delivered at once", nil, 3, 1, ""},
		{"server errors, then delivered", []int{500, 503, 429}, 3, 4, ""},
		{"timeout status retried", []int{408}, 3, 2, ""},
		{"retries spent", []int{500, 500, 500}, 2, 3, "3 attempt(s): receiver answered 500"},
		{"4xx not retried", []int{400}, 3, 1, "1 attempt(s): receiver answered 400"},
		{"redirect not followed", []int{302}, 3, 1, "receiver answered 302"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{statuses: tc.statuses}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			secret := testSecret(t)
			s, err := New(Config{Name: "test webhook", URL: srv.URL + "/hook", Secret: []byte(secret), Retries: tc.retries,
				Backoff: time.Millisecond, UserAgent: "aicred-test/1"})
			if err != nil {
				t.Fatal(err)
			}
			var retried []int
			err = s.Send(context.Background(), "evt_1", "aicred.test", at, event{"spike", 3}, func(n int, err error) { retried = append(retried, n) })
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error quotes the URL: %v", err)
			}
			if len(rcv.got) != tc.attempts || len(retried) != tc.attempts-1 && tc.wantErr == "" {
				t.Fatalf("%d attempts (%d retries heard), want %d", len(rcv.got), len(retried), tc.attempts)
			}
			v, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			for i, req := range rcv.got {
				if id := req.Header.Get("webhook-id"); id != "evt_1" {
					t.Fatalf("attempt %d: webhook-id %q", i, id)
				}
				if ua := req.Header.Get("User-Agent"); ua != "aicred-test/1" {
					t.Fatalf("attempt %d: User-Agent %q", i, ua)
				}
				if err := v.Verify(rcv.bodies[i], req.Header); err != nil {
					t.Fatalf("attempt %d: signature does not verify: %v", i, err)
				}
				var env struct {
					Type      string    `json:"type"`
					Timestamp time.Time `json:"timestamp"`
					Data      event     `json:"data"`
				}
				if err := json.Unmarshal(rcv.bodies[i], &env); err != nil {
					t.Fatal(err)
				}
				if env.Type != "aicred.test" || !env.Timestamp.Equal(at) || env.Timestamp.Location() != time.UTC || env.Data != (event{"spike", 3}) {
					t.Fatalf("attempt %d: envelope %+v", i, env)
				}
			}
		})
	}
}

// TestSendContextEnds: a cancelled context ends the retries.
func TestSendContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL, Secret: []byte(testSecret(t)), Retries: 100, Backoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, "evt_2", "aicred.test", time.Now(), 1, nil); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v, want the context's", err)
	}
}

func FuzzKey(f *testing.F) {
	f.Add([]byte("whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123"))))
	f.Add([]byte("whsec_!!"))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, secret []byte) {
		key, err := Key(secret)
		if err != nil {
			if len(secret) >= 8 && strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error quotes the secret: %v", err)
			}
			return
		}
		if len(key) < 16 {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
	})
}
