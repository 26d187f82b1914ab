package main

import (
	"context"
	"io"
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
// within bodyTimeout; once it has (or when there is none) the read
// deadline is cleared, so that the server's ReadTimeout does not cancel a
// long stream; each write of the answer must complete within
// writeTimeout of its start.
func streamingHandler(h http.Handler, bodyTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			_ = rc.SetReadDeadline(time.Time{})
		} else {
			_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
			r.Body = &eofClearsDeadline{ReadCloser: r.Body, rc: rc}
		}
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, d: writeTimeout}
		h.ServeHTTP(dw, r)
		// The server flushes what is buffered after the handler returns.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	})
}

// eofClearsDeadline clears the connection's read deadline when the body
// has been read to its end.
type eofClearsDeadline struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *eofClearsDeadline) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
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
