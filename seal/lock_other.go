//go:build !unix

package seal

// lockFile is a no-op where flock is not available: rotate from one
// process at a time.
func lockFile(string) (func(), error) { return func() {}, nil }
