package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// WebhookConfig is where alerts are posted. The body is signed the
// Standard Webhooks way (webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"), so
// any receiver with a Standard Webhooks library can verify it.
type WebhookConfig struct {
	// URL receives a JSON POST per alert; empty means no webhook.
	URL string `yaml:"url"`
	// SecretFile holds the signing secret: "whsec_<base64>" as Standard
	// Webhooks tools generate, or any other text used as the key bytes.
	// Secret, when set, is used instead (for callers holding it already).
	SecretFile string `yaml:"secret_file"`
	Secret     []byte `yaml:"-"`
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries after a failed attempt (default 4), with Backoff doubling
	// from 1s up to a minute. A 4xx other than 408 and 429 is not retried.
	Retries int           `yaml:"retries"`
	Backoff time.Duration `yaml:"backoff"`
}

// WebhookEventType is the type of the webhook payload.
const WebhookEventType = "aicred.anomaly"

// webhookPayload is the body posted per alert, in the Standard Webhooks
// envelope. It holds the alert and nothing else: no token, no key.
type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Alert     `json:"data"`
}

type webhook struct {
	url     string
	key     []byte
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	log     *slog.Logger
	now     func() time.Time
}

const maxWebhookBackoff = time.Minute

// check validates what can be checked without reading the secret file.
func (c WebhookConfig) check() error {
	if c.URL == "" {
		if c.SecretFile != "" || c.Secret != nil {
			return aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: a secret without a url")
		}
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: want an absolute http(s) URL without credentials")
	}
	if c.SecretFile == "" && c.Secret == nil {
		return aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: a signing secret (secret_file) is required")
	}
	if c.Timeout < 0 || c.Retries < 0 || c.Backoff < 0 {
		return aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: timeout, retries and backoff must not be negative")
	}
	return nil
}

func newWebhook(c WebhookConfig, client *http.Client, log *slog.Logger) (*webhook, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	secret := c.Secret
	if secret == nil && c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "anomaly webhook: secret file: %w", err)
		}
		secret = bytes.TrimSpace(b)
	}
	key, err := webhookKey(secret)
	if err != nil {
		return nil, err
	}
	w := &webhook{url: c.URL, key: key, client: client, timeout: c.Timeout, retries: c.Retries, backoff: c.Backoff, log: log, now: time.Now}
	if w.timeout == 0 {
		w.timeout = 5 * time.Second
	}
	if w.retries == 0 {
		w.retries = 4
	}
	if w.backoff == 0 {
		w.backoff = time.Second
	}
	if w.client == nil {
		// A redirect would carry the signed alert somewhere unreviewed.
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return w, nil
}

// webhookKey is the HMAC key of a secret: the decoded bytes of a
// "whsec_" secret, the secret's bytes otherwise. Errors never quote it.
func webhookKey(secret []byte) ([]byte, error) {
	if s, ok := strings.CutPrefix(string(secret), "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: the whsec_ secret is not base64")
		}
		secret = k
	}
	if len(secret) < 16 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "anomaly webhook: a signing secret of at least 16 bytes is required")
	}
	return secret, nil
}

// signWebhook returns the webhook-signature value of body.
func signWebhook(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// send posts a, retrying with backoff until ctx ends. Every attempt
// carries the same webhook-id, so receivers can drop duplicates.
func (w *webhook) send(ctx context.Context, a Alert) error {
	body, err := json.Marshal(webhookPayload{Type: WebhookEventType, Timestamp: a.Time.UTC(), Data: a})
	if err != nil {
		return err
	}
	wait := w.backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, a.ID, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.retries {
			return fmt.Errorf("anomaly webhook: %d attempts: %w", attempt+1, err)
		}
		w.log.Warn("anomaly: webhook attempt failed", "alert", a.ID, "attempt", attempt+1, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("anomaly webhook: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxWebhookBackoff)
	}
}

// post makes one attempt and reports whether a failure is worth a retry.
func (w *webhook) post(ctx context.Context, id string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aicred-anomaly/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", signWebhook(w.key, id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// The URL is ours, but the error text is kept short of it anyway.
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
