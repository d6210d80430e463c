package smart

import (
	"slices"
	"strings"
	"time"
)

// Protocol is how a disk speaks SMART.
type Protocol string

// Protocols.
const (
	ATA  Protocol = "ata"
	NVMe Protocol = "nvme"
	SCSI Protocol = "scsi"
)

// Record is one normalized reading of a disk's health: the same fields
// whatever the protocol and whatever produced it (smart.go, smartctl
// --json, recorded test data). Zero values mean "not reported"; the Has*
// flags say whether a zero is a reading.
type Record struct {
	Time     time.Time `json:"time"`
	Device   string    `json:"device"` // /dev/sda, /dev/nvme0n1, or a test name
	Protocol Protocol  `json:"protocol"`
	Model    string    `json:"model,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	WWN      string    `json:"wwn,omitempty"` // "0x5000c500…" lowercase, as blockdev.DriveIdentity
	Firmware string    `json:"firmware,omitempty"`
	Capacity uint64    `json:"capacity_bytes,omitempty"`

	// Temperature in °C; HasTemperature is false when the disk reports
	// none or a value that cannot be a temperature (0 K, > 150 °C).
	Temperature    int    `json:"temperature_c,omitempty"`
	HasTemperature bool   `json:"has_temperature"`
	PowerOnHours   uint64 `json:"power_on_hours,omitempty"`
	PowerCycles    uint64 `json:"power_cycles,omitempty"`

	// SMARTStatus is the drive's own overall verdict when it gives one
	// (ATA SMART RETURN STATUS, NVMe critical warning, SCSI health):
	// "passed", "failed" or "" (unknown: smart.go cannot ask ATA drives).
	SMARTStatus string `json:"smart_status,omitempty"`

	ATA  *ATAHealth  `json:"ata,omitempty"`
	NVMe *NVMeHealth `json:"nvme,omitempty"`
	SCSI *SCSIHealth `json:"scsi,omitempty"`

	// Unknown explains why no health could be read ("insufficient
	// privilege", "disk in standby, not woken", "no SMART support").
	Unknown string `json:"unknown,omitempty"`
	// Standby is true when the disk was asleep and deliberately not read.
	Standby bool `json:"standby,omitempty"`

	// SmartctlExit is smartctl's exit status for readings by smartctl: a
	// bit mask (the Exit* constants, smartctl(8) "RETURN VALUES"); 0
	// otherwise.
	SmartctlExit int `json:"smartctl_exit_status,omitempty"`
	// Unreadable lists the fields of the reading (smartctl JSON paths)
	// that were there with a value of the wrong type or out of range;
	// they read as not reported and the rest of the reading still counts.
	Unreadable []string `json:"unreadable,omitempty"`
	// NotReported lists fields whose value no disk can have (NVMe media
	// errors 2^64-1, spare -1 %): the disk did not fill them in. They
	// are left out of the verdict and print as "not reported".
	NotReported []string `json:"not_reported,omitempty"`
}

// Reported reports whether field (a smartctl JSON path, as in
// NotReported and Unreadable) has a usable value: false when the disk
// left it out, gave a value no disk can have, or one of the wrong type.
func (r *Record) Reported(field string) bool {
	return !slices.Contains(r.NotReported, field) && !slices.Contains(r.Unreadable, field)
}

// Attribute is one ATA SMART attribute.
type Attribute struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Current   int    `json:"value"`
	Worst     int    `json:"worst"`
	Threshold int    `json:"thresh"`
	// Raw is the 48-bit raw value as the drive stores it. For some
	// attributes vendors pack several numbers into it (Seagate 188,
	// some Fujitsu 5); RawCount is the count to use, when known.
	Raw      uint64 `json:"raw"`
	RawCount uint64 `json:"raw_count"`
	// Prefailure is the attribute's "pre-fail" flag; Failing is true when
	// the normalized value is at or below a non-zero threshold.
	Prefailure bool `json:"prefailure"`
	Failing    bool `json:"failing_now"`
	// FailedPast is true when the worst value once was at or below the
	// threshold (smartctl's when_failed "past").
	FailedPast bool `json:"failed_past,omitempty"`
}

// ATAHealth holds what ATA drives report.
type ATAHealth struct {
	Attributes []Attribute `json:"attributes"`
	// ErrorLogCount is the number of errors in the SMART error log.
	ErrorLogCount uint64 `json:"error_log_count"`
}

// Attribute returns the attribute with the given ID, if reported.
func (h *ATAHealth) Attribute(id int) (Attribute, bool) {
	if h == nil {
		return Attribute{}, false
	}
	for _, a := range h.Attributes {
		if a.ID == id {
			return a, true
		}
	}
	return Attribute{}, false
}

// Failure-predicting ATA attributes (see docs/SMART.md).
const (
	AttrReallocatedSectors   = 5
	AttrSpinRetries          = 10
	AttrEndToEndErrors       = 184
	AttrReportedUncorrect    = 187
	AttrCommandTimeout       = 188
	AttrReallocationEvents   = 196
	AttrPendingSectors       = 197
	AttrOfflineUncorrectable = 198
	AttrUDMACRCErrors        = 199
	AttrMultiZoneErrors      = 201
)

// NVMeHealth holds the NVMe SMART / health log.
type NVMeHealth struct {
	CriticalWarning    uint8  `json:"critical_warning"`
	AvailableSpare     int    `json:"available_spare"`
	SpareThreshold     int    `json:"available_spare_threshold"`
	PercentageUsed     int    `json:"percentage_used"`
	MediaErrors        uint64 `json:"media_errors"`
	IntegrityErrors    uint64 `json:"num_err_log_entries"` // error-log entries
	UnsafeShutdowns    uint64 `json:"unsafe_shutdowns"`
	DataUnitsRead      uint64 `json:"data_units_read"`
	DataUnitsWritten   uint64 `json:"data_units_written"`
	ControllerBusyMins uint64 `json:"controller_busy_time"`
}

// NVMe critical warning bits.
const (
	NVMeWarnSpare       = 1 << 0 // available spare below threshold
	NVMeWarnTemperature = 1 << 1
	NVMeWarnReliability = 1 << 2 // NVM subsystem reliability degraded
	NVMeWarnReadOnly    = 1 << 3 // media placed in read-only mode
	NVMeWarnVolatile    = 1 << 4 // volatile memory backup failed
	NVMeWarnPMR         = 1 << 5 // persistent memory region read-only
)

// SCSIHealth holds what SCSI/SAS disks report.
type SCSIHealth struct {
	GrownDefects          uint64 `json:"grown_defect_list"`
	UncorrectedReadErrors uint64 `json:"uncorrected_read_errors"`
	UncorrectedWriteErrs  uint64 `json:"uncorrected_write_errors"`
	HealthOK              *bool  `json:"health_ok,omitempty"`
}

// State is a disk's verdict.
type State string

// Verdicts, from best to worst.
const (
	OK      State = "OK"
	Warning State = "WARNING"
	Failing State = "FAILING"
	Unknown State = "UNKNOWN"
)

// Verdict is the policy's judgement of a disk with reasons a person
// understands.
type Verdict struct {
	State State `json:"state"`
	// Reasons are the facts behind the state, worst first.
	Reasons []string `json:"reasons,omitempty"`
	// Action is the one thing to do, as a sentence: "" for OK and
	// UNKNOWN, ActReplaceNow for FAILING, the action of the first
	// reason for WARNING.
	Action string `json:"action,omitempty"`
}

// Text is the verdict's reasons and action as one text: "160 unreadable
// sectors waiting to be remapped; 8 sectors reallocated. Copy your
// photos off this disk and replace it now."
func (v Verdict) Text() string {
	s := strings.Join(v.Reasons, "; ")
	switch {
	case s == "":
		return v.Action
	case v.Action == "":
		return s
	}
	return s + ". " + v.Action
}
