package smart

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"

	smartgo "github.com/anatol/smart.go"
)

// ATA page sizes and the IDENTIFY DEVICE checksum signature (ATA8-ACS
// 7.16.7.91: word 255 holds A5h and a checksum when the signature is
// there).
const (
	ataPageSize       = 512
	ataIdentifySigned = 0xa5
	// smartDataAttrBytes is the attribute part of SMART READ DATA: a
	// version word and 30 entries of 12 bytes (smart.go's
	// AtaSmartPageRaw).
	smartDataAttrBytes = 2 + 30*12
)

// ParseATAPages decodes the raw 512-byte pages an ATA disk returns for
// IDENTIFY DEVICE, SMART READ DATA and SMART READ THRESHOLDS into a
// Record, with smart.go's exported page layouts. smartData and thresholds
// may be empty: without SMART data the Record says why in Unknown; without
// thresholds no attribute is "failing now". A page of the wrong size or
// with a bad checksum is ErrCorrupt. The drive's overall verdict (SMART
// RETURN STATUS) is not in these pages: SMARTStatus stays "" (see
// ParseSkdump).
//
// Attribute names come from a table of the common ones (smart.go's drive
// database is not exported); raw values are interpreted as described in
// docs/SMART.md (vendor packing, sector-count sanity).
func ParseATAPages(identify, smartData, thresholds []byte) (*Record, error) {
	if len(identify) != ataPageSize {
		return nil, fmt.Errorf("IDENTIFY DEVICE page of %d bytes, want %d: %w", len(identify), ataPageSize, ErrCorrupt)
	}
	if identify[510] == ataIdentifySigned && !ataChecksumOK(identify) {
		return nil, fmt.Errorf("IDENTIFY DEVICE checksum mismatch: %w", ErrCorrupt)
	}
	var id smartgo.AtaIdentifyDevice
	if err := binary.Read(bytes.NewReader(identify), binary.LittleEndian, &id); err != nil {
		return nil, fmt.Errorf("IDENTIFY DEVICE: %v: %w", err, ErrCorrupt)
	}
	r := &Record{
		Protocol: ATA,
		Model:    cleanATAString(id.ModelNumber()),
		Serial:   cleanATAString(id.SerialNumber()),
		Firmware: cleanATAString(id.FirmwareRevision()),
	}
	// Word 84/87 bit 8: the WWN in words 108..111 is valid.
	if w := id.WWN(); w != 0 && (id.CommandsSupported3&(1<<8) != 0 || id.CommandsEnabled3&(1<<8) != 0) {
		r.WWN = fmt.Sprintf("0x%016x", w)
	}
	_, r.Capacity, _, _, _ = id.Capacity()

	// Word 82 bit 0: SMART supported; word 85 bit 0: enabled.
	switch {
	case id.CommandsSupported1&1 == 0 && len(smartData) == 0:
		r.Unknown = "health unknown: the disk does not support SMART"
		return r, nil
	case len(smartData) == 0:
		r.Unknown = "health unknown: the disk returned no SMART data"
		return r, nil
	}
	if len(smartData) != ataPageSize {
		return nil, fmt.Errorf("SMART READ DATA page of %d bytes, want %d: %w", len(smartData), ataPageSize, ErrCorrupt)
	}
	if !ataChecksumOK(smartData) {
		return nil, fmt.Errorf("SMART READ DATA checksum mismatch: %w", ErrCorrupt)
	}
	var page smartgo.AtaSmartPageRaw
	if err := binary.Read(bytes.NewReader(smartData[:smartDataAttrBytes]), binary.LittleEndian, &page); err != nil {
		return nil, fmt.Errorf("SMART READ DATA: %v: %w", err, ErrCorrupt)
	}
	thr := map[uint8]uint8{}
	if len(thresholds) > 0 {
		if len(thresholds) != ataPageSize {
			return nil, fmt.Errorf("SMART READ THRESHOLDS page of %d bytes, want %d: %w", len(thresholds), ataPageSize, ErrCorrupt)
		}
		var tp smartgo.AtaSmartThresholdsPageRaw
		if err := binary.Read(bytes.NewReader(thresholds), binary.LittleEndian, &tp); err != nil {
			return nil, fmt.Errorf("SMART READ THRESHOLDS: %v: %w", err, ErrCorrupt)
		}
		if !ataChecksumOK(thresholds) {
			return nil, fmt.Errorf("SMART READ THRESHOLDS checksum mismatch: %w", ErrCorrupt)
		}
		for _, e := range tp.ThresholdEntries {
			if e.Id != 0 {
				thr[e.Id] = e.Threshold
			}
		}
	}

	q := quirksFor(r.Model, r.Firmware)
	h := &ATAHealth{}
	for _, a := range page.Attrs {
		if a.Id == 0 || a.Id == 0xff {
			continue
		}
		id := int(a.Id)
		raw := raw48(a.VendorBytes)
		at := Attribute{
			ID:         id,
			Name:       q.name(id),
			Current:    int(a.Current),
			Worst:      int(a.Worst),
			Threshold:  int(thr[a.Id]),
			Raw:        raw,
			Prefailure: a.Flags&smartgo.AtaAttributeFlagPrefailure != 0,
		}
		at.RawCount = attrRawCount(id, at.Name, r.Model, r.Firmware, raw, r.Capacity)
		at.Failing = failingNow(at.Current, at.Threshold)
		h.Attributes = append(h.Attributes, at)
	}
	slices.SortStableFunc(h.Attributes, func(a, b Attribute) int { return a.ID - b.ID })
	r.ATA = h

	for _, tid := range []int{194, 190, 231} {
		if q.notTemperature[tid] {
			continue
		}
		if a, ok := h.Attribute(tid); ok {
			if c := int(int8(a.Raw)); plausibleTemperature(c) {
				r.Temperature, r.HasTemperature = c, true
				break
			}
		}
	}
	if a, ok := h.Attribute(9); ok {
		r.PowerOnHours = q.powerOnHours(a.Raw)
	}
	if a, ok := h.Attribute(12); ok {
		r.PowerCycles = a.Raw & 0xffffffff
	}
	return r, nil
}

// ParseSkdump decodes a libatasmart "skdump --save" blob, the format of
// the recorded pages in the test data: tagged sections ("IDFY", "SMST",
// "SMDT", "SMTH"), each a 4-byte tag, a big-endian 4-byte length and the
// data. SMST holds the SMART RETURN STATUS result (non-zero: good), which
// sets SMARTStatus.
func ParseSkdump(blob []byte) (*Record, error) {
	sec := map[string][]byte{}
	for len(blob) > 0 {
		if len(blob) < 8 {
			return nil, fmt.Errorf("skdump: truncated section header: %w", ErrCorrupt)
		}
		tag, n := string(blob[:4]), binary.BigEndian.Uint32(blob[4:8])
		blob = blob[8:]
		if uint64(n) > uint64(len(blob)) {
			return nil, fmt.Errorf("skdump: section %q of %d bytes, %d left: %w", tag, n, len(blob), ErrCorrupt)
		}
		if _, dup := sec[tag]; dup {
			return nil, fmt.Errorf("skdump: section %q twice: %w", tag, ErrCorrupt)
		}
		sec[tag], blob = blob[:n], blob[n:]
	}
	if sec["IDFY"] == nil {
		return nil, fmt.Errorf("skdump: no IDENTIFY section: %w", ErrCorrupt)
	}
	r, err := ParseATAPages(sec["IDFY"], sec["SMDT"], sec["SMTH"])
	if err != nil {
		return nil, err
	}
	if st, ok := sec["SMST"]; ok {
		if len(st) != 4 {
			return nil, fmt.Errorf("skdump: status section of %d bytes: %w", len(st), ErrCorrupt)
		}
		r.SMARTStatus = "failed"
		if binary.BigEndian.Uint32(st) != 0 {
			r.SMARTStatus = "passed"
		}
	}
	return r, nil
}

// ataChecksumOK reports whether the bytes of a page sum to zero (the last
// byte is the two's complement of the sum of the others).
func ataChecksumOK(b []byte) bool {
	var s byte
	for _, c := range b {
		s += c
	}
	return s == 0
}

// raw48 is an attribute's 48-bit raw value (vendor bytes, least
// significant first), as smartctl --json reports it in raw.value.
func raw48(b [6]byte) uint64 {
	var v uint64
	for i := 5; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// cleanATAString drops the NULs and control characters that blank or
// damaged IDENTIFY strings hold.
func cleanATAString(s string) string {
	return strings.TrimSpace(strings.Map(func(c rune) rune {
		if c < ' ' || c > '~' {
			return -1
		}
		return c
	}, s))
}

// failingNow is the ATA rule for a normalized value: at or below a
// non-zero threshold. Values 1..253 are valid; 0, 254 and 255 are not
// values (unused or reserved), and thresholds 0 (never fails) and 254/255
// are not limits.
func failingNow(value, thresh int) bool {
	return thresh >= 1 && thresh <= 253 && value >= 1 && value <= 253 && value <= thresh
}

// plausibleTemperature rejects what no working disk reports: 0 °C (the
// reading of a missing sensor; 0 K becomes -273 °C), below -40 °C or
// above 150 °C.
func plausibleTemperature(c int) bool {
	return c != 0 && c >= -40 && c <= 150
}

// attrNames are the default attribute names (smartmontools' defaults, as
// in smart.go's database), used when the pages come without a name.
var attrNames = map[int]string{
	1: "Raw_Read_Error_Rate", 2: "Throughput_Performance", 3: "Spin_Up_Time",
	4: "Start_Stop_Count", 5: "Reallocated_Sector_Ct", 6: "Read_Channel_Margin",
	7: "Seek_Error_Rate", 8: "Seek_Time_Performance", 9: "Power_On_Hours",
	10: "Spin_Retry_Count", 11: "Calibration_Retry_Count", 12: "Power_Cycle_Count",
	13: "Read_Soft_Error_Rate", 22: "Helium_Level",
	170: "Available_Reservd_Space", 171: "Program_Fail_Count", 172: "Erase_Fail_Count",
	173: "Wear_Leveling_Count", 174: "Unexpect_Power_Loss_Ct",
	175: "Program_Fail_Count_Chip", 176: "Erase_Fail_Count_Chip", 177: "Wear_Leveling_Count",
	178: "Used_Rsvd_Blk_Cnt_Chip", 179: "Used_Rsvd_Blk_Cnt_Tot", 180: "Unused_Rsvd_Blk_Cnt_Tot",
	181: "Program_Fail_Cnt_Total", 182: "Erase_Fail_Count_Total", 183: "Runtime_Bad_Block",
	184: "End-to-End_Error", 187: "Reported_Uncorrect", 188: "Command_Timeout",
	189: "High_Fly_Writes", 190: "Airflow_Temperature_Cel", 191: "G-Sense_Error_Rate",
	192: "Power-Off_Retract_Count", 193: "Load_Cycle_Count", 194: "Temperature_Celsius",
	195: "Hardware_ECC_Recovered", 196: "Reallocated_Event_Count", 197: "Current_Pending_Sector",
	198: "Offline_Uncorrectable", 199: "UDMA_CRC_Error_Count", 200: "Multi_Zone_Error_Rate",
	201: "Soft_Read_Error_Rate", 202: "Data_Address_Mark_Errs", 203: "Run_Out_Cancel",
	204: "Soft_ECC_Correction", 205: "Thermal_Asperity_Rate", 206: "Flying_Height",
	207: "Spin_High_Current", 208: "Spin_Buzz", 209: "Offline_Seek_Performnce",
	220: "Disk_Shift", 221: "G-Sense_Error_Rate", 222: "Loaded_Hours",
	223: "Load_Retry_Count", 224: "Load_Friction", 225: "Load_Cycle_Count",
	226: "Load-in_Time", 227: "Torq-amp_Count", 228: "Power-off_Retract_Count",
	230: "Head_Amplitude", 231: "Temperature_Celsius", 232: "Available_Reservd_Space",
	233: "Media_Wearout_Indicator", 240: "Head_Flying_Hours", 241: "Total_LBAs_Written",
	242: "Total_LBAs_Read", 250: "Read_Error_Retry_Rate", 254: "Free_Fall_Sensor",
}

// ataQuirk is what we know of one drive family that differs from the
// defaults. Sources: libatasmart's quirk table and smartmontools' drive
// database (as embedded in smart.go), both cited in docs/SMART.md.
type ataQuirk struct {
	model, firmware *regexp.Regexp
	// powerOnUnit is the unit of attribute 9's raw value: "minutes",
	// "halfminutes" or "" (hours).
	powerOnUnit    string
	notCount       map[int]bool // raw values that are not counts
	notTemperature map[int]bool
	names          map[int]string
}

var ataQuirks = []ataQuirk{
	{ // libatasmart: 9 in minutes, 197/198 unknown on this firmware; 196 by our data (48133 and 1640 "events" with no reallocated sector).
		model: regexp.MustCompile(`^FUJITSU MHY2(120|250)BH$`), firmware: regexp.MustCompile(`^0085000B$`),
		powerOnUnit: "minutes", notCount: map[int]bool{196: true, 197: true, 198: true},
	},
	{ // libatasmart: Apple SSD, 5 and 190 are not what their IDs say.
		model: regexp.MustCompile(`^MCCOE64GEMPP$`), firmware: regexp.MustCompile(`^2\.9\.0[3-9]$`),
		notCount: map[int]bool{5: true}, notTemperature: map[int]bool{190: true},
	},
	{ // libatasmart: Hitachi HTS541010G9SA00 MBZOC60P, 5 unknown.
		model: regexp.MustCompile(`^HTS541010G9SA00$`), firmware: regexp.MustCompile(`^MBZOC60P$`),
		notCount: map[int]bool{5: true},
	},
	{ // smartmontools (DiamondMax 60 and relatives): 9 in minutes.
		model:       regexp.MustCompile(`^Maxtor 9(1023H2|1536H2|2049H3|2305H3|3073H4|4098H6|4610H6|6147H8)$`),
		powerOnUnit: "minutes", names: map[int]string{9: "Power_On_Minutes"},
	},
	{ // smartmontools: Toshiba 2.5" MK..51GSY, 9 in minutes.
		model:       regexp.MustCompile(`^TOSHIBA MK(80|12|16|25)51GSY$`),
		powerOnUnit: "minutes", names: map[int]string{9: "Power_On_Minutes"},
	},
	{ // smartmontools: Samsung SpinPoint M, 9 in half minutes.
		model:       regexp.MustCompile(`^SAMSUNG MP0(302|402|603|804)H$`),
		powerOnUnit: "halfminutes", names: map[int]string{9: "Power_On_Half_Minutes"},
	},
}

// quirksFor returns the quirks of a model and firmware (the zero ataQuirk
// when none apply).
func quirksFor(model, firmware string) ataQuirk {
	for _, q := range ataQuirks {
		if q.model.MatchString(model) && (q.firmware == nil || q.firmware.MatchString(firmware)) {
			return q
		}
	}
	return ataQuirk{}
}

func (q ataQuirk) name(id int) string {
	if n, ok := q.names[id]; ok {
		return n
	}
	if n, ok := attrNames[id]; ok {
		return n
	}
	return "Unknown_Attribute"
}

// powerOnHours decodes attribute 9: hours in the low 24 bits by default
// (smartmontools' raw24(raw8); Seagate keeps other data above), else the
// unit the quirk names.
func (q ataQuirk) powerOnHours(raw uint64) uint64 {
	switch q.powerOnUnit {
	case "minutes":
		return (raw & 0xffffffff) / 60
	case "halfminutes":
		return (raw & 0xffffffff) / 120
	}
	return raw & 0xffffff
}

// attrRawCount is the count an attribute's raw value stands for, or 0
// when the raw value is not a count we interpret (rates, temperatures,
// durations, vendor data). See "Raw values" in docs/SMART.md.
func attrRawCount(id int, name, model, firmware string, raw, capacity uint64) uint64 {
	if quirksFor(model, firmware).notCount[id] || !countName(id, name) {
		return 0
	}
	var n uint64
	switch id {
	case AttrReallocatedSectors, AttrReallocationEvents:
		// raw16(raw16): the count is the low word; Fujitsu keeps the
		// size of the spare pool (07D0h = 2000) in bytes 4-5.
		n = raw & 0xffff
	case AttrCommandTimeout:
		if isSeagate(model) {
			// Three 16-bit counters (all timeouts, > 5 s, > 7.5 s),
			// e.g. 0x000400040004: the first is the count.
			n = raw & 0xffff
		} else {
			n = raw & 0xffffffff
		}
	case AttrSpinRetries, AttrEndToEndErrors, AttrReportedUncorrect, AttrPendingSectors,
		AttrOfflineUncorrectable, AttrUDMACRCErrors, AttrMultiZoneErrors,
		4, 12, 192, 193:
		n = raw & 0xffffffff
	default:
		return 0
	}
	switch id {
	case AttrReallocatedSectors, AttrPendingSectors, AttrOfflineUncorrectable:
		// A sector count above the disk's number of sectors, or all
		// ones, is not a count (libatasmart's verify_sectors).
		if n == 0xffff || n == 0xffffffff || (capacity > 0 && n > capacity/512) {
			return 0
		}
	}
	return n
}

// isSeagate tells Seagate models: "ST…" model numbers, or the vendor
// name smartctl shows for SCSI-attached ones.
func isSeagate(model string) bool {
	m := strings.ToUpper(strings.TrimSpace(model))
	return strings.HasPrefix(m, "ST") || strings.HasPrefix(m, "SEAGATE")
}

// countName reports whether an attribute's name means the counter our
// policy gives its ID. Drive databases reuse IDs ("Power_Loss_Cap_Test"
// at 201, "Not_In_Use" at 197 on some SSDs); "Soft_Read_Error_Rate" (201)
// is a rate, not a count (Maxtor drives store their attribute 1 raw there).
// An unnamed attribute is taken at its ID's meaning.
func countName(id int, name string) bool {
	if name == "" || name == "Unknown_Attribute" {
		return true
	}
	n := strings.ToLower(name)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(n, s) {
				return true
			}
		}
		return false
	}
	switch id {
	case AttrReallocatedSectors:
		return has("realloc", "retired")
	case AttrSpinRetries:
		return has("spin_retry")
	case AttrEndToEndErrors:
		return has("end-to-end", "end_to_end")
	case AttrReportedUncorrect:
		return has("uncorrect")
	case AttrCommandTimeout:
		return has("timeout")
	case AttrReallocationEvents:
		return has("realloc")
	case AttrPendingSectors:
		return has("pending")
	case AttrOfflineUncorrectable:
		return has("uncorrect")
	case AttrUDMACRCErrors:
		return has("crc")
	case AttrMultiZoneErrors:
		return has("ta_count", "detected_ta", "ta_counter")
	}
	return true
}
