//go:build unix

package seal

import (
	"os"
	"syscall"

	"github.com/aicred/aicred"
)

// lockFile takes an exclusive lock on path+".lock" so that two processes
// changing the keyring at once (Rotate, Retire) do not lose each other's
// keys. The returned function releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "master key file lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, aicred.Errorf(aicred.ErrUnavailable, "master key file lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
