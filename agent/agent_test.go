package agent

import (
	"context"
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
)

// TestAgentForwardsWithCurrentToken: the agent accepts only the run's
// secret, forwards with the token it holds, and exchanges again before
// the token expires.
func TestAgentForwardsWithCurrentToken(t *testing.T) {
	var mu sync.Mutex
	issued, seen := 0, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/oauth/token":
			r.ParseForm()
			if r.Form.Get("subject_token") != "jwt-from-file" {
				w.WriteHeader(400)
				return
			}
			issued++
			json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + string(rune('0'+issued)), "expires_in": 3})
		case "/aicred/v1/s3/credentials":
			w.WriteHeader(http.StatusNotFound)
		default:
			seen = append(seen, r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "jwt")
	os.WriteFile(f, []byte("jwt-from-file\n"), 0o600)
	a, err := New(Config{Server: srv.URL, Identity: File{Path: f}, RefreshBefore: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	call := func(key, header string) int {
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/openai/v1/chat/completions", strings.NewReader("{}"))
		req.Header.Set(header, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := call("Bearer wrong", "Authorization"); c != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", c)
	}
	if c := call("Bearer "+a.Secret(), "Authorization"); c != 200 {
		t.Fatalf("run's secret: %d", c)
	}
	time.Sleep(1500 * time.Millisecond) // past the refresh point (3s - 2s)
	if c := call(a.Secret(), "X-Api-Key"); c != 200 {
		t.Fatalf("x-api-key: %d", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if issued < 2 || len(seen) != 2 || seen[0] != "Bearer tok-1 " || seen[1] != " tok-2" {
		t.Fatalf("issued %d, server saw %q", issued, seen)
	}
	for _, kv := range a.Env("main", "") {
		if strings.Contains(kv, "tok-") {
			t.Fatalf("the job's environment carries the token: %s", kv)
		}
	}
}
