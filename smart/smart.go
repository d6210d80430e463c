package smart

import (
	"context"
	"time"
)

// Reader reads one disk's health. Implementations: a device opened with
// smart.go (Open, Linux), the smartctl --json fallback, and recorded data
// in tests. Read must not wake a disk in standby: it then returns a Record
// with Standby set and no health.
type Reader interface {
	Read(ctx context.Context) (*Record, error)
}

// Disk is a disk the poller watches.
type Disk struct {
	// Path is the block device (/dev/sda) or a name for recorded data.
	Path   string
	Reader Reader
}

// Sample is the compact part of a Record kept in history: enough for
// trends and for explaining a verdict.
type Sample struct {
	Time         time.Time `json:"t"`
	Temperature  int       `json:"temp,omitempty"`
	PowerOnHours uint64    `json:"poh,omitempty"`
	// Counters of failure-predicting conditions: ATA attribute IDs as
	// "5", "187"…, and "nvme_media_errors", "nvme_spare",
	// "nvme_used", "nvme_warning", "scsi_defects", "scsi_uncorrected",
	// plus our own
	// "io_errors" and "checksum_errors" from the array.
	Counters map[string]uint64 `json:"c,omitempty"`
	State    State             `json:"s"`
}

// Baseline is an acknowledged condition: counters the owner has seen and
// accepted. Only growth beyond it raises the verdict again.
type Baseline struct {
	Time     time.Time         `json:"time"`
	Counters map[string]uint64 `json:"counters"`
	Note     string            `json:"note,omitempty"`
}

// ArrayErrors are our own errors on a disk, as the disk array counts them
// (failed reads and writes; shards that did not match their checksum).
type ArrayErrors struct {
	IOErrors       uint64
	ChecksumErrors uint64
}
