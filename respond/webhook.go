package respond

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
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

// WebhookEventType is the type of the response policy's webhook payload.
const WebhookEventType = "aicred.respond"

// WebhookConfig is where the response policy posts its events, signed
// the Standard Webhooks way (webhook-id, webhook-timestamp,
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>").
type WebhookConfig struct {
	URL string
	// SecretFile holds the signing secret: "whsec_<base64>" as Standard
	// Webhooks tools generate it, or any other text used as the key's
	// bytes (at least 16). Secret, when set, is used instead.
	SecretFile string
	Secret     []byte
	// Timeout bounds one attempt (default 5s); Retries (default 3) follow
	// a failed attempt, waiting Backoff (default 1s) doubling. A 4xx other
	// than 408 and 429 is not retried.
	Timeout time.Duration
	Retries int
	Backoff time.Duration
}

// Webhook posts events signed the Standard Webhooks way.
type Webhook struct {
	url     string
	signer  *standardwebhooks.Webhook
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
}

// NewWebhook checks c and reads its secret. Errors never quote the secret.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: want an absolute http(s) URL without credentials")
	}
	secret := c.Secret
	if secret == nil {
		if c.SecretFile == "" {
			return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: a secret_file is required")
		}
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: secret file: %w", err)
		}
		secret = bytes.TrimSpace(b)
	}
	if s, ok := strings.CutPrefix(string(secret), "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: the whsec_ secret is not base64")
		}
		secret = k
	}
	if len(secret) < 16 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: a signing secret of at least 16 bytes is required")
	}
	signer, err := standardwebhooks.NewWebhookRaw(secret)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "respond webhook: %v", err)
	}
	w := &Webhook{url: c.URL, signer: signer, timeout: c.Timeout, retries: c.Retries, backoff: c.Backoff,
		// A redirect would carry the signed event somewhere unreviewed.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if w.timeout <= 0 {
		w.timeout = 5 * time.Second
	}
	if w.retries <= 0 {
		w.retries = 3
	}
	if w.backoff <= 0 {
		w.backoff = time.Second
	}
	return w, nil
}

type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      *Event    `json:"data"`
}

// Notify posts e, retrying with backoff until ctx ends. Every attempt
// carries the same webhook-id (the event's id), so receivers can drop
// duplicates.
func (w *Webhook) Notify(ctx context.Context, e *Event) error {
	body, err := json.Marshal(webhookPayload{Type: WebhookEventType, Timestamp: e.Time, Data: e})
	if err != nil {
		return err
	}
	wait := w.backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, e.ID, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.retries {
			return fmt.Errorf("respond webhook: %d attempt(s): %w", attempt+1, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("respond webhook: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (w *Webhook) post(ctx context.Context, id string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	now := time.Now()
	sig, err := w.signer.Sign(id, now, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aicred-respond/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.client.Do(req)
	if err != nil {
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
		return true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
