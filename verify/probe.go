package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// maxBody bounds how much of an answer is read; body markers beyond it are
// not seen.
const maxBody = 64 << 10

// attempt is the result of one try.
type attempt struct {
	outcome
	retry bool          // a 429, a 5xx or a transport error: worth another try
	after time.Duration // the provider's Retry-After, or -1 when it sent none
}

// attempts runs once until it decides, the retries are spent or ctx ends.
// Each try holds one concurrency slot and gets its own timeout; the wait
// between tries holds none.
func (v *Verifier) attempts(ctx context.Context, once func(context.Context) attempt) outcome {
	for i := 0; ; i++ {
		select {
		case v.sem <- struct{}{}:
		case <-ctx.Done():
			if i == 0 {
				return notStarted
			}
			return cutShort
		}
		actx, cancel := context.WithTimeout(ctx, v.timeout)
		a := once(actx)
		cancel()
		<-v.sem

		if a.cancelled {
			return a.outcome
		}
		if !a.retry || i >= v.retries {
			return a.tried(i + 1)
		}
		wait := v.backoffFor(i)
		if a.after >= 0 {
			if a.after > v.maxWait {
				a.detail += ", asked to retry later"
				return a.tried(i + 1)
			}
			wait = a.after
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return cutShort
		}
	}
}

// tried notes the number of attempts in the detail when there was more than one.
func (a attempt) tried(n int) outcome {
	if n > 1 {
		a.detail += fmt.Sprintf(" (after %d attempts)", n)
	}
	return a.outcome
}

// backoffFor returns the wait after attempt i (from 0): exponential, capped,
// with jitter so that many findings do not retry in lockstep.
func (v *Verifier) backoffFor(i int) time.Duration {
	d := v.backoff << min(i, 16)
	if d <= 0 || d > v.maxWait {
		d = v.maxWait
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header) time.Duration {
	s := strings.TrimSpace(h.Get("Retry-After"))
	if s == "" {
		return -1
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(min(max(n, 0), 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		return max(time.Until(t), 0)
	}
	return -1
}

// prepared is a declarative check ready to send: everything but the
// context, so each attempt builds a fresh request.
type prepared struct {
	method string
	url    string
	header http.Header
	body   string
}

// prepare builds the request a Liveness describes for f, or says why it
// cannot be built.
func prepare(l *provider.Liveness, base string, f *aicred.Finding) (prepared, string) {
	p := prepared{method: l.Method, url: base + l.Path, header: http.Header{}, body: l.Body}
	if p.method == "" {
		p.method = http.MethodGet
	}
	if _, err := url.Parse(p.url); err != nil {
		return p, "the liveness check has an invalid URL"
	}
	for k, val := range l.Header {
		p.header.Set(k, val)
	}
	if p.body != "" {
		ct := l.ContentType
		if ct == "" {
			ct = "application/json"
		}
		p.header.Set("Content-Type", ct)
	}

	key := f.Secret.Reveal()
	a := l.Auth
	header := a.Header
	if header == "" {
		header = "Authorization"
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	switch {
	case a.Related != "":
		other := f.Related[a.Related]
		if other.IsZero() {
			return p, "needs the other half of the key pair, which was not found nearby"
		}
		p.header.Set(header, basic(key, other.Reveal()))
	case a.BasicUser == "-":
		p.header.Set(header, basic(key, ""))
	case a.BasicUser != "":
		p.header.Set(header, basic(a.BasicUser, key))
	case a.Scheme != "":
		p.header.Set(header, a.Scheme+" "+key)
	default:
		p.header.Set(header, key)
	}
	return p, ""
}

// httpOnce sends a declarative check once. ctx is the caller's context,
// actx the attempt's (with its timeout).
func (v *Verifier) httpOnce(ctx, actx context.Context, l *provider.Liveness, p prepared) attempt {
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(actx, p.method, p.url, body)
	if err != nil {
		return attempt{outcome: outcome{state: aicred.Unknown, detail: "the liveness request could not be built"}, after: -1}
	}
	req.Header = p.header.Clone()
	resp, err := v.client.Do(req)
	if err != nil {
		return v.failed(ctx, actx, err, "no answer from the provider")
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	a := classify(l, resp.StatusCode, raw)
	if a.state == aicred.Unknown && rerr != nil {
		if ctx.Err() != nil {
			return attempt{outcome: cutShort}
		}
		a.detail = fmt.Sprintf("HTTP %d, but the answer could not be read", resp.StatusCode)
		a.retry = true
	}
	if a.retry {
		a.after = retryAfter(resp.Header)
	}
	return a
}

// classify maps an answer to a state using the Liveness's declared codes
// and body markers.
func classify(l *provider.Liveness, status int, body []byte) attempt {
	a := attempt{after: -1}
	a.state = aicred.Unknown
	live, dead := l.Live, l.Dead
	if len(live) == 0 {
		live = []int{http.StatusOK}
	}
	if dead == nil { // an explicit empty list means no status alone proves death
		dead = []int{http.StatusUnauthorized}
	}
	for _, m := range l.DeadBody {
		if m != "" && bytes.Contains(body, []byte(m)) {
			a.state, a.detail = aicred.Dead, fmt.Sprintf("HTTP %d with the provider's rejection message", status)
			return a
		}
	}
	switch {
	case slices.Contains(live, status):
		for _, m := range l.LiveBody {
			if !bytes.Contains(body, []byte(m)) {
				// A proxy, firewall or captive portal can answer 200 too.
				a.detail = fmt.Sprintf("HTTP %d without the expected response body", status)
				return a
			}
		}
		a.state, a.detail = aicred.Live, fmt.Sprintf("HTTP %d: the provider accepted the credential", status)
	case slices.Contains(dead, status):
		a.state, a.detail = aicred.Dead, fmt.Sprintf("HTTP %d: the provider rejected the credential", status)
	case slices.Contains(l.NoPermission, status):
		a.state, a.detail = aicred.LiveNoPermission, fmt.Sprintf("HTTP %d: the credential is active but not permitted this request", status)
	case status == http.StatusTooManyRequests:
		a.detail, a.retry = "rate limited (HTTP 429)", true
	case status >= 500:
		a.detail, a.retry = fmt.Sprintf("provider error (HTTP %d)", status), true
	case status >= 300 && status < 400:
		a.detail = fmt.Sprintf("redirected (HTTP %d); redirects are not followed", status)
	default:
		a.detail = fmt.Sprintf("unexpected answer (HTTP %d)", status)
	}
	return a
}

// probeOnce calls a provider's own Probe once. Its detail is scrubbed later;
// its error is only classified, never shown, since it may name a URL.
func (v *Verifier) probeOnce(ctx, actx context.Context, l *provider.Liveness, base string, f *aicred.Finding) attempt {
	st, detail, err := callProbe(l.Probe, actx, v.client, base, f)
	a := attempt{outcome: outcome{state: st, detail: detail}, after: -1}
	switch st {
	case aicred.Live, aicred.Dead, aicred.LiveNoPermission, aicred.NotChecked:
		return a
	}
	a.state = aicred.Unknown
	if ctx.Err() != nil {
		return attempt{outcome: cutShort}
	}
	if a.detail == "" {
		a.detail = "the provider's answer decides nothing"
	}
	if err != nil && transportError(err) {
		a.retry = true
		if actx.Err() != nil || isTimeout(err) {
			a.detail += fmt.Sprintf(" (timed out after %s)", v.timeout)
		}
	}
	return a
}

// callProbe runs p, turning a panic into an Unknown outcome: the panic's
// value is dropped, since it might hold request data.
func callProbe(p func(context.Context, *http.Client, string, *aicred.Finding) (aicred.Verification, string, error),
	ctx context.Context, c *http.Client, base string, f *aicred.Finding) (st aicred.Verification, detail string, err error) {
	defer func() {
		if recover() != nil {
			st, detail, err = aicred.Unknown, "the provider's check failed", nil
		}
	}()
	return p(ctx, c, base, f)
}

// failed classifies a request that got no answer.
func (v *Verifier) failed(ctx, actx context.Context, err error, what string) attempt {
	if ctx.Err() != nil {
		return attempt{outcome: cutShort}
	}
	a := attempt{outcome: outcome{state: aicred.Unknown}, retry: true, after: -1}
	if actx.Err() != nil || isTimeout(err) {
		a.detail = fmt.Sprintf("%s: timed out after %s", what, v.timeout)
	} else {
		a.detail = what + ": connection failed"
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// transportError reports whether err came from sending a request (as
// opposed to building one), which is worth a retry.
func transportError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op != "parse"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}
