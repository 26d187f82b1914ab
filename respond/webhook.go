package respond

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/aicred/aicred/webhook"
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
type Webhook struct{ s *webhook.Sender }

// NewWebhook checks c and reads its secret. Errors never quote the secret.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	s, err := webhook.New(webhook.Config{Name: "respond webhook", URL: c.URL, Secret: c.Secret, SecretFile: c.SecretFile,
		Timeout: c.Timeout, Retries: c.Retries, Backoff: c.Backoff, UserAgent: "aicred-respond/1"})
	if err != nil {
		return nil, err
	}
	return &Webhook{s: s}, nil
}

// Notify posts e, retrying with backoff until ctx ends. Every attempt
// carries the same webhook-id (the event's id), so receivers can drop
// duplicates.
func (w *Webhook) Notify(ctx context.Context, e *Event) error {
	return w.s.Send(ctx, e.ID, WebhookEventType, e.Time, e, nil)
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
