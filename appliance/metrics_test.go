package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/internal/testcorpus"
	"github.com/shoebox/shoebox/smart"
)

// recordedDisk writes a copy of a real smartctl output, with edit applied
// to its JSON, and returns it as a disk the poller reads.
func recordedDisk(t *testing.T, dir, device, name string, edit func(map[string]any)) smart.Disk {
	t.Helper()
	raw, err := os.ReadFile(testcorpus.SMART(t, "smartctl-json", "testdata", name))
	if err != nil {
		t.Fatalf("recorded smartctl output: %v", err)
	}
	var j map[string]any
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	edit(j)
	out, _ := json.Marshal(j)
	p := filepath.Join(dir, filepath.Base(device)+".json")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return smart.Disk{Path: device, Reader: smart.Recorded{File: p}}
}

// scrape fetches /metrics over the daemon's real HTTPS port and parses it
// with Prometheus' own text parser; it returns the text too.
func scrape(t *testing.T, d *Daemon) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	pem, err := os.ReadFile(d.statePath(certFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := c.Get("https://" + d.listenAddr.Load().(string) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams, string(body)
}

// series returns the value of the series of family name whose labels
// include want, and whether there is one; it fails the test when the
// family has another type.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
	if f.GetType() != typ {
		t.Errorf("%s is a %v, want a %v", name, f.GetType(), typ)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsScrape runs a real daemon on a file-backed 2+1 array with two
// disks whose SMART readings are recorded outputs of real drives, backs up
// a folder holding a photo twice (deduplication), scrapes /metrics over
// HTTPS with Prometheus' text parser, and checks names, types and values
// against the repository's own statistics, the disks' readings and the
// array; then `promtool check metrics` lints the text.
func TestMetricsScrape(t *testing.T) {
	b := newArrayBox(t)
	rng := rand.New(rand.NewPCG(1, 2))
	photo := make([]byte, 3<<20)
	for i := range photo {
		photo[i] = byte(rng.Uint32())
	}
	os.WriteFile(filepath.Join(b.photos, "IMG_0001.JPG"), photo, 0o644)
	os.WriteFile(filepath.Join(b.photos, "IMG_0001 copy.JPG"), photo, 0o644) // the same photo again
	os.WriteFile(filepath.Join(b.photos, "IMG_0002.JPG"), photo[:1<<20], 0o644)

	// Two disks: a hard disk with reallocated sectors (and, edited in,
	// pending ones), and an NVMe SSD half worn (and, edited in, media
	// errors).
	smartDir := t.TempDir()
	disks := []smart.Disk{
		recordedDisk(t, smartDir, "/dev/sda", "ST3500418AS_12.json", func(j map[string]any) {
			for _, a := range j["ata_smart_attributes"].(map[string]any)["table"].([]any) {
				if a := a.(map[string]any); a["id"] == 197.0 {
					a["raw"] = map[string]any{"value": 8, "string": "8"}
				}
			}
		}),
		recordedDisk(t, smartDir, "/dev/nvme0", "nvme-null-INTEL_SSDPEDMD800G4-nvme0.json", func(j map[string]any) {
			j["nvme_smart_health_information_log"].(map[string]any)["media_errors"] = 3
		}),
	}
	// Usage grew over the last days: the capacity forecast has a line
	// to fit.
	os.MkdirAll(b.state, 0o700)
	now := time.Now()
	usage, _ := json.Marshal(maint.UsageLog{Samples: []maint.UsageSample{{Time: now.AddDate(0, 0, -10), Used: 0}, {Time: now.AddDate(0, 0, -5), Used: 1}}})
	os.WriteFile(filepath.Join(b.state, "usage.json"), usage, 0o600)

	d := New(b.config(t, "drills: {every: 1000h}\nsmart: {every: 1000h}\n"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.discoverDisks = func() ([]smart.Disk, error) { return disks, nil }
	startDaemon(t, d)
	waitFor(t, 20*time.Second, "the first backup", func() bool { return d.sourceInfo("family").LastSnap != "" })

	ctx := context.Background()
	st, err := d.Repo.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fams map[string]*dto.MetricFamily
	var text string
	// The repository's series follow the backup, the disks' the first
	// poll: wait for both (then check everything, also when they never
	// came).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		fams, text = scrape(t, d)
		logical, _ := series(t, fams, "shoebox_repository_logical_bytes", dto.MetricType_GAUGE, nil)
		_, disk := series(t, fams, "shoebox_disk_temperature_celsius", dto.MetricType_GAUGE, map[string]string{"device": "/dev/nvme0"})
		if logical == float64(st.RestoreSize) && disk || time.Now().After(deadline) {
			break
		}
	}

	gauge := func(name string, labels map[string]string, want float64) {
		t.Helper()
		got, ok := series(t, fams, name, dto.MetricType_GAUGE, labels)
		if !ok || math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s %v = %v (present: %v), want %v", name, labels, got, ok, want)
		}
	}
	counter := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if got, ok := series(t, fams, name, dto.MetricType_COUNTER, labels); !ok || got != want {
			t.Errorf("%s %v = %v (present: %v), want %v", name, labels, got, ok, want)
		}
	}

	// The repository, from its own index and snapshots.
	gauge("shoebox_repository_logical_bytes", nil, float64(st.RestoreSize))
	gauge("shoebox_repository_unique_bytes", nil, float64(st.RawSize))
	gauge("shoebox_repository_stored_bytes", nil, float64(st.PackSize))
	gauge("shoebox_repository_snapshots", nil, float64(st.Snapshots))
	gauge("shoebox_dedup_ratio", nil, st.DedupRatio)
	if st.RestoreSize != 7<<20 || st.DedupRatio < 1.7 {
		t.Errorf("repository stats %+v: want 7 MiB of files deduplicated to about 4 MiB", st)
	}

	// The backup's counters and histogram.
	counter("shoebox_backup_runs_total", map[string]string{"source": "family", "result": "ok"}, 1)
	counter("shoebox_backup_files_total", map[string]string{"source": "family"}, 3)
	if n, ok := series(t, fams, "shoebox_backup_duration_seconds", dto.MetricType_HISTOGRAM, map[string]string{"source": "family"}); !ok || n != 1 {
		t.Errorf("shoebox_backup_duration_seconds{source=family}: %v observations (present: %v), want 1", n, ok)
	}
	// Bucket bounds print as people wrote them, never 0.30000000000000004.
	les := regexp.MustCompile(`le="([^"]+)"`).FindAllStringSubmatch(text, -1)
	if len(les) == 0 {
		t.Error("no histogram buckets")
	}
	for _, m := range les {
		if v, err := strconv.ParseFloat(m[1], 64); m[1] != "+Inf" && (err != nil || strconv.FormatFloat(v, 'g', 4, 64) != m[1]) {
			t.Errorf("bucket bound le=%q: want a round number", m[1])
		}
	}

	// Each disk, as its reading says, labelled by device, model and serial.
	verdicts := map[string]smart.State{}
	for _, s := range d.poller.Last() {
		verdicts[s.Path] = s.Verdict.State
	}
	for _, disk := range disks {
		r, err := disk.Reader.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l := map[string]string{"device": disk.Path, "model": r.Model, "serial": r.Serial}
		gauge("shoebox_disk_health", l, map[smart.State]float64{smart.OK: 0, smart.Warning: 1, smart.Failing: 2, smart.Unknown: 3}[verdicts[disk.Path]])
		gauge("shoebox_disk_temperature_celsius", l, float64(r.Temperature))
		gauge("shoebox_disk_power_on_seconds", l, float64(r.PowerOnHours)*3600)
		switch r.Protocol {
		case smart.ATA:
			realloc, _ := r.ATA.Attribute(smart.AttrReallocatedSectors)
			pending, _ := r.ATA.Attribute(smart.AttrPendingSectors)
			if realloc.RawCount != 304 || pending.RawCount != 8 {
				t.Fatalf("fixture: reallocated %d, pending %d; want 304 and 8", realloc.RawCount, pending.RawCount)
			}
			gauge("shoebox_disk_reallocated_sectors", l, 304)
			gauge("shoebox_disk_pending_sectors", l, 8)
		case smart.NVMe:
			gauge("shoebox_disk_media_errors", l, 3)
			gauge("shoebox_disk_percentage_used", l, 51)
		}
	}
	if verdicts["/dev/sda"] == smart.OK || verdicts["/dev/sda"] == "" {
		t.Errorf("verdict of the disk with reallocated and pending sectors: %q", verdicts["/dev/sda"])
	}

	// The array: state, redundancy, space and the forecast.
	gauge("shoebox_array_degraded", nil, 0)
	gauge("shoebox_array_disks_missing", nil, 0)
	gauge("shoebox_array_objects_degraded", nil, 0)
	gauge("shoebox_array_redundancy_disks", nil, 1) // 2+1: one more disk may fail
	size, _ := series(t, fams, "shoebox_array_size_bytes", dto.MetricType_GAUGE, nil)
	free, _ := series(t, fams, "shoebox_array_free_bytes", dto.MetricType_GAUGE, nil)
	l, err := maint.LoadUsageLog(filepath.Join(b.state, "usage.json"))
	if err != nil || len(l.Samples) != 3 {
		t.Fatalf("usage log: %v, %+v; want the two samples written and the daemon's", err, l)
	}
	if used := l.Samples[2].Used; size <= 0 || size-free != float64(used) {
		t.Errorf("array size %v and free %v bytes: used %v, want %d as the capacity sample says", size, free, size-free, used)
	}
	rate, ok := maint.GrowthRate(l.Samples, time.Now())
	if !ok {
		t.Fatal("no growth in the usage log")
	}
	gauge("shoebox_array_full_forecast_seconds", nil, free/rate*86400)

	// promtool's lint: names, units, types, help.
	t.Run("promtool", func(t *testing.T) {
		promtool := os.Getenv("PROMTOOL")
		if promtool == "" {
			promtool, err = exec.LookPath("promtool")
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal("promtool not found: make metrics-check installs it (Debian prometheus)")
				}
				t.Skip("promtool not installed: make metrics-check installs it")
			}
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
}
