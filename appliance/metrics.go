package appliance

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the daemon's Prometheus metrics (base units, _total
// counters), served on /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	BackupBytes     *prometheus.CounterVec
	BackupFiles     *prometheus.CounterVec
	BackupRuns      *prometheus.CounterVec // by source and result (ok, failed)
	BackupDuration  *prometheus.HistogramVec
	LastSuccess     *prometheus.GaugeVec
	DedupRatio      prometheus.Gauge
	DrillSeconds    prometheus.Gauge
	DrillRuns       *prometheus.CounterVec
	ValidationFails prometheus.Counter
	DiskHealth      *prometheus.GaugeVec // 0 OK, 1 WARNING, 2 FAILING, 3 UNKNOWN
	ArrayDegraded   prometheus.Gauge
	ScrubRepaired   prometheus.Counter
	ScrubErrors     prometheus.Counter
	ScrubProgress   prometheus.Gauge
	RepoBytes       prometheus.Gauge
	AlertsOpen      prometheus.Gauge
}

// NewMetrics registers the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.Registry.MustRegister(c) }
	m.BackupBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_bytes_total", Help: "Bytes read by backups."}, []string{"source"})
	m.BackupFiles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_files_total", Help: "Files backed up."}, []string{"source"})
	m.BackupRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_backup_runs_total", Help: "Backup runs by result (transfer success rate = ok / all)."}, []string{"source", "result"})
	m.BackupDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoebox_backup_duration_seconds", Help: "Backup duration.", Buckets: prometheus.ExponentialBuckets(0.1, 3, 10)}, []string{"source"})
	m.LastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoebox_backup_last_success_timestamp_seconds", Help: "Unix time of the last successful backup."}, []string{"source"})
	m.DedupRatio = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_dedup_ratio", Help: "Bytes in all snapshots / unique bytes stored."})
	m.DrillSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_drill_restore_seconds", Help: "Time to restore in the last restore drill."})
	m.DrillRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoebox_drill_runs_total", Help: "Restore drills by result."}, []string{"result"})
	m.ValidationFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_validation_failures_total", Help: "Checks that found data not matching its checksum."})
	m.DiskHealth = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shoebox_disk_health", Help: "Disk verdict: 0 OK, 1 WARNING, 2 FAILING, 3 UNKNOWN."}, []string{"disk", "serial"})
	m.ArrayDegraded = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_array_degraded", Help: "1 when the array lacks a disk or redundancy."})
	m.ScrubRepaired = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_scrub_repaired_total", Help: "Shards repaired by scrubs."})
	m.ScrubErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "shoebox_scrub_errors_total", Help: "Errors found by scrubs."})
	m.ScrubProgress = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_scrub_progress_ratio", Help: "Progress of the running scrub (0-1)."})
	m.RepoBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_repository_bytes", Help: "Bytes stored in the repository."})
	m.AlertsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoebox_alerts_open", Help: "Open alerts."})
	for _, c := range []prometheus.Collector{m.BackupBytes, m.BackupFiles, m.BackupRuns, m.BackupDuration, m.LastSuccess, m.DedupRatio,
		m.DrillSeconds, m.DrillRuns, m.ValidationFails, m.DiskHealth, m.ArrayDegraded, m.ScrubRepaired, m.ScrubErrors,
		m.ScrubProgress, m.RepoBytes, m.AlertsOpen} {
		f(c)
	}
	return m
}
