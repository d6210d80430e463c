package smart

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy constants; docs/SMART.md gives each one's source or reason.
const (
	// TrendWindow is how far back "in the last 7 days" looks.
	TrendWindow = 7 * 24 * time.Hour
	// pendingFailing: this many unreadable sectors (197 or 198) beyond
	// the baseline make a disk FAILING…
	pendingFailing = 100
	// pendingFastGrowth: …and so does this many new ones within
	// TrendWindow.
	pendingFastGrowth = 10
	// checksumFailing: this many checksum errors beyond the baseline make
	// a disk FAILING even when they came at once.
	checksumFailing = 10
	// Temperature limits in °C: above them a disk is WARNING.
	hddHotC  = 60
	nvmeHotC = 70
	// nvmeWornPercent and nvmeSpentPercent: endurance used.
	nvmeWornPercent  = 90
	nvmeSpentPercent = 100
)

// Counter names in Sample.Counters besides the ATA attribute IDs.
const (
	CounterNVMeMediaErrors = "nvme_media_errors"
	CounterNVMeSpare       = "nvme_spare"
	CounterNVMeUsed        = "nvme_used"
	CounterNVMeWarning     = "nvme_warning"
	CounterSCSIDefects     = "scsi_defects"
	// CounterSCSIUncorrected is read plus write errors the disk could not
	// correct.
	CounterSCSIUncorrected = "scsi_uncorrected"
	CounterIOErrors        = "io_errors"
	// CounterATAErrorLog is the number of errors in the ATA error log
	// (what smartctl's exit status bit 6 reports); only its growth
	// counts.
	CounterATAErrorLog    = "ata_error_log"
	CounterChecksumErrors = "checksum_errors"
)

// predictiveAttrs are the ATA attributes kept as counters, in the order
// their reasons are given.
var predictiveAttrs = []int{
	AttrReallocatedSectors, AttrReportedUncorrect, AttrCommandTimeout,
	AttrPendingSectors, AttrOfflineUncorrectable,
	AttrSpinRetries, AttrEndToEndErrors, AttrReallocationEvents, AttrMultiZoneErrors,
	AttrUDMACRCErrors,
}

// Counters returns the counters of r and arr that the policy watches and
// history keeps (see Sample): the failure-predicting ATA attributes that
// the disk reports and whose raw value is a count, the NVMe and SCSI
// health counters, and the array's errors (always present, zero too). A
// nil Record gives only the array's.
func Counters(r *Record, arr ArrayErrors) map[string]uint64 {
	c := map[string]uint64{
		CounterIOErrors:       arr.IOErrors,
		CounterChecksumErrors: arr.ChecksumErrors,
	}
	if r == nil {
		return c
	}
	if r.ATA != nil {
		for _, id := range predictiveAttrs {
			if a, ok := r.ATA.Attribute(id); ok && countName(id, a.Name) {
				c[strconv.Itoa(id)] = a.RawCount
			}
		}
	}
	if r.ATA != nil {
		c[CounterATAErrorLog] = r.ATA.ErrorLogCount
	}
	if n := r.NVMe; n != nil {
		// Values the SSD did not fill in are left out.
		if r.Reported(nvmeLog + ".media_errors") {
			c[CounterNVMeMediaErrors] = n.MediaErrors
		}
		if r.Reported(nvmeLog + ".available_spare") {
			c[CounterNVMeSpare] = uint64(n.AvailableSpare)
		}
		if r.Reported(nvmeLog + ".percentage_used") {
			c[CounterNVMeUsed] = uint64(max(n.PercentageUsed, 0))
		}
		c[CounterNVMeWarning] = uint64(n.CriticalWarning)
	}
	if s := r.SCSI; s != nil {
		c[CounterSCSIDefects] = s.GrownDefects
		c[CounterSCSIUncorrected] = s.UncorrectedReadErrors + s.UncorrectedWriteErrs
	}
	return c
}

// SampleOf is the history sample of a reading and its verdict.
func SampleOf(r *Record, arr ArrayErrors, v Verdict) Sample {
	s := Sample{Counters: Counters(r, arr), State: v.State}
	if r != nil {
		s.Time = r.Time
		s.PowerOnHours = r.PowerOnHours
		if r.HasTemperature {
			s.Temperature = r.Temperature
		}
	}
	return s
}

// What to do: one sentence per verdict (see Verdict.Action). A FAILING
// disk always gets ActReplaceNow; a WARNING one the action of its first
// reason.
const (
	ActReplaceNow = "Copy your photos off this disk and replace it now."
	actReplace    = "Replace the disk soon."
	actPlan       = "Plan to replace the disk."
	actTimeouts   = "Check the disk's cable and power connection; replace the disk if this keeps growing."
	actCable      = "Reseat or replace the disk's data cable (these errors come from the cable or connector, not the disk)."
	actPower      = "Check the power supply; replace the disk soon."
	actAirflow    = "Improve the airflow around the box."
	actScrub      = "Run a scrub; replace the disk if it happens again."
	actIOErrors   = "Check the disk's cable; replace the disk if the errors continue."
)

// finding is one rule's outcome: a fact, and what to do about it at
// WARNING.
type finding struct {
	state  State
	reason string
	todo   string
}

// judge collects findings; the verdict is the worst, its reasons the
// FAILING ones first, then the WARNING ones, each in rule order.
type judge []finding

func (j *judge) fail(format string, a ...any) {
	*j = append(*j, finding{Failing, fmt.Sprintf(format, a...), ActReplaceNow})
}

func (j *judge) warn(todo, format string, a ...any) {
	*j = append(*j, finding{Warning, fmt.Sprintf(format, a...), todo})
}

func (j judge) verdict() Verdict {
	var v Verdict
	for _, want := range []State{Failing, Warning, Unknown, OK} {
		for _, f := range j {
			if f.state == want {
				if v.State == "" {
					v.State, v.Action = want, f.todo
				}
				v.Reasons = append(v.Reasons, f.reason)
			}
		}
	}
	switch {
	case v.State == "":
		v.State = OK
	case v.State == Failing:
		v.Action = ActReplaceNow
	case v.State == Warning && v.Action == "":
		v.Action = actPlan
	}
	return v
}

// Evaluate judges a disk from its latest reading r, its history (any
// order; samples after now are ignored), the owner's baseline (nil when
// nothing was acknowledged) and the array's own error counts for the
// disk. It is a pure function: the same arguments give the same Verdict.
// The rules and their sources are in docs/SMART.md.
func Evaluate(r *Record, history []Sample, base *Baseline, arr ArrayErrors, now time.Time) Verdict {
	t := newTrends(history, base, now)
	var j judge

	switch {
	case r == nil:
		j = append(j, finding{Unknown, "health unknown: no reading", ""})
	case r.Standby && t.last != nil:
		// Asleep and not woken: the last verdict stands.
		st := t.last.State
		if st == "" {
			st = Unknown
		}
		j = append(j, finding{st, fmt.Sprintf("disk asleep, not woken; verdict of its last reading %s", ago(now, t.last.Time)), ""})
	case r.Unknown != "" || r.Standby:
		why := r.Unknown
		if why == "" {
			why = "disk in standby, not woken"
		}
		if !strings.HasPrefix(why, "health unknown") {
			why = "health unknown: " + why
		}
		j = append(j, finding{Unknown, why, ""})
	case r.ATA == nil && r.NVMe == nil && r.SCSI == nil && r.SMARTStatus == "":
		// No health data: smartctl's exit status may still say the
		// disk is failing.
		j.drive(r)
		if len(j) == 0 {
			j = append(j, finding{Unknown, "health unknown: the disk reported no SMART data", ""})
		}
	default:
		j.drive(r)
		j.counters(r, t)
		j.wear(r, t)
		j.temperature(r)
	}
	j.array(arr, t)
	return j.verdict()
}

// drive applies what the drive itself says: its overall status, NVMe
// critical warnings and spare, ATA attributes at or below their
// thresholds now or in the past, and smartctl's exit status bits 3-7
// for what the reading itself does not show. The baseline does not
// silence these.
func (j *judge) drive(r *Record) {
	exit := r.SmartctlExit
	statusFailed := false
	if n := r.NVMe; n != nil {
		// smartctl and our reader call any critical warning "failed",
		// the temperature bit too: the bits decide for NVMe.
		w := n.CriticalWarning
		statusFailed = w != 0
		if w&NVMeWarnReliability != 0 {
			j.fail("the SSD reports that its reliability is degraded (media or internal errors)")
		}
		if w&NVMeWarnReadOnly != 0 {
			j.fail("the SSD has switched itself to read-only to protect your data")
		}
		if w&NVMeWarnVolatile != 0 {
			j.fail("the SSD's power-loss protection (volatile memory backup) has failed: a power cut may lose data")
		}
		spare := r.Reported(nvmeLog + ".available_spare")
		emulated := n.AvailableSpare == 0 && n.SpareThreshold == 0
		switch {
		case w&NVMeWarnSpare != 0 && spare:
			j.fail("the SSD has used up its spare capacity (%d%% left, limit %d%%)", n.AvailableSpare, n.SpareThreshold)
		case w&NVMeWarnSpare != 0:
			j.fail("the SSD has used up its spare capacity (it does not report how much is left)")
		case spare && !emulated && n.AvailableSpare < n.SpareThreshold:
			j.fail("the SSD has used up its spare capacity (%d%% left, limit %d%%)", n.AvailableSpare, n.SpareThreshold)
		}
		if w&NVMeWarnPMR != 0 {
			j.warn(actPlan, "the SSD's persistent memory region has become read-only or unreliable")
		}
	} else if r.SMARTStatus == "failed" || (r.SCSI != nil && r.SCSI.HealthOK != nil && !*r.SCSI.HealthOK) {
		statusFailed = true
		j.fail("the disk reports that it is failing (its own SMART health check failed)")
	}
	if exit&ExitDiskFailing != 0 && !statusFailed {
		j.fail("smartctl reports that the disk's own health check failed (exit status %d, bit 3)", exit)
	}
	prefailNow, anyNow, anyPast := false, false, false
	if r.ATA != nil {
		for _, a := range r.ATA.Attributes {
			switch {
			case a.Failing && a.Prefailure:
				prefailNow, anyNow = true, true
				j.fail("the disk's own limit for %s was crossed (value %d, limit %d): it predicts the disk will fail soon", attrLabel(a), a.Current, a.Threshold)
			case a.Failing:
				anyNow = true
				j.warn(actPlan, "the disk is wearing out: %s is at %d, at or below its limit of %d", attrLabel(a), a.Current, a.Threshold)
			case a.FailedPast:
				anyPast = true
				j.warn(actPlan, "the disk's own limit for %s was crossed in the past (worst value %d, limit %d; now %d)", attrLabel(a), a.Worst, a.Threshold, a.Current)
			}
		}
	}
	if exit&ExitPrefailAttrs != 0 && !prefailNow {
		j.fail("smartctl reports a failure-predicting attribute at or below its limit (exit status %d, bit 4)", exit)
	}
	if exit&ExitAttrsPast != 0 && !anyNow && !anyPast {
		j.warn(actPlan, "smartctl reports an attribute at or below its limit now or in the past (exit status %d, bit 5)", exit)
	}
	if exit&ExitSelfTestLog != 0 {
		j.warn(actReplace, "the disk failed its own self-test (smartctl exit status %d, bit 7: the self-test log has an error no later test outdated)", exit)
	}
}

// nvmeLog is smartctl's name for the NVMe health log.
const nvmeLog = "nvme_smart_health_information_log"

// counterRule describes one watched counter.
type counterRule struct {
	key string
	// onlyGrowth: a value above zero alone is no warning, growth is
	// (interface CRC errors say more about the cable than the disk).
	onlyGrowth bool
	// fail reports whether the counter makes the disk FAILING given its
	// value beyond the baseline and its growth in TrendWindow.
	fail func(fresh, recent uint64) bool
	// what names n of the counted things, without the number: "sectors
	// reallocated" (n picks singular or plural).
	what func(n uint64) string
	// todo is what to do at WARNING.
	todo string
}

func (j *judge) counters(r *Record, t trends) {
	c := Counters(r, ArrayErrors{})
	var rules []counterRule
	for _, id := range predictiveAttrs {
		a, ok := r.ATA.Attribute(id)
		if !ok || id == AttrReallocationEvents && !reallocationsConfirmed(r.ATA) {
			continue
		}
		rules = append(rules, ataRule(id, a.Name))
	}
	if r.ATA != nil {
		rules = append(rules, counterRule{key: CounterATAErrorLog, onlyGrowth: true, todo: actReplace,
			what: func(n uint64) string { return pl(n, "error", "errors") + " recorded in the disk's error log" }})
	}
	if r.NVMe != nil {
		rules = append(rules, counterRule{key: CounterNVMeMediaErrors, todo: actReplace,
			what: func(n uint64) string {
				return pl(n, "media error", "media errors") + " (data the SSD could not read back)"
			}})
	}
	if r.SCSI != nil {
		rules = append(rules,
			counterRule{key: CounterSCSIDefects, todo: actReplace,
				what: func(n uint64) string { return pl(n, "sector", "sectors") + " added to the disk's bad-sector list" }},
			counterRule{key: CounterSCSIUncorrected, todo: actReplace,
				what: func(n uint64) string {
					return pl(n, "read or write error", "read or write errors") + " the disk could not correct"
				}})
	}
	for _, rule := range rules {
		v, ok := c[rule.key]
		if !ok {
			continue
		}
		j.counter(rule, v, t)
	}
}

// ataRule is the rule for a failure-predicting ATA attribute.
func ataRule(id int, name string) counterRule {
	key := strconv.Itoa(id)
	unit := "sector"
	if strings.Contains(strings.ToLower(name), "block") {
		unit = "block" // SSDs retire flash blocks
	}
	switch id {
	case AttrReallocatedSectors:
		return counterRule{key: key, todo: actReplace, what: func(n uint64) string {
			return pl(n, unit, unit+"s") + " reallocated"
		}}
	case AttrReportedUncorrect:
		return counterRule{key: key, todo: actReplace, what: func(n uint64) string {
			return pl(n, "read error", "read errors") + " the disk could not correct"
		}}
	case AttrCommandTimeout:
		return counterRule{key: key, todo: actTimeouts,
			what: func(n uint64) string { return pl(n, "command timeout", "command timeouts") }}
	case AttrPendingSectors:
		return counterRule{key: key, todo: actReplace, fail: pendingFail,
			what: func(n uint64) string {
				return pl(n, "unreadable sector", "unreadable sectors") + " waiting to be remapped"
			}}
	case AttrOfflineUncorrectable:
		return counterRule{key: key, todo: actReplace, fail: pendingFail,
			what: func(n uint64) string { return pl(n, "sector", "sectors") + " the disk's own scan could not read" }}
	case AttrSpinRetries:
		return counterRule{key: key, todo: actPower,
			what: func(n uint64) string { return pl(n, "spin-up retry", "spin-up retries") }}
	case AttrEndToEndErrors:
		return counterRule{key: key, todo: actReplace,
			what: func(n uint64) string {
				return pl(n, "error", "errors") + " in the disk's internal data path (end-to-end)"
			}}
	case AttrReallocationEvents:
		return counterRule{key: key, todo: actReplace,
			what: func(n uint64) string { return pl(n, "sector reallocation event", "sector reallocation events") }}
	case AttrMultiZoneErrors:
		return counterRule{key: key, todo: actReplace,
			what: func(n uint64) string {
				return pl(n, "head contact", "head contacts") + " with the platter (thermal asperity)"
			}}
	case AttrUDMACRCErrors:
		return counterRule{key: key, onlyGrowth: true, todo: actCable,
			what: func(n uint64) string { return pl(n, "cable transfer error", "cable transfer errors") + " (CRC)" }}
	}
	return counterRule{key: key, todo: actReplace, what: func(n uint64) string { return pl(n, "event", "events") }}
}

// reallocationsConfirmed is the cross-check of attribute 196
// (reallocation events) with 5 (reallocated sectors), 197 (pending) and
// 198 (offline uncorrectable): an event reallocates or tries a sector,
// so 196 counts only when one of the others is not zero, or none of them
// is reported. Events alone are sectors that read fine again, or vendor
// flags in the raw value (issue 13: 0x30950000083F on a disk with 5 at
// 0).
func reallocationsConfirmed(h *ATAHealth) bool {
	reported := false
	for _, id := range []int{AttrReallocatedSectors, AttrPendingSectors, AttrOfflineUncorrectable} {
		a, ok := h.Attribute(id)
		if !ok || !countName(id, a.Name) {
			continue
		}
		reported = true
		if a.RawCount > 0 {
			return true
		}
	}
	return !reported
}

func pendingFail(fresh, recent uint64) bool {
	return fresh >= pendingFailing || recent >= pendingFastGrowth
}

// counter applies a counter rule to the value now: WARNING when it is
// above the baseline (or, for growth-only counters, grew), FAILING when
// the rule says so. The reason names the growth in TrendWindow when there
// was any.
func (j *judge) counter(rule counterRule, now uint64, t trends) {
	acked, hasBase := t.baseline(rule.key)
	fresh := sub(now, acked)
	recent, hasRecent := t.recent(rule.key, now)
	if fresh == 0 && recent == 0 {
		return
	}
	if rule.onlyGrowth && recent == 0 && !hasBase {
		return
	}
	if fresh == 0 {
		// Grew in the window but not beyond what was acknowledged (it
		// went down and up again): nothing new.
		return
	}
	var msg string
	switch {
	case hasRecent && recent > 0 && recent < now:
		msg = fmt.Sprintf("%d %s in the last 7 days (%d in total)", recent, rule.what(recent), now)
	case hasRecent && recent > 0:
		msg = fmt.Sprintf("%d %s in the last 7 days", recent, rule.what(recent))
	case hasBase:
		msg = fmt.Sprintf("%d more %s since you acknowledged %d (now %d)", fresh, rule.what(fresh), acked, now)
	default:
		msg = fmt.Sprintf("%d %s", now, rule.what(now))
	}
	if rule.fail != nil && rule.fail(fresh, recent) {
		j.fail("%s", msg)
		return
	}
	j.warn(rule.todo, "%s", msg)
}

// wear applies NVMe endurance and temperature warnings.
func (j *judge) wear(r *Record, t trends) {
	n := r.NVMe
	if n == nil {
		return
	}
	level := func(p uint64) int {
		switch {
		case p >= nvmeSpentPercent:
			return 2
		case p >= nvmeWornPercent:
			return 1
		}
		return 0
	}
	used := uint64(max(n.PercentageUsed, 0))
	acked, _ := t.baseline(CounterNVMeUsed)
	if level(used) > level(acked) {
		if level(used) == 2 {
			j.warn(actReplace, "the SSD has used all of its rated write endurance (%d%%)", n.PercentageUsed)
		} else {
			j.warn(actPlan, "the SSD has used %d%% of its rated write endurance", n.PercentageUsed)
		}
	}
	if n.CriticalWarning&NVMeWarnTemperature != 0 && !(r.HasTemperature && r.Temperature > nvmeHotC) {
		j.warn(actAirflow, "the SSD reports a temperature outside its safe range")
	}
}

// temperature warns about a hot disk.
func (j *judge) temperature(r *Record) {
	if !r.HasTemperature {
		return
	}
	limit := hddHotC
	if r.Protocol == NVMe {
		limit = nvmeHotC
	}
	if r.Temperature > limit {
		j.warn(actAirflow, "running hot at %d °C (limit %d °C)", r.Temperature, limit)
	}
}

// array applies our own errors on the disk. Checksum errors are FAILING
// when repeated (new ones at two or more readings since the baseline) or
// many; a first one and any read or write errors are WARNING.
func (j *judge) array(arr ArrayErrors, t trends) {
	ackedSum, _ := t.baseline(CounterChecksumErrors)
	if fresh := sub(arr.ChecksumErrors, ackedSum); fresh > 0 {
		what := plural(fresh, "piece", "pieces") + " of data on this disk did not match its checksum (the array repaired them from the other disks)"
		if t.rises(CounterChecksumErrors, arr.ChecksumErrors) >= 2 || fresh >= checksumFailing {
			j.fail("%s, again and again", what)
		} else {
			j.warn(actScrub, "%s", what)
		}
	}
	ackedIO, _ := t.baseline(CounterIOErrors)
	if fresh := sub(arr.IOErrors, ackedIO); fresh > 0 {
		j.warn(actIOErrors, "%s on this disk failed in the array", plural(fresh, "read or write", "reads or writes"))
	}
}

// trends answers questions about history relative to now.
type trends struct {
	samples []Sample // in time order, none after now
	base    *Baseline
	now     time.Time
	last    *Sample
}

func newTrends(history []Sample, base *Baseline, now time.Time) trends {
	t := trends{base: base, now: now}
	for _, s := range history {
		if !s.Time.After(now) {
			t.samples = append(t.samples, s)
		}
	}
	slices.SortStableFunc(t.samples, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	if n := len(t.samples); n > 0 {
		t.last = &t.samples[n-1]
	}
	return t
}

// baseline returns the acknowledged value of a counter, and whether the
// baseline has it. A counter absent from the baseline (not reported when
// the owner acknowledged, or zero in an older baseline) counts as not
// acknowledged: 0.
func (t trends) baseline(key string) (uint64, bool) {
	if t.base == nil {
		return 0, false
	}
	v, ok := t.base.Counters[key]
	return v, ok
}

// since is where growth is counted from: TrendWindow ago, or the
// baseline's time when that is later.
func (t trends) since() time.Time {
	from := t.now.Add(-TrendWindow)
	if t.base != nil && t.base.Time.After(from) {
		from = t.base.Time
	}
	return from
}

// recent returns how much a counter grew from its oldest reading in the
// window to now; false when no reading in the window has it.
func (t trends) recent(key string, now uint64) (uint64, bool) {
	from := t.since()
	for _, s := range t.samples {
		if s.Time.Before(from) {
			continue
		}
		if v, ok := s.Counters[key]; ok {
			return sub(now, v), true
		}
	}
	return 0, false
}

// rises counts the readings since the baseline at which a counter went
// up, the current value included.
func (t trends) rises(key string, now uint64) int {
	var from time.Time
	if t.base != nil {
		from = t.base.Time
	}
	n := 0
	prev, have := uint64(0), false
	if t.base != nil {
		prev, have = t.base.Counters[key], true
	}
	for _, s := range t.samples {
		if s.Time.Before(from) {
			continue
		}
		v, ok := s.Counters[key]
		if !ok {
			continue
		}
		if have && v > prev {
			n++
		}
		if !have && v > 0 {
			n++
		}
		prev, have = v, true
	}
	if now > prev {
		n++
	}
	return n
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// pl is one or many, by n.
func pl(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// plural is n and one or many: "1 sector", "3 sectors".
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatUint(n, 10) + " " + many
}

// attrLabel names an attribute for people: "spin-up retries (attribute
// 10)".
func attrLabel(a Attribute) string {
	n, ok := attrPlainNames[a.ID]
	if byName, named := attrPlainByName[a.Name]; named {
		n, ok = byName, true
	}
	if !ok {
		n = strings.ReplaceAll(a.Name, "_", " ")
	}
	if n == "" || n == "Unknown Attribute" {
		return "attribute " + strconv.Itoa(a.ID)
	}
	return fmt.Sprintf("%s (attribute %d)", n, a.ID)
}

var attrPlainNames = map[int]string{
	1: "read error rate", 3: "spin-up time", 4: "start/stop count", 5: "reallocated sectors",
	7: "seek error rate", 10: "spin-up retries", 11: "calibration retries",
	184: "end-to-end errors", 187: "uncorrectable errors", 188: "command timeouts",
	196: "reallocation events", 197: "pending sectors", 198: "offline uncorrectable sectors",
}

// attrPlainByName names attributes whose meaning depends on the drive
// (202 is "data address mark errors" on disks, lifetime left on SSDs).
var attrPlainByName = map[string]string{
	"Percent_Lifetime_Remain": "percent lifetime remaining",
	"Percent_Lifetime_Used":   "percent lifetime used",
}

// ago says when t was, relative to now, for people.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(uint64(d/time.Minute), "minute", "minutes") + " ago"
	case d < 48*time.Hour:
		return plural(uint64(d/time.Hour), "hour", "hours") + " ago"
	}
	return plural(uint64(d/(24*time.Hour)), "day", "days") + " ago"
}
