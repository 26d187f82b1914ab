package main

import (
	"context"
	"net/http"
	"time"

	"github.com/aicred/aicred"
)

// holdingRevoker gives a revocation by workload that names no hold the
// server's workload_hold. The gateway's anomaly detector revokes through
// it, so a suspension keeps the workload from new tokens as long as an
// administrator's revocation does.
type holdingRevoker struct {
	aicred.TokenService
	hold time.Duration
}

func (h holdingRevoker) Revoke(ctx context.Context, r *aicred.Revocation) error {
	if r.By == aicred.RevokeWorkload && r.Hold == 0 {
		r.Hold = h.hold
	}
	return h.TokenService.Revoke(ctx, r)
}

// boundedHandler gives a non-streaming route a write deadline of
// writeTimeout from the handler's start; the request (body included) is
// bounded by the server's ReadTimeout. A connection whose deadline
// cannot be set is served as is (http.ErrNotSupported: not a net.Conn).
func boundedHandler(h http.Handler, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
		h.ServeHTTP(w, r)
	})
}

// streamingHandler serves a gateway route: its request body must arrive
// within bodyTimeout (an upload may be large) rather than the server's
// ReadTimeout; each write of the answer must complete within writeTimeout
// of its start, so a long stream with long pauses is never cut, while a
// client that stops reading is. Once the body has been read, net/http
// clears the read deadline itself (its background read of the next
// request starts without one), so the ReadTimeout never cancels a stream.
// When the handler returns, whatever of the body it left unread must
// arrive within readTimeout, or the connection is closed.
func streamingHandler(h http.Handler, bodyTimeout, readTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// With no body net/http is already reading ahead without a
		// deadline; a deadline now would cancel the request when it
		// passed.
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, d: writeTimeout}
		h.ServeHTTP(dw, r)
		// The server flushes what is buffered, and drains a body left
		// unread, after the handler returns.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
		}
	})
}

// deadlineWriter sets a write deadline of d before each write and flush.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) arm() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

// FlushError flushes (http.ResponseController and httputil.ReverseProxy
// call it).
func (w *deadlineWriter) FlushError() error {
	w.arm()
	return w.rc.Flush()
}

// Flush implements http.Flusher.
func (w *deadlineWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
