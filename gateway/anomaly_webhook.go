package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/webhook"
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

// alertHook posts alerts through a webhook.Sender, logging each failed
// attempt it retries.
type alertHook struct {
	s   *webhook.Sender
	log *slog.Logger
}

func newAlertHook(c WebhookConfig, client *http.Client, log *slog.Logger) (*alertHook, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	retries := c.Retries
	if retries == 0 {
		retries = 4
	}
	s, err := webhook.New(webhook.Config{Name: "anomaly webhook", URL: c.URL, Secret: c.Secret, SecretFile: c.SecretFile,
		Timeout: c.Timeout, Retries: retries, Backoff: c.Backoff, UserAgent: "aicred-anomaly/1", Client: client})
	if err != nil {
		return nil, err
	}
	return &alertHook{s: s, log: log}, nil
}

// send posts a, retrying with backoff until ctx ends. Every attempt
// carries the same webhook-id, so receivers can drop duplicates. The
// payload holds the alert and nothing else: no token, no key.
func (h *alertHook) send(ctx context.Context, a Alert) error {
	return h.s.Send(ctx, a.ID, WebhookEventType, a.Time, a, func(attempt int, err error) {
		h.log.Warn("anomaly: webhook attempt failed", "alert", a.ID, "attempt", attempt, "err", err)
	})
}
