// Package e2e is the end-to-end test of package smart on emulated disks:
// `make e2e-smart` (smart/e2e/run.sh) builds a static shoebox and the
// probe command (smart/e2e/probe), packs them with busybox and the
// kernel's disk modules into an initramfs, and runs TestQEMU, which boots
// Debian's kernel under QEMU (TCG) with an NVMe, an AHCI and a
// virtio-scsi disk.
//
// The guest's init takes one command per console line (probe,
// probe-nocaps, disks, quit) and prints each command's JSON between
// ===SHOEBOX-BEGIN/END markers. The test checks the serials, models, WWN
// and capacities against what QEMU was told to expose, the ATA SMART
// RETURN STATUS, that an unprivileged read is "insufficient privilege"
// and never OK, then sets the NVMe controller's smart_critical_warning
// over QMP (qom-set /machine/peripheral/nvme0) and checks that the next
// reading is FAILING and that the poller fired an event.
//
// Without SHOEBOX_E2E_SMART=1 the test is skipped.
package e2e
