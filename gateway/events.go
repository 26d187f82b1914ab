package gateway

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"
)

// A Refusal describes a request the gateway turned away before any
// upstream call: a bad or revoked token, a scope or budget refusal. It
// never carries the token, only the grant's id when the token was valid.
type Refusal struct {
	Time      time.Time `json:"time"`
	TokenID   string    `json:"token_id,omitempty"` // empty when authentication failed
	Workload  string    `json:"workload,omitempty"`
	Role      string    `json:"role,omitempty"`
	Provider  string    `json:"provider"`
	Model     string    `json:"model,omitempty"`
	Operation string    `json:"operation,omitempty"`
	Status    int       `json:"status"`
	Code      string    `json:"code"`
	SourceIP  string    `json:"source_ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
}

// A RefusalObserver hears every refusal (Config.Refusals). It is called on
// the request's goroutine and must be quick and safe for concurrent use.
type RefusalObserver interface {
	ObserveRefusal(ctx context.Context, r Refusal)
}

// clientIP is the address of the connection the request came on. The
// gateway does not trust X-Forwarded-For: a workload could name any
// address there.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// userAgent is the request's User-Agent, bounded and made printable.
func userAgent(r *http.Request) string {
	ua := r.Header.Get("User-Agent")
	if len(ua) > 200 {
		ua = ua[:200]
	}
	return strings.ToValidUTF8(ua, "?")
}

// RefusalObservers fans each refusal out to every observer in order.
type RefusalObservers []RefusalObserver

// ObserveRefusal implements RefusalObserver.
func (os RefusalObservers) ObserveRefusal(ctx context.Context, r Refusal) {
	for _, o := range os {
		o.ObserveRefusal(ctx, r)
	}
}
