package gateway

import "github.com/aicred/aicred/broker"

// globMatch reports whether s matches pattern in the broker's model-glob
// syntax. It defers to the broker so that a pattern allows the same
// models at exchange time and at request time.
func globMatch(pattern, s string) bool { return broker.MatchGlob(pattern, s) }
