package smart

import (
	"fmt"
	"strings"

	smartgo "github.com/anatol/smart.go"
)

// SCSI disks without smartctl: smart.go knows their identity, not their
// health (smartctl reads it when installed: readSmartctl, device_linux.go).

// readSCSI reads a SCSI disk with smart.go, which knows its identity but
// no health: the Record says so.
func (d *device) readSCSI() (*Record, error) {
	s, err := smartgo.OpenScsi(d.dev)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer s.Close()
	r := d.unknown(UnknownSCSI)
	r.Protocol = SCSI
	if inq, err := s.Inquiry(); err == nil {
		r.Model = strings.TrimSpace(strings.TrimSpace(string(inq.VendorIdent[:])) + " " + strings.TrimSpace(string(inq.ProductIdent[:])))
		r.Firmware = strings.TrimSpace(string(inq.ProductRev[:]))
	}
	if sn, err := s.SerialNumber(); err == nil && strings.TrimSpace(sn) != "" {
		r.Serial = strings.TrimSpace(sn)
	}
	if c, err := s.Capacity(); err == nil && c > 0 {
		r.Capacity = c
	}
	d.remember(r)
	return r, nil
}
