//go:build race

package e2e

// raceDetector: this test binary runs under the race detector, which
// slows the attack clients in this process several times over; the
// attack tests' latency limits would then measure the detector, not the
// box (see watchHealth).
const raceDetector = true
