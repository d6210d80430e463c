package appliance

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
	"github.com/shoebox/shoebox/vault"
)

// Metrics are the daemon's Prometheus metrics (base units, _total
// counters), served on /metrics. docs/DAEMON.md lists every series.
type Metrics struct {
	Registry *prometheus.Registry

	BackupBytes     *prometheus.CounterVec
	BackupFiles     *prometheus.CounterVec
	BackupRuns      *prometheus.CounterVec // by source and result (ok, failed)
	BackupDuration  *prometheus.HistogramVec
	LastSuccess     *prometheus.GaugeVec
	DrillSeconds    prometheus.Gauge
	DrillRuns       *prometheus.CounterVec
	ValidationFails prometheus.Counter
	ScrubRepaired   prometheus.Counter
	ScrubErrors     prometheus.Counter
	ScrubProgress   prometheus.Gauge
	AlertsOpen      prometheus.Gauge

	// repo is the repository's statistics as of the last backup or
	// forget (SetRepository); capacity the array's last usage sample
	// (SetCapacity). The box collector reads them at scrape time.
	repo     atomic.Pointer[vault.Stats]
	capacity atomic.Pointer[capacitySample]
}

// capacitySample is one reading of the capacity service.
type capacitySample struct {
	used, free    int64
	daysUntilFull float64
	forecast      bool
}

// backupBuckets are the backup duration histogram's bounds in seconds,
// written out so that their labels print as written (a computed series
// gives le="0.30000000000000004"): a second to two hours.
var backupBuckets = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}

// NewMetrics registers the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.BackupBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_bytes_total", Help: "Bytes of new data (after deduplication) added by backups."}, []string{"source"})
	m.BackupFiles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_files_total", Help: "New and changed files backed up."}, []string{"source"})
	m.BackupRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_runs_total", Help: "Backup runs by result (transfer success rate = ok / all)."}, []string{"source", "result"})
	m.BackupDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoebox_backup_duration_seconds", Help: "Backup duration.", Buckets: backupBuckets}, []string{"source"})
	m.LastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoebox_backup_last_success_timestamp_seconds", Help: "Unix time of the last successful backup."}, []string{"source"})
	m.DrillSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_drill_restore_seconds", Help: "Time to restore in the last restore drill."})
	m.DrillRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_drill_runs_total", Help: "Restore drills by result."}, []string{"result"})
	m.ValidationFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_validation_failures_total", Help: "Checks that found data not matching its checksum."})
	m.ScrubRepaired = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_scrub_repaired_total", Help: "Shards repaired by scrubs."})
	m.ScrubErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_scrub_errors_total", Help: "Errors found by scrubs."})
	m.ScrubProgress = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_scrub_progress_ratio", Help: "Progress of the running scrub (0-1)."})
	m.AlertsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_alerts_open", Help: "Open alerts."})
	m.Registry.MustRegister(m.BackupBytes, m.BackupFiles, m.BackupRuns, m.BackupDuration, m.LastSuccess,
		m.DrillSeconds, m.DrillRuns, m.ValidationFails, m.ScrubRepaired, m.ScrubErrors, m.ScrubProgress, m.AlertsOpen)
	return m
}

// SetRepository records the repository's statistics for the
// shoebox_repository_* series and shoebox_dedup_ratio.
func (m *Metrics) SetRepository(st *vault.Stats) { m.repo.Store(st) }

// SetCapacity records the array's last usage sample and forecast.
func (m *Metrics) SetCapacity(used, free int64, daysUntilFull float64, ok bool) {
	m.capacity.Store(&capacitySample{used: used, free: free, daysUntilFull: daysUntilFull, forecast: ok})
}

// updateRepoMetrics reads the repository's statistics (its snapshots'
// summaries and its index) into the metrics; after a backup, a forget
// or a prune.
func (d *Daemon) updateRepoMetrics(ctx context.Context) {
	st, err := d.Repo.Stats(ctx)
	if err != nil {
		d.Logger.Warn("repository statistics for /metrics", "err", err)
		return
	}
	d.Metrics.SetRepository(st)
}

// boxCollector makes the series read at scrape time: the repository's
// statistics, each disk's last SMART reading, and the array's state and
// space. Disk series are named as smartctl_exporter names them where
// they overlap (its smartctl_device_* become shoebox_disk_*) and labelled
// with device, model and serial.
type boxCollector struct{ d *Daemon }

var diskLabels = []string{"device", "model", "serial"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descLogical   = desc("shoebox_repository_logical_bytes", "Bytes of all files in all snapshots, as if every snapshot were restored.")
	descUnique    = desc("shoebox_repository_unique_bytes", "Bytes of unique data in the repository's index, before compression.")
	descStored    = desc("shoebox_repository_stored_bytes", "Bytes of the repository's pack files: what the data takes on the array before parity.")
	descSnapshots = desc("shoebox_repository_snapshots", "Snapshots in the repository.")
	descDedup     = desc("shoebox_dedup_ratio", "Logical bytes / unique bytes: how many times deduplication shrinks the data.")

	descDiskHealth   = desc("shoebox_disk_health", "Disk verdict: 0 OK, 1 WARNING, 2 FAILING, 3 UNKNOWN.", diskLabels...)
	descDiskTemp     = desc("shoebox_disk_temperature_celsius", "Disk temperature.", diskLabels...)
	descDiskPowerOn  = desc("shoebox_disk_power_on_seconds", "Disk power-on time.", diskLabels...)
	descDiskRealloc  = desc("shoebox_disk_reallocated_sectors", "ATA attribute 5: sectors the disk has reallocated.", diskLabels...)
	descDiskPending  = desc("shoebox_disk_pending_sectors", "ATA attribute 197: sectors waiting to be reallocated.", diskLabels...)
	descDiskMedia    = desc("shoebox_disk_media_errors", "NVMe media and data integrity errors.", diskLabels...)
	descDiskWear     = desc("shoebox_disk_percentage_used", "NVMe percentage used: the vendor's estimate of the endurance used (may exceed 100).", diskLabels...)
	descArrayDeg     = desc("shoebox_array_degraded", "1 when the array lacks a disk or objects lack redundancy.")
	descArrayMissing = desc("shoebox_array_disks_missing", "Array members that are missing.")
	descArrayObjDeg  = desc("shoebox_array_objects_degraded", "Objects with fewer shards than the layout.")
	descArrayRedund  = desc("shoebox_array_redundancy_disks", "How many more disks may fail without data loss: the layout's parity less the missing disks.")
	descArraySize    = desc("shoebox_array_size_bytes", "Usable bytes of the array (the layout's share of its disks), as of the last capacity sample.")
	descArrayFree    = desc("shoebox_array_free_bytes", "Usable bytes free on the array, as of the last capacity sample.")
	descArrayFull    = desc("shoebox_array_full_forecast_seconds", "When the array is full at the growth of the last 30 days; absent when usage does not grow.")
)

// Describe implements prometheus.Collector.
func (c boxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogical, descUnique, descStored, descSnapshots, descDedup,
		descDiskHealth, descDiskTemp, descDiskPowerOn, descDiskRealloc, descDiskPending, descDiskMedia, descDiskWear,
		descArrayDeg, descArrayMissing, descArrayObjDeg, descArrayRedund, descArraySize, descArrayFree, descArrayFull} {
		ch <- d
	}
}

// healthValue is a verdict as shoebox_disk_health's value.
var healthValue = map[smart.State]float64{smart.OK: 0, smart.Warning: 1, smart.Failing: 2, smart.Unknown: 3}

// Collect implements prometheus.Collector.
func (c boxCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	if st := d.Metrics.repo.Load(); st != nil {
		gauge(descLogical, float64(st.RestoreSize))
		gauge(descUnique, float64(st.RawSize))
		gauge(descStored, float64(st.PackSize))
		gauge(descSnapshots, float64(st.Snapshots))
		gauge(descDedup, st.DedupRatio)
	}
	if d.poller != nil {
		for _, s := range d.poller.Last() {
			r := s.Record
			if r == nil {
				continue
			}
			l := []string{s.Path, r.Model, r.Serial}
			v, ok := healthValue[s.Verdict.State]
			if !ok {
				v = healthValue[smart.Unknown]
			}
			gauge(descDiskHealth, v, l...)
			if r.HasTemperature {
				gauge(descDiskTemp, float64(r.Temperature), l...)
			}
			if r.PowerOnHours > 0 {
				gauge(descDiskPowerOn, float64(r.PowerOnHours)*3600, l...)
			}
			if r.ATA != nil {
				if a, ok := r.ATA.Attribute(smart.AttrReallocatedSectors); ok {
					gauge(descDiskRealloc, float64(a.RawCount), l...)
				}
				if a, ok := r.ATA.Attribute(smart.AttrPendingSectors); ok {
					gauge(descDiskPending, float64(a.RawCount), l...)
				}
			}
			if r.NVMe != nil {
				gauge(descDiskMedia, float64(r.NVMe.MediaErrors), l...)
				gauge(descDiskWear, float64(r.NVMe.PercentageUsed), l...)
			}
		}
	}
	if a := d.Array; a != nil {
		st := a.Status()
		missing := 0
		for _, disk := range st.Disks {
			if !disk.Present {
				missing++
			}
		}
		degraded := 0.0
		if st.State != raid.ArrayHealthy {
			degraded = 1
		}
		gauge(descArrayDeg, degraded)
		gauge(descArrayMissing, float64(missing))
		gauge(descArrayObjDeg, float64(st.Degraded))
		gauge(descArrayRedund, float64(max(d.layout().Parity-missing, 0)))
		if cs := d.Metrics.capacity.Load(); cs != nil {
			gauge(descArraySize, float64(cs.used+cs.free))
			gauge(descArrayFree, float64(cs.free))
			if cs.forecast {
				gauge(descArrayFull, cs.daysUntilFull*86400)
			}
		}
	}
}
