package verify

import (
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// An explicit empty Dead list means no status alone proves a key dead: only
// the rejection message does (Voyage answers 401 for other reasons too).
func TestExplicitEmptyDeadList(t *testing.T) {
	k := synthetic("nodead", &provider.Liveness{
		BaseURL: "https://api.invalid", Path: "/v1/files", Auth: provider.Bearer,
		Dead: []int{}, DeadBody: []string{"Provided API key is invalid"},
	})
	cases := []struct {
		status int
		body   string
		want   aicred.Verification
	}{
		{401, `{"detail":"Unauthorized"}`, aicred.Unknown},
		{401, `{"detail":"Provided API key is invalid"}`, aicred.Dead},
		{200, `{}`, aicred.Live},
	}
	for i, c := range cases {
		s := newServer(t, reply(c.status, c.body))
		v := newVerifier(Options{BaseURLs: map[string]string{"test": s.URL}}, k)
		if st, d := check(t, v, finding(k, testKey(uint64(70+i)))); st != c.want {
			t.Errorf("%d %s: state = %s (%s), want %s", c.status, c.body, st, d, c.want)
		}
	}
}
