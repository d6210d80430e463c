package smart

import (
	"context"
	"fmt"
	"os"
)

// Recorded is a Reader over a recorded `smartctl --json` file: for tests,
// demos and disks read elsewhere. Each Read reads the file again, so a
// test can change it between polls.
type Recorded struct {
	File string
}

// Read implements Reader.
func (f Recorded) Read(ctx context.Context) (*Record, error) {
	b, err := os.ReadFile(f.File)
	if err != nil {
		return nil, err
	}
	r, err := ParseSmartctlJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.File, err)
	}
	if r.Device == "" {
		r.Device = f.File
	}
	return r, nil
}
