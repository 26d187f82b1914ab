package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestConnStateGauge: aicred_http_connections follows connections through
// idle, active, idle and closed.
func TestConnStateGauge(t *testing.T) {
	m := NewMetrics()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = m.ConnState
	srv.Start()
	defer srv.Close()
	gauge := func(state string) float64 { return testutil.ToFloat64(m.conns.WithLabelValues(state)) }
	waitGauge := func(state string, want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for gauge(state) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s connections: %v, want %v", state, gauge(state), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	client := &http.Client{Transport: tr}
	get := func(path string) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/")
	waitGauge("idle", 1) // kept alive
	waitGauge("active", 0)

	done := make(chan struct{})
	go func() { get("/wait"); close(done) }()
	<-entered
	waitGauge("active", 1)
	waitGauge("idle", 0)
	close(release)
	<-done
	waitGauge("active", 0)
	waitGauge("idle", 1)

	tr.CloseIdleConnections()
	waitGauge("idle", 0)
	waitGauge("active", 0)
}
