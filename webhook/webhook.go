// Package webhook posts events signed the Standard Webhooks way
// (webhook-id, webhook-timestamp and webhook-signature
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>"), so that any receiver
// with a Standard Webhooks library can verify them, and retries a failed
// delivery with backoff under the same webhook-id, so that receivers can
// drop duplicates. The anomaly detector's alerts and the response
// policy's events go out through it.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aicred/aicred"
)

// maxBackoff bounds the wait between two attempts.
const maxBackoff = time.Minute

// Config is where events go and how they are signed and retried.
type Config struct {
	// Name prefixes errors ("anomaly webhook").
	Name string
	// URL receives a JSON POST per event: absolute http(s), without
	// credentials.
	URL string
	// Secret is the signing secret: "whsec_<base64>" as Standard Webhooks
	// tools generate it, or any other text used as the key's bytes (at
	// least 16). SecretFile holds it when Secret is nil.
	Secret     []byte
	SecretFile string
	// Timeout bounds one attempt (default 5s). Retries follow a failed
	// attempt (default 3), waiting Backoff (default 1s) doubling up to a
	// minute. A 4xx other than 408 and 429 is not retried.
	Timeout time.Duration
	Retries int
	Backoff time.Duration
	// UserAgent names the sender (default "aicred/1").
	UserAgent string
	// Client makes the requests; the default follows no redirect (a
	// redirect would carry the signed event somewhere unreviewed).
	Client *http.Client
}

// A Sender posts signed events.
type Sender struct {
	c      Config
	signer *standardwebhooks.Webhook
	now    func() time.Time
}

// New checks c and reads its secret. Errors never quote the secret:
// ErrInvalid (a bad URL or secret, negative durations), ErrUnavailable
// (the secret file cannot be read).
func New(c Config) (*Sender, error) {
	if c.Name == "" {
		c.Name = "webhook"
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s: want an absolute http(s) URL without credentials", c.Name)
	}
	if c.Timeout < 0 || c.Retries < 0 || c.Backoff < 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s: timeout, retries and backoff must not be negative", c.Name)
	}
	secret := c.Secret
	if secret == nil {
		if c.SecretFile == "" {
			return nil, aicred.Errorf(aicred.ErrInvalid, "%s: a signing secret (secret_file) is required", c.Name)
		}
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "%s: secret file: %w", c.Name, err)
		}
		secret = bytes.TrimSpace(b)
	}
	key, err := Key(secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "%s: %v", c.Name, err)
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.UserAgent == "" {
		c.UserAgent = "aicred/1"
	}
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Sender{c: c, signer: signer, now: time.Now}, nil
}

// Key is the HMAC key of a secret: the decoded bytes of a "whsec_"
// secret, the secret's bytes otherwise, at least 16. Errors
// (ErrInvalid) never quote it.
func Key(secret []byte) ([]byte, error) {
	if s, ok := strings.CutPrefix(string(secret), "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "the whsec_ secret is not base64")
		}
		secret = k
	}
	if len(secret) < 16 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "a signing secret of at least 16 bytes is required")
	}
	return secret, nil
}

// envelope is the Standard Webhooks payload: the event's type, its time
// and the event itself.
type envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Send posts data as an event of type typ with id, retrying with backoff
// until it is delivered, the retries are spent, or ctx ends. onRetry,
// when set, hears of each failed attempt that will be retried.
func (s *Sender) Send(ctx context.Context, id, typ string, at time.Time, data any, onRetry func(attempt int, err error)) error {
	body, err := json.Marshal(envelope{Type: typ, Timestamp: at.UTC(), Data: data})
	if err != nil {
		return fmt.Errorf("%s: %w", s.c.Name, err)
	}
	wait := s.c.Backoff
	for attempt := 0; ; attempt++ {
		retry, err := s.post(ctx, id, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= s.c.Retries {
			return fmt.Errorf("%s: %d attempt(s): %w", s.c.Name, attempt+1, err)
		}
		if onRetry != nil {
			onRetry(attempt+1, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", s.c.Name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// post makes one attempt and reports whether a failure is worth a retry.
func (s *Sender) post(ctx context.Context, id string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.c.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	now := s.now()
	sig, err := s.signer.Sign(id, now, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.c.UserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.c.Client.Do(req)
	if err != nil {
		// The URL is the operator's, but errors are kept short of it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("receiver answered %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
}
