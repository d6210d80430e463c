package raid

import "time"

// SetReadDelay makes every shard read from the member at a path wait for
// delay(path) first: a slow disk. It returns a function that removes the
// delay.
func SetReadDelay(delay func(path string) time.Duration) (restore func()) {
	testReadDelay.Store(&delay)
	return func() { testReadDelay.Store(nil) }
}
