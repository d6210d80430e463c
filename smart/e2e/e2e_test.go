package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/smart"
)

// What QEMU is told to expose; the guest must read back the same.
const (
	nvmeSerial = "SBNVME01"
	nvmeModel  = "QEMU NVMe Ctrl" // fixed by QEMU
	ataSerial  = "SBATA001"
	ataModel   = "SHOEBOX AHCI DISK"
	ataWWN     = "0x5000c50012345678"
	scsiSerial = "SBSCSI01"
	scsiModel  = "SHOEBOX SCSI DISK" // vendor + product
	usbSerial  = "SBUSB001"
	usbModel   = "QEMU QEMU HARDDISK" // QEMU's usb-storage
	diskSize   = 64 << 20

	// criticalWarning is set over QMP in the second round: "NVM subsystem
	// reliability degraded".
	criticalWarning = smart.NVMeWarnReliability
)

type probeOutput struct {
	Disks  []smart.Status `json:"disks"`
	Events []smart.Event  `json:"events"`
}

// TestQEMU boots the kernel and initramfs smart/e2e/run.sh prepared, with
// an NVMe, an AHCI and a virtio-scsi disk, and checks what the guest reads.
func TestQEMU(t *testing.T) {
	if os.Getenv("SHOEBOX_E2E_SMART") != "1" {
		t.Skip("set SHOEBOX_E2E_SMART=1, or run make e2e-smart (smart/e2e/run.sh)")
	}
	dir := os.Getenv("SHOEBOX_E2E_DIR")
	if dir == "" {
		t.Fatal("SHOEBOX_E2E_DIR not set: run smart/e2e/run.sh")
	}
	for _, f := range []string{"vmlinuz", "initrd.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%v: run smart/e2e/run.sh --prepare first", err)
		}
	}
	vm := boot(t, dir)

	t0 := time.Now()
	vm.waitLine(t, "SHOEBOX-E2E-READY", 5*time.Minute)
	t.Logf("guest ready %.1f s after QEMU started", time.Since(vm.start).Seconds())

	// Round 1: as QEMU made them.
	var out probeOutput
	vm.run(t, "probe", &out)
	logDisks(t, "round 1", out.Disks)
	nv := find(t, out.Disks, nvmeSerial)
	checkIdentity(t, nv, smart.NVMe, nvmeModel, diskSize)
	if nv.Record.NVMe == nil {
		t.Fatalf("NVMe record has no NVMe health: %+v", nv.Record)
	}
	if got := nv.Record.NVMe.CriticalWarning; got != 0 {
		t.Errorf("NVMe critical warning %#x before the flip, want 0", got)
	}
	if nv.Record.SMARTStatus != "passed" {
		t.Errorf("NVMe smart_status %q, want passed", nv.Record.SMARTStatus)
	}
	if !nv.Record.HasTemperature {
		t.Errorf("NVMe temperature not read (QEMU reports 323 K)")
	}
	okState(t, nv)

	ata := find(t, out.Disks, ataSerial)
	checkIdentity(t, ata, smart.ATA, ataModel, diskSize)
	if ata.Record.WWN != ataWWN {
		t.Errorf("ATA WWN %q, want %q", ata.Record.WWN, ataWWN)
	}
	if ata.Record.ATA == nil || len(ata.Record.ATA.Attributes) == 0 {
		t.Fatalf("ATA record has no attributes: %+v", ata.Record)
	}
	if ata.Record.Standby {
		t.Errorf("ATA disk read as in standby (QEMU always answers CHECK POWER MODE with FFh, active)")
	}
	// SMART RETURN STATUS over our own SG_IO ATA PASS-THROUGH: QEMU
	// answers 4Fh/C2h, passed.
	if ata.Record.SMARTStatus != "passed" {
		t.Errorf("ATA smart_status %q, want passed (SMART RETURN STATUS)", ata.Record.SMARTStatus)
	}
	okState(t, ata)

	// SCSI disks, and a USB bridge smart.go cannot pass ATA commands
	// through: identity from smart.go, health unknown without smartctl.
	for _, c := range []struct{ serial, model string }{{scsiSerial, scsiModel}, {usbSerial, usbModel}} {
		d := find(t, out.Disks, c.serial)
		checkIdentity(t, d, smart.SCSI, c.model, diskSize)
		if d.Verdict.State != smart.Unknown || d.Record.Unknown != smart.UnknownSCSI {
			t.Errorf("%s without smartctl: verdict %v, unknown %q; want UNKNOWN, %q", c.serial, d.Verdict, d.Record.Unknown, smart.UnknownSCSI)
		}
	}

	// With smartctl installed, those two are read with smartctl --json;
	// ATA and NVMe still with smart.go.
	var withSmartctl probeOutput
	if vm.run(t, "probe-smartctl", &withSmartctl) {
		logDisks(t, "with smartctl", withSmartctl.Disks)
		for _, serial := range []string{scsiSerial, usbSerial} {
			d := find(t, withSmartctl.Disks, serial)
			if d.Record.Unknown == smart.UnknownSCSI {
				t.Errorf("%s with smartctl in PATH: still read with smart.go only", serial)
			}
			if d.Verdict.State == smart.OK {
				t.Errorf("%s: OK from smartctl on a disk without SMART: %v", serial, d.Verdict)
			}
		}
		if d := find(t, withSmartctl.Disks, ataSerial); d.Record.ATA == nil || d.Record.SMARTStatus != "passed" {
			t.Errorf("ATA disk with smartctl in PATH: not read with smart.go: %+v", d.Record)
		}
	}

	// Without CAP_SYS_ADMIN and CAP_SYS_RAWIO: health unknown, never OK.
	var nocaps probeOutput
	vm.run(t, "probe-nocaps", &nocaps)
	logDisks(t, "without capabilities", nocaps.Disks)
	if len(nocaps.Disks) != len(out.Disks) {
		t.Errorf("without capabilities: %d disks, want %d", len(nocaps.Disks), len(out.Disks))
	}
	for _, d := range nocaps.Disks {
		if d.Verdict.State != smart.Unknown || !strings.Contains(d.Record.Unknown, "insufficient privilege") {
			t.Errorf("%s without capabilities: verdict %v, unknown %q; want UNKNOWN, insufficient privilege", d.Path, d.Verdict, d.Record.Unknown)
		}
		if d.Record.ATA != nil || d.Record.NVMe != nil || d.Record.SCSI != nil {
			t.Errorf("%s without capabilities carries health data", d.Path)
		}
	}
	// Identity still comes from sysfs (USB disks have no serial there).
	checkIdentity(t, find(t, nocaps.Disks, ataSerial), smart.ATA, ataModel, diskSize)

	// shoebox disks --json, the CLI over the same code.
	var cli []smart.Status
	if vm.run(t, "disks", &cli) {
		find(t, cli, nvmeSerial)
		okState(t, find(t, cli, ataSerial))
	}

	// Round 2: the NVMe controller reports degraded reliability.
	q := dialQMP(t, filepath.Join(vm.dir, "qmp.sock"))
	defer q.Close()
	q.cmd(t, "qom-set", map[string]any{"path": "/machine/peripheral/nvme0", "property": "smart_critical_warning", "value": criticalWarning})
	if got := q.cmd(t, "qom-get", map[string]any{"path": "/machine/peripheral/nvme0", "property": "smart_critical_warning"}); string(got) != fmt.Sprint(criticalWarning) {
		t.Fatalf("qom-get smart_critical_warning = %s, want %d", got, criticalWarning)
	}
	var out2 probeOutput
	vm.run(t, "probe", &out2)
	logDisks(t, "round 2", out2.Disks)
	nv = find(t, out2.Disks, nvmeSerial)
	if nv.Record.NVMe == nil || nv.Record.NVMe.CriticalWarning != criticalWarning {
		t.Fatalf("NVMe after qom-set: %+v, want critical warning %#x", nv.Record.NVMe, criticalWarning)
	}
	if nv.Record.SMARTStatus != "failed" {
		t.Errorf("NVMe smart_status %q after the flip, want failed", nv.Record.SMARTStatus)
	}
	if nv.Verdict.State != smart.Failing {
		t.Errorf("NVMe verdict %v after the flip, want FAILING", nv.Verdict)
	}
	var fired bool
	for _, ev := range out2.Events {
		t.Logf("event: %s %s %s -> %s %v", ev.Path, ev.Serial, ev.From, ev.To, ev.Verdict.Reasons)
		if ev.Serial == nvmeSerial && ev.To == smart.Failing {
			fired = true
		}
	}
	if !fired {
		t.Errorf("no FAILING event for %s in round 2 (events %+v)", nvmeSerial, out2.Events)
	}
	okState(t, find(t, out2.Disks, ataSerial))

	if vm.run(t, "disks", &cli) {
		if d := find(t, cli, nvmeSerial); d.Verdict.State != smart.Failing {
			t.Errorf("shoebox disks: NVMe verdict %v after the flip, want FAILING", d.Verdict)
		}
	}
	vm.quit(t)
	t.Logf("guest work %.1f s; QEMU ran %.1f s in all", time.Since(t0).Seconds(), time.Since(vm.start).Seconds())
}

func find(t *testing.T, ds []smart.Status, serial string) smart.Status {
	t.Helper()
	for _, d := range ds {
		if d.Record != nil && d.Record.Serial == serial {
			return d
		}
	}
	t.Fatalf("no disk with serial %s among %d disks", serial, len(ds))
	return smart.Status{}
}

func checkIdentity(t *testing.T, d smart.Status, proto smart.Protocol, model string, size uint64) {
	t.Helper()
	r := d.Record
	if r.Protocol != proto || r.Model != model || r.Capacity != size || r.Firmware == "" {
		t.Errorf("%s: protocol %q model %q capacity %d firmware %q; want %q %q %d and a firmware",
			d.Path, r.Protocol, r.Model, r.Capacity, r.Firmware, proto, model, size)
	}
}

func okState(t *testing.T, d smart.Status) {
	t.Helper()
	if d.Verdict.State != smart.OK {
		t.Errorf("%s (%s): verdict %v, want OK (unknown %q)", d.Path, d.Record.Serial, d.Verdict, d.Record.Unknown)
	}
}

func logDisks(t *testing.T, what string, ds []smart.Status) {
	t.Helper()
	for _, d := range ds {
		b, _ := json.Marshal(d.Record)
		t.Logf("%s: %s %s %v\n\t%s", what, d.Path, d.Verdict.State, d.Verdict.Reasons, b)
	}
}

// vm is a running QEMU with the guest's console on its stdin and stdout.
type vm struct {
	dir   string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	start time.Time
}

func boot(t *testing.T, dir string) *vm {
	t.Helper()
	tmp := t.TempDir()
	// A short socket path: unix socket names are limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	for _, n := range []string{"nvme.img", "ata.img", "scsi.img", "usb.img"} {
		if err := os.WriteFile(filepath.Join(tmp, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(tmp, n), diskSize); err != nil {
			t.Fatal(err)
		}
	}
	img := func(n string) string { return filepath.Join(tmp, n) }
	args := []string{
		"-accel", "tcg", "-M", "q35", "-m", "512", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-qmp", "unix:" + filepath.Join(sockDir, "qmp.sock") + ",server=on,wait=off",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initrd.gz"),
		"-append", "console=ttyS0 quiet panic=-1",
		"-drive", "file=" + img("nvme.img") + ",if=none,id=nv0,format=raw",
		"-device", "nvme,id=nvme0,serial=" + nvmeSerial + ",drive=nv0,smart_critical_warning=0",
		"-drive", "file=" + img("ata.img") + ",if=none,id=ata0,format=raw",
		"-device", "ide-hd,drive=ata0,bus=ide.0,serial=" + ataSerial + ",model=" + ataModel + ",wwn=" + ataWWN,
		"-device", "virtio-scsi-pci,id=vscsi",
		"-drive", "file=" + img("scsi.img") + ",if=none,id=sc0,format=raw",
		"-device", "scsi-hd,bus=vscsi.0,drive=sc0,serial=" + scsiSerial + ",vendor=SHOEBOX,product=SCSI DISK",
		"-device", "qemu-xhci,id=xhci",
		"-drive", "file=" + img("usb.img") + ",if=none,id=u0,format=raw",
		"-device", "usb-storage,bus=xhci.0,drive=u0,serial=" + usbSerial,
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	logf, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	v := &vm{dir: sockDir, cmd: cmd, in: in, lines: make(chan string, 4096), start: time.Now()}
	t.Logf("qemu-system-x86_64 %s", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(v.lines)
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			fmt.Fprintln(logf, line)
			v.lines <- line
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return v
}

// waitLine waits for a console line containing s and returns it.
func (v *vm) waitLine(t *testing.T, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-v.lines:
			if !ok {
				t.Fatalf("QEMU exited before %q (see %s)", s, filepath.Join(os.Getenv("SHOEBOX_E2E_DIR"), "console.log"))
			}
			if strings.Contains(line, s) {
				return line
			}
		case <-deadline:
			t.Fatalf("no %q on the console within %v (see console.log)", s, timeout)
		}
	}
}

// run sends a command to the guest's init and decodes the output between
// its markers into out. It reports whether the command succeeded; a
// failed "disks" (the CLI) is logged, a failed probe fails the test.
func (v *vm) run(t *testing.T, command string, out any) bool {
	t.Helper()
	start := time.Now()
	if _, err := fmt.Fprintln(v.in, command); err != nil {
		t.Fatal(err)
	}
	if line := v.waitLine(t, "===SHOEBOX-", time.Minute); strings.HasPrefix(line, "===SHOEBOX-SKIP") {
		t.Logf("%s skipped: %s", command, line)
		return false
	}
	var body strings.Builder
	var end string
	for end == "" {
		select {
		case line, ok := <-v.lines:
			if !ok {
				t.Fatalf("QEMU exited during %q", command)
			}
			if strings.HasPrefix(line, "===SHOEBOX-END") {
				end = line
				continue
			}
			body.WriteString(line)
			body.WriteByte('\n')
		case <-time.After(3 * time.Minute):
			t.Fatalf("%q did not finish in 3 minutes", command)
		}
	}
	t.Logf("%s took %.1f s in the guest: %s", command, time.Since(start).Seconds(), end)
	if !strings.Contains(end, "rc=0") {
		msg := fmt.Sprintf("%s failed: %s\n%s", command, end, body.String())
		if command == "disks" {
			t.Log(msg)
			return false
		}
		t.Fatal(msg)
	}
	if err := json.Unmarshal([]byte(body.String()), out); err != nil {
		t.Fatalf("%s output: %v\n%s", command, err, body.String())
	}
	return true
}

func (v *vm) quit(t *testing.T) {
	t.Helper()
	fmt.Fprintln(v.in, "quit")
	done := make(chan error, 1)
	go func() { done <- v.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Log("guest did not power off in 30 s; killing QEMU")
		v.cmd.Process.Kill()
		<-done
	}
}

// qmp is a QEMU Machine Protocol connection.
type qmp struct {
	c   net.Conn
	dec *json.Decoder
}

func dialQMP(t *testing.T, path string) *qmp {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("QMP: %v", err)
	}
	q := &qmp{c: c, dec: json.NewDecoder(c)}
	var greeting map[string]json.RawMessage
	if err := q.dec.Decode(&greeting); err != nil || greeting["QMP"] == nil {
		t.Fatalf("QMP greeting: %v %v", greeting, err)
	}
	q.cmd(t, "qmp_capabilities", nil)
	return q
}

func (q *qmp) Close() error { return q.c.Close() }

// cmd runs a QMP command and returns its "return" value, skipping events.
func (q *qmp) cmd(t *testing.T, name string, args map[string]any) json.RawMessage {
	t.Helper()
	req := map[string]any{"execute": name}
	if args != nil {
		req["arguments"] = args
	}
	if err := json.NewEncoder(q.c).Encode(req); err != nil {
		t.Fatalf("QMP %s: %v", name, err)
	}
	q.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := q.dec.Decode(&resp); err != nil {
			t.Fatalf("QMP %s: %v", name, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			t.Fatalf("QMP %s: %s: %s", name, resp.Error.Class, resp.Error.Desc)
		}
		return resp.Return
	}
}
