package smart

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// smartctl's exit status is a bit mask (smartctl(8), "RETURN VALUES").
// smartctl --json repeats it as smartctl.exit_status.
const (
	// ExitCommandLine: the command line did not parse.
	ExitCommandLine = 1 << 0
	// ExitOpenFailed: the device could not be opened, did not identify
	// itself, or is in a low-power mode (with -n).
	ExitOpenFailed = 1 << 1
	// ExitCommandFailed: some SMART or other command to the disk failed,
	// or a SMART data structure had a bad checksum.
	ExitCommandFailed = 1 << 2
	// ExitDiskFailing: the SMART status check returned "DISK FAILING".
	ExitDiskFailing = 1 << 3
	// ExitPrefailAttrs: prefail attributes are at or below their threshold.
	ExitPrefailAttrs = 1 << 4
	// ExitAttrsPast: the status is OK but some (usage or prefail)
	// attributes have been at or below their threshold (now for usage
	// attributes, or at some time in the past).
	ExitAttrsPast = 1 << 5
	// ExitErrorLog: the device error log contains records of errors.
	ExitErrorLog = 1 << 6
	// ExitSelfTestLog: the self-test log contains errors (failed tests
	// outdated by a newer successful extended self-test are ignored).
	ExitSelfTestLog = 1 << 7
)

// ParseSmartctlJSON normalizes the output of `smartctl --json -a` (ATA,
// NVMe and SCSI disks) into a Record. It reads the output as other tools
// save it too: with a UTF-8 byte order mark, in UTF-16, or with text after
// the JSON object. It returns ErrCorrupt, naming the line and byte, for
// what is not a JSON object. Fields are read one by one: a field with a
// value of the wrong type or out of range is listed in Record.Unreadable
// and the rest still counts; a value no disk can have (NVMe media errors
// 2^64-1, spare -1 %) is listed in Record.NotReported. Output without any
// health (smartctl could not open the disk, SMART is off) is a Record
// with Unknown set to why; for a disk smartctl -n standby left asleep,
// Standby is set too. Time is smartctl's local_time when present; Device
// is smartctl's device name; SmartctlExit is smartctl.exit_status.
func ParseSmartctlJSON(b []byte) (*Record, error) {
	root, err := decodeSmartctl(b)
	if err != nil {
		return nil, err
	}
	j := &jsonFields{obj: root, bad: new([]string)}
	r := &Record{Device: j.str("device.name"), Firmware: j.str("firmware_version"), Serial: j.str("serial_number")}
	defer func() { r.Unreadable = *j.bad }()
	if t, ok := j.int64("local_time.time_t"); ok && t > 0 {
		r.Time = time.Unix(t, 0).UTC()
	}
	if s, ok := j.int64("smartctl.exit_status"); ok && s >= 0 && s <= 255 {
		r.SmartctlExit = int(s)
	}
	switch strings.ToLower(j.str("device.protocol")) {
	case "ata":
		r.Protocol = ATA
	case "nvme":
		r.Protocol = NVMe
	case "scsi":
		r.Protocol = SCSI
	}
	r.Model = j.str("model_name")
	if r.Model == "" {
		r.Model = j.str("scsi_model_name")
	}
	if r.Model == "" {
		r.Model = strings.TrimSpace(j.str("scsi_vendor") + " " + j.str("scsi_product"))
	}
	if r.Firmware == "" {
		r.Firmware = j.str("scsi_revision")
	}
	r.WWN = smartctlWWN(j)
	r.Capacity, _ = j.uint("user_capacity.bytes")
	if r.Capacity == 0 {
		r.Capacity, _ = j.uint("nvme_total_capacity")
	}
	if r.Capacity == 0 {
		for _, ns := range j.list("nvme_namespaces") {
			n, _ := ns.uint("size.bytes")
			r.Capacity += n
		}
	}
	if c, ok := j.int("temperature.current"); ok && plausibleTemperature(c) {
		r.Temperature, r.HasTemperature = c, true
	}
	r.PowerOnHours, _ = j.uint("power_on_time.hours")
	r.PowerCycles, _ = j.uint("power_cycle_count")
	passed, hasStatus := j.boolean("smart_status.passed")
	if hasStatus {
		r.SMARTStatus = "failed"
		if passed {
			r.SMARTStatus = "passed"
		}
	}

	if j.has("ata_smart_attributes") {
		h := &ATAHealth{}
		for _, e := range j.list("ata_smart_attributes.table") {
			id, ok := e.int("id")
			if !ok || id <= 0 || id >= 255 {
				continue
			}
			value, _ := e.int("value")
			worst, _ := e.int("worst")
			thresh, _ := e.int("thresh")
			prefail, _ := e.boolean("flags.prefailure")
			raw, rawOK := e.uint("raw.value")
			raw &= 1<<48 - 1
			whenFailed := e.str("when_failed")
			a := Attribute{
				ID:         id,
				Name:       e.str("name"),
				Current:    value,
				Worst:      worst,
				Threshold:  thresh,
				Raw:        raw,
				Prefailure: prefail,
				// smartctl's JSON schema: when_failed is "", "past"
				// or "now".
				Failing:    whenFailed == "now" || failingNow(value, thresh),
				FailedPast: whenFailed == "past",
			}
			if rawOK {
				a.RawCount = attrRawCount(a.ID, a.Name, r.Model, r.Firmware, raw, r.Capacity)
			}
			h.Attributes = append(h.Attributes, a)
		}
		slices.SortStableFunc(h.Attributes, func(a, b Attribute) int { return a.ID - b.ID })
		if n, ok := j.uint("ata_smart_error_log.extended.count"); ok {
			h.ErrorLogCount = n
		} else if n, ok := j.uint("ata_smart_error_log.summary.count"); ok {
			h.ErrorLogCount = n
		}
		r.ATA = h
		if r.Protocol == "" {
			r.Protocol = ATA
		}
	}
	if j.has("nvme_smart_health_information_log") {
		l := j.sub("nvme_smart_health_information_log")
		n := &NVMeHealth{}
		w, _ := l.uint("critical_warning")
		n.CriticalWarning = uint8(w)
		spare, spareOK := l.int("available_spare")
		if spareOK && spare >= 0 && spare <= 100 {
			n.AvailableSpare = spare
		} else {
			// A percentage: -1 (0xff read as a signed byte) or a
			// missing field is no reading.
			r.NotReported = append(r.NotReported, l.path("available_spare"))
		}
		n.SpareThreshold, _ = l.int("available_spare_threshold")
		n.PercentageUsed, _ = l.int("percentage_used")
		if n.PercentageUsed < 0 {
			r.NotReported = append(r.NotReported, l.path("percentage_used"))
			n.PercentageUsed = 0
		}
		n.MediaErrors, _ = l.uint("media_errors")
		if n.MediaErrors == 1<<64-1 {
			// All ones: the controller filled in no value.
			r.NotReported = append(r.NotReported, l.path("media_errors"))
			n.MediaErrors = 0
		}
		n.IntegrityErrors, _ = l.uint("num_err_log_entries")
		n.UnsafeShutdowns, _ = l.uint("unsafe_shutdowns")
		n.DataUnitsRead, _ = l.uint("data_units_read")
		n.DataUnitsWritten, _ = l.uint("data_units_written")
		n.ControllerBusyMins, _ = l.uint("controller_busy_time")
		r.NVMe = n
		if t, ok := l.int("temperature"); !r.HasTemperature && ok && plausibleTemperature(t) {
			r.Temperature, r.HasTemperature = t, true
		}
		if r.PowerOnHours == 0 {
			r.PowerOnHours, _ = l.uint("power_on_hours")
		}
		if r.PowerCycles == 0 {
			r.PowerCycles, _ = l.uint("power_cycles")
		}
		if r.Protocol == "" {
			r.Protocol = NVMe
		}
	}
	hasDefects, hasErrors := j.has("scsi_grown_defect_list"), j.has("scsi_error_counter_log")
	if r.Protocol == SCSI || hasDefects || hasErrors {
		s := &SCSIHealth{}
		s.GrownDefects, _ = j.uint("scsi_grown_defect_list")
		s.UncorrectedReadErrors, _ = j.uint("scsi_error_counter_log.read.total_uncorrected_errors")
		s.UncorrectedWriteErrs, _ = j.uint("scsi_error_counter_log.write.total_uncorrected_errors")
		if hasStatus {
			s.HealthOK = &passed
		}
		if hasDefects || hasErrors || s.HealthOK != nil {
			r.SCSI = s
		}
		if r.Protocol == "" {
			r.Protocol = SCSI
		}
	}

	verdictBits := r.SmartctlExit&(ExitDiskFailing|ExitPrefailAttrs|ExitAttrsPast|ExitSelfTestLog) != 0 &&
		r.SmartctlExit&(ExitCommandLine|ExitOpenFailed) == 0
	if r.ATA == nil && r.NVMe == nil && r.SCSI == nil && r.SMARTStatus == "" && !verdictBits {
		r.Unknown = smartctlWhyUnknown(j, r.SmartctlExit)
		// smartctl -n standby: "Device is in STANDBY mode, exit(2)".
		for _, m := range j.list("smartctl.messages") {
			if s := m.str("string"); strings.Contains(s, "STANDBY") || strings.Contains(s, "SLEEP") {
				r.Standby, r.Unknown = true, "disk in standby, not woken"
			}
		}
	}
	return r, nil
}

// smartctlWWN is the disk's world wide name as blockdev.DriveIdentity writes
// it: "0x" and 16 lowercase hex digits for ATA (from NAA, OUI and ID:
// 4 + 24 + 36 bits) and SCSI (the logical unit id), "eui.…" for NVMe
// namespaces (as the kernel's wwid).
func smartctlWWN(j *jsonFields) string {
	naa, _ := j.uint("wwn.naa")
	oui, _ := j.uint("wwn.oui")
	id, _ := j.uint("wwn.id")
	if naa|oui|id != 0 {
		return fmt.Sprintf("0x%016x", (naa&0xf)<<60|(oui&0xffffff)<<36|id&(1<<36-1))
	}
	if lu := strings.ToLower(j.str("logical_unit_id")); strings.HasPrefix(lu, "0x") && len(lu) > 2 {
		return lu
	}
	eui := func(e *jsonFields) string {
		oui, _ := e.uint("oui")
		ext, _ := e.uint("ext_id")
		if oui|ext == 0 {
			return ""
		}
		return fmt.Sprintf("eui.%016x", (oui&0xffffff)<<40|ext&(1<<40-1))
	}
	if j.has("nvme_eui64") {
		return eui(j.sub("nvme_eui64"))
	}
	for _, ns := range j.list("nvme_namespaces") {
		if ns.has("eui64") {
			return eui(ns.sub("eui64"))
		}
	}
	return ""
}

// smartctlWhyUnknown explains output without any health.
func smartctlWhyUnknown(j *jsonFields, exit int) string {
	if j.has("smart_support") {
		avail, okA := j.boolean("smart_support.available")
		enabled, okE := j.boolean("smart_support.enabled")
		switch {
		case okA && !avail:
			return "health unknown: the disk does not support SMART"
		case okE && !enabled:
			return "health unknown: SMART is disabled on the disk (enable it with smartctl -s on)"
		}
	}
	var msgs []string
	for _, m := range j.list("smartctl.messages") {
		if s := m.str("string"); s != "" {
			msgs = append(msgs, s)
		}
	}
	if len(msgs) > 0 {
		return "health unknown: smartctl: " + strings.Join(msgs, "; ")
	}
	if exit&(ExitCommandLine|ExitOpenFailed) != 0 {
		return fmt.Sprintf("health unknown: smartctl could not read the disk (exit status %d)", exit)
	}
	return "health unknown: smartctl reported no health data"
}
