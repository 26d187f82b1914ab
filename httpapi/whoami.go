package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// WhoAmI answers GET /aicred/v1/whoami for the workload token presented as
// a bearer token (or x-api-key): the grant it stands for, or 401 once it is
// unknown, expired or revoked. It is the gateway's authentication step on
// its own, so a workload (or a test) can see a revocation take effect.
// Lookups go through the revocation-aware cache; a store that cannot answer
// is a 503, never a pass.
func WhoAmI(tokens broker.TokenStore, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "missing bearer token"})
			return
		}
		g, err := broker.ValidateToken(r.Context(), tokens, tok, time.Now())
		switch aicred.KindOf(err) {
		case aicred.ErrUnauthorized, aicred.ErrNotFound:
			log.Info("whoami: token refused", "reason", err.Error())
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid, expired or revoked token"})
			return
		}
		if err != nil {
			log.Warn("whoami: token lookup failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "store unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"grant": g})
	})
}
