package smart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// smartctlJSON is the part of `smartctl --json -a` output we read
// (smartmontools 7.x JSON format 1).
type smartctlJSON struct {
	Smartctl struct {
		Messages []struct {
			String   string `json:"string"`
			Severity string `json:"severity"`
		} `json:"messages"`
	} `json:"smartctl"`
	Device struct {
		Name     string `json:"name"`
		Protocol string `json:"protocol"`
	} `json:"device"`
	LocalTime struct {
		TimeT int64 `json:"time_t"`
	} `json:"local_time"`
	ModelName     string `json:"model_name"`
	SCSIModelName string `json:"scsi_model_name"`
	SCSIVendor    string `json:"scsi_vendor"`
	SCSIProduct   string `json:"scsi_product"`
	SCSIRevision  string `json:"scsi_revision"`
	SerialNumber  string `json:"serial_number"`
	Firmware      string `json:"firmware_version"`
	LogicalUnitID string `json:"logical_unit_id"`
	WWN           *struct {
		NAA uint64 `json:"naa"`
		OUI uint64 `json:"oui"`
		ID  uint64 `json:"id"`
	} `json:"wwn"`
	NVMeEUI64 *struct {
		OUI   uint64 `json:"oui"`
		ExtID uint64 `json:"ext_id"`
	} `json:"nvme_eui64"`
	NVMeNamespaces []struct {
		Size struct {
			Bytes uint64 `json:"bytes"`
		} `json:"size"`
		EUI64 *struct {
			OUI   uint64 `json:"oui"`
			ExtID uint64 `json:"ext_id"`
		} `json:"eui64"`
	} `json:"nvme_namespaces"`
	NVMeTotalCapacity uint64 `json:"nvme_total_capacity"`
	UserCapacity      struct {
		Bytes uint64 `json:"bytes"`
	} `json:"user_capacity"`
	SmartSupport *struct {
		Available bool `json:"available"`
		Enabled   bool `json:"enabled"`
	} `json:"smart_support"`
	SmartStatus *struct {
		Passed *bool `json:"passed"`
	} `json:"smart_status"`
	Temperature *struct {
		Current *int `json:"current"`
	} `json:"temperature"`
	PowerOnTime *struct {
		Hours uint64 `json:"hours"`
	} `json:"power_on_time"`
	PowerCycleCount *uint64 `json:"power_cycle_count"`

	ATAAttributes *struct {
		Table []struct {
			ID         int    `json:"id"`
			Name       string `json:"name"`
			Value      int    `json:"value"`
			Worst      int    `json:"worst"`
			Thresh     int    `json:"thresh"`
			WhenFailed string `json:"when_failed"`
			Flags      struct {
				Prefailure bool `json:"prefailure"`
			} `json:"flags"`
			Raw struct {
				Value uint64 `json:"value"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	ATAErrorLog *struct {
		Summary *struct {
			Count uint64 `json:"count"`
		} `json:"summary"`
		Extended *struct {
			Count uint64 `json:"count"`
		} `json:"extended"`
	} `json:"ata_smart_error_log"`

	NVMeLog *struct {
		CriticalWarning    uint8  `json:"critical_warning"`
		Temperature        *int   `json:"temperature"`
		AvailableSpare     int    `json:"available_spare"`
		SpareThreshold     int    `json:"available_spare_threshold"`
		PercentageUsed     int    `json:"percentage_used"`
		DataUnitsRead      uint64 `json:"data_units_read"`
		DataUnitsWritten   uint64 `json:"data_units_written"`
		ControllerBusyTime uint64 `json:"controller_busy_time"`
		PowerCycles        uint64 `json:"power_cycles"`
		PowerOnHours       uint64 `json:"power_on_hours"`
		UnsafeShutdowns    uint64 `json:"unsafe_shutdowns"`
		MediaErrors        uint64 `json:"media_errors"`
		NumErrLogEntries   uint64 `json:"num_err_log_entries"`
	} `json:"nvme_smart_health_information_log"`

	SCSIGrownDefects *uint64 `json:"scsi_grown_defect_list"`
	SCSIErrors       *struct {
		Read *struct {
			Uncorrected uint64 `json:"total_uncorrected_errors"`
		} `json:"read"`
		Write *struct {
			Uncorrected uint64 `json:"total_uncorrected_errors"`
		} `json:"write"`
	} `json:"scsi_error_counter_log"`
}

// ParseSmartctlJSON normalizes the output of `smartctl --json -a` (ATA,
// NVMe and SCSI disks) into a Record. It returns ErrCorrupt for output
// that is not a smartctl JSON object. Output without any health (smartctl
// could not open the disk, SMART is off) is a Record with Unknown set to
// why; for a disk smartctl -n standby left asleep, Standby is set too.
// Time is smartctl's local_time when present; Device is smartctl's device
// name.
func ParseSmartctlJSON(b []byte) (*Record, error) {
	var j smartctlJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("smartctl JSON: %v: %w", err, ErrCorrupt)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("smartctl JSON: not an object: %w", ErrCorrupt)
	}
	r := &Record{Device: j.Device.Name, Firmware: strings.TrimSpace(j.Firmware), Serial: strings.TrimSpace(j.SerialNumber)}
	if j.LocalTime.TimeT > 0 {
		r.Time = time.Unix(j.LocalTime.TimeT, 0).UTC()
	}
	switch strings.ToLower(j.Device.Protocol) {
	case "ata":
		r.Protocol = ATA
	case "nvme":
		r.Protocol = NVMe
	case "scsi":
		r.Protocol = SCSI
	}
	r.Model = strings.TrimSpace(j.ModelName)
	if r.Model == "" {
		r.Model = strings.TrimSpace(j.SCSIModelName)
	}
	if r.Model == "" {
		r.Model = strings.TrimSpace(strings.TrimSpace(j.SCSIVendor) + " " + strings.TrimSpace(j.SCSIProduct))
	}
	if r.Firmware == "" {
		r.Firmware = strings.TrimSpace(j.SCSIRevision)
	}
	r.WWN = smartctlWWN(&j)
	r.Capacity = j.UserCapacity.Bytes
	if r.Capacity == 0 {
		r.Capacity = j.NVMeTotalCapacity
	}
	if r.Capacity == 0 {
		for _, ns := range j.NVMeNamespaces {
			r.Capacity += ns.Size.Bytes
		}
	}
	if j.Temperature != nil && j.Temperature.Current != nil && plausibleTemperature(*j.Temperature.Current) {
		r.Temperature, r.HasTemperature = *j.Temperature.Current, true
	}
	if j.PowerOnTime != nil {
		r.PowerOnHours = j.PowerOnTime.Hours
	}
	if j.PowerCycleCount != nil {
		r.PowerCycles = *j.PowerCycleCount
	}
	if j.SmartStatus != nil && j.SmartStatus.Passed != nil {
		r.SMARTStatus = "failed"
		if *j.SmartStatus.Passed {
			r.SMARTStatus = "passed"
		}
	}

	if a := j.ATAAttributes; a != nil {
		h := &ATAHealth{}
		for _, e := range a.Table {
			if e.ID <= 0 || e.ID >= 255 {
				continue
			}
			raw := e.Raw.Value & (1<<48 - 1)
			h.Attributes = append(h.Attributes, Attribute{
				ID:         e.ID,
				Name:       e.Name,
				Current:    e.Value,
				Worst:      e.Worst,
				Threshold:  e.Thresh,
				Raw:        raw,
				RawCount:   attrRawCount(e.ID, e.Name, r.Model, r.Firmware, raw, r.Capacity),
				Prefailure: e.Flags.Prefailure,
				// smartctl's when_failed is "FAILING_NOW", "In_the_past"
				// or "": only "now" is failing now.
				Failing: e.WhenFailed == "FAILING_NOW" || failingNow(e.Value, e.Thresh),
			})
		}
		slices.SortStableFunc(h.Attributes, func(a, b Attribute) int { return a.ID - b.ID })
		if l := j.ATAErrorLog; l != nil {
			switch {
			case l.Extended != nil:
				h.ErrorLogCount = l.Extended.Count
			case l.Summary != nil:
				h.ErrorLogCount = l.Summary.Count
			}
		}
		r.ATA = h
		if r.Protocol == "" {
			r.Protocol = ATA
		}
	}
	if l := j.NVMeLog; l != nil {
		r.NVMe = &NVMeHealth{
			CriticalWarning:    l.CriticalWarning,
			AvailableSpare:     l.AvailableSpare,
			SpareThreshold:     l.SpareThreshold,
			PercentageUsed:     l.PercentageUsed,
			MediaErrors:        l.MediaErrors,
			IntegrityErrors:    l.NumErrLogEntries,
			UnsafeShutdowns:    l.UnsafeShutdowns,
			DataUnitsRead:      l.DataUnitsRead,
			DataUnitsWritten:   l.DataUnitsWritten,
			ControllerBusyMins: l.ControllerBusyTime,
		}
		if !r.HasTemperature && l.Temperature != nil && plausibleTemperature(*l.Temperature) {
			r.Temperature, r.HasTemperature = *l.Temperature, true
		}
		if r.PowerOnHours == 0 {
			r.PowerOnHours = l.PowerOnHours
		}
		if r.PowerCycles == 0 {
			r.PowerCycles = l.PowerCycles
		}
		if r.Protocol == "" {
			r.Protocol = NVMe
		}
	}
	if r.Protocol == SCSI || j.SCSIGrownDefects != nil || j.SCSIErrors != nil {
		s := &SCSIHealth{}
		if j.SCSIGrownDefects != nil {
			s.GrownDefects = *j.SCSIGrownDefects
		}
		if e := j.SCSIErrors; e != nil {
			if e.Read != nil {
				s.UncorrectedReadErrors = e.Read.Uncorrected
			}
			if e.Write != nil {
				s.UncorrectedWriteErrs = e.Write.Uncorrected
			}
		}
		if j.SmartStatus != nil && j.SmartStatus.Passed != nil {
			ok := *j.SmartStatus.Passed
			s.HealthOK = &ok
		}
		if j.SCSIGrownDefects != nil || j.SCSIErrors != nil || s.HealthOK != nil {
			r.SCSI = s
		}
		if r.Protocol == "" {
			r.Protocol = SCSI
		}
	}

	if r.ATA == nil && r.NVMe == nil && r.SCSI == nil && r.SMARTStatus == "" {
		r.Unknown = smartctlWhyUnknown(&j)
		// smartctl -n standby: "Device is in STANDBY mode, exit(2)".
		for _, m := range j.Smartctl.Messages {
			if strings.Contains(m.String, "STANDBY") || strings.Contains(m.String, "SLEEP") {
				r.Standby, r.Unknown = true, "disk in standby, not woken"
			}
		}
	}
	return r, nil
}

// smartctlWWN is the disk's world wide name as raid.DriveIdentity writes
// it: "0x" and 16 lowercase hex digits for ATA (from NAA, OUI and ID:
// 4 + 24 + 36 bits) and SCSI (the logical unit id), "eui.…" for NVMe
// namespaces (as the kernel's wwid).
func smartctlWWN(j *smartctlJSON) string {
	if w := j.WWN; w != nil && (w.NAA|w.OUI|w.ID) != 0 {
		return fmt.Sprintf("0x%016x", (w.NAA&0xf)<<60|(w.OUI&0xffffff)<<36|w.ID&(1<<36-1))
	}
	if id := strings.ToLower(strings.TrimSpace(j.LogicalUnitID)); strings.HasPrefix(id, "0x") && len(id) > 2 {
		return id
	}
	e := j.NVMeEUI64
	for i := 0; e == nil && i < len(j.NVMeNamespaces); i++ {
		e = j.NVMeNamespaces[i].EUI64
	}
	if e != nil && (e.OUI|e.ExtID) != 0 {
		return fmt.Sprintf("eui.%016x", (e.OUI&0xffffff)<<40|e.ExtID&(1<<40-1))
	}
	return ""
}

// smartctlWhyUnknown explains output without any health.
func smartctlWhyUnknown(j *smartctlJSON) string {
	if s := j.SmartSupport; s != nil {
		switch {
		case !s.Available:
			return "health unknown: the disk does not support SMART"
		case !s.Enabled:
			return "health unknown: SMART is disabled on the disk (enable it with smartctl -s on)"
		}
	}
	var msgs []string
	for _, m := range j.Smartctl.Messages {
		if s := strings.TrimSpace(m.String); s != "" {
			msgs = append(msgs, s)
		}
	}
	if len(msgs) > 0 {
		return "health unknown: smartctl: " + strings.Join(msgs, "; ")
	}
	return "health unknown: smartctl reported no health data"
}
