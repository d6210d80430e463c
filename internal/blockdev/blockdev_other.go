//go:build !linux

package blockdev

import (
	"errors"
	"fmt"
	"runtime"
)

// unsupported says what cannot be done here, and why.
func unsupported(what, path string) error {
	return fmt.Errorf("%s %s: %w: block devices are read from Linux's sysfs, not on %s", what, path, errors.ErrUnsupported, runtime.GOOS)
}

// DeviceOf returns the device number of the file system that holds path.
// Only on Linux: elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func DeviceOf(path string) (uint64, error) {
	return 0, unsupported("device of", path)
}

// IsMountPoint reports whether path is the root of a mounted file system.
// Only on Linux: elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func IsMountPoint(path string) (bool, error) {
	return false, unsupported("check mount point", path)
}

// DriveIdentity names the physical drive that holds path. Only on Linux:
// elsewhere it returns an error wrapping errors.ErrUnsupported.
func DriveIdentity(path string) (Identity, error) {
	return Identity{}, unsupported("drive identity of", path)
}
