#!/usr/bin/env bash
# make e2e-smart: boot a small Linux under QEMU (TCG) with an NVMe, an AHCI
# (SATA) and a virtio-scsi disk, read them through smart.go from inside the
# guest, flip the NVMe critical warning over QMP and see the verdict change.
#
#   bash smart/e2e/run.sh            # prepare and run the test
#   bash smart/e2e/run.sh --prepare  # only build kernel + initramfs
#
# Needs Debian's qemu-system-x86, linux-image-amd64 and busybox-static, and
# smartmontools for the smartctl fallback; they are installed when missing
# (scripts/apt-install.sh: as root, or through sudo).
# Artifacts go to $SHOEBOX_E2E_DIR (default ./var/e2e-smart).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${SHOEBOX_E2E_DIR:-$ROOT/var/e2e-smart}
GO=${GO:-go}
mkdir -p "$OUT"
start=$(date +%s)
log() { printf '== %s\n' "$*" >&2; }

# --- packages -------------------------------------------------------------
kernel() { ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1; }
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -n "$(kernel)" ] || missing+=(linux-image-amd64)
# busybox-static puts a static /bin/busybox (the plain busybox package is
# dynamic and would not run inside the initramfs).
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	missing+=(busybox-static)
fi
command -v smartctl >/dev/null || [ -x /usr/sbin/smartctl ] || missing+=(smartmontools)
if [ ${#missing[@]} -gt 0 ]; then
	bash "$ROOT/scripts/apt-install.sh" --for "make e2e-smart" "${missing[@]}"
fi
VMLINUZ=$(kernel)
KVER=${VMLINUZ#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER
[ -r "$VMLINUZ" ] || { echo "cannot read $VMLINUZ (run as root once: Debian keeps kernels 0600)" >&2; exit 1; }
[ -f "$MODDIR/modules.dep" ] || { echo "no $MODDIR/modules.dep" >&2; exit 1; }

# --- binaries -------------------------------------------------------------
log "building static shoebox and probe"
(cd "$ROOT" && CGO_ENABLED=0 $GO build -trimpath -o "$OUT/shoebox" ./cmd/shoebox)
(cd "$ROOT" && CGO_ENABLED=0 $GO build -trimpath -o "$OUT/probe" ./smart/e2e/probe)

# --- initramfs ------------------------------------------------------------
# Modules for the disks (with what they depend on, from modules.dep):
# nvme, AHCI and PIIX through libata, sd_mod, virtio-scsi over virtio-pci,
# USB mass storage on xHCI.
WANT=(nvme ahci ata_piix sd_mod virtio_pci virtio_scsi xhci_pci usb_storage)
declare -A dep seen
while IFS= read -r line; do
	mod=${line%%:*}
	dep[$mod]=${line#*:}
done <"$MODDIR/modules.dep"
order=()
path_of() { # module name -> path in modules.dep
	local n=$1 p
	for p in "${!dep[@]}"; do
		local b=${p##*/}
		b=${b%%.ko*}
		if [ "${b//-/_}" = "${n//-/_}" ]; then
			echo "$p"
			return
		fi
	done
	return 1
}
visit() {
	local p=$1 d
	[ -n "${seen[$p]:-}" ] && return
	seen[$p]=1
	for d in ${dep[$p]}; do visit "$d"; done
	order+=("$p")
}
for m in "${WANT[@]}"; do
	p=$(path_of "$m") || { echo "module $m not in $MODDIR (built in?)" >&2; continue; }
	visit "$p"
done

IRD=$OUT/initramfs
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,dev,proc,sys,tmp,lib/modules,etc}
cp /bin/busybox "$IRD/bin/busybox"
cp "$OUT/shoebox" "$OUT/probe" "$IRD/bin/"
: >"$IRD/etc/modules.order"
for p in "${order[@]}"; do
	b=${p##*/}
	src=$MODDIR/$p
	case $p in
	*.ko.xz) xz -dc "$src" >"$IRD/lib/modules/${b%.xz}"; b=${b%.xz} ;;
	*.ko.zst) zstd -qdc "$src" >"$IRD/lib/modules/${b%.zst}"; b=${b%.zst} ;;
	*.ko.gz) gzip -dc "$src" >"$IRD/lib/modules/${b%.gz}"; b=${b%.gz} ;;
	*) cp "$src" "$IRD/lib/modules/$b" ;;
	esac
	echo "$b" >>"$IRD/etc/modules.order"
done
# smartctl, when the host has it, with its libraries, for the fallback
# (kept out of PATH unless asked for: see probe-smartctl below).
if SMARTCTL=$(command -v smartctl || ls /usr/sbin/smartctl 2>/dev/null); then
	mkdir -p "$IRD/opt/smartctl"
	cp -L "$SMARTCTL" "$IRD/opt/smartctl/smartctl"
	for lib in $(ldd "$SMARTCTL" | grep -o '/[^ ]*'); do
		cp -L --parents "$lib" "$IRD"
	done
else
	log "smartmontools not installed: the smartctl fallback is not tested"
fi
cat >"$IRD/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m" || echo "insmod $m failed"; done </etc/modules.order
# Wait for the disks to show up: NVMe, and AHCI, virtio-scsi and USB as sd*.
i=0
while [ $i -lt 150 ]; do
	set -- /sys/block/sd*
	[ -e /sys/block/nvme0n1 ] && [ $# -ge 3 ] && [ -e "$3" ] && break
	sleep 0.2
	i=$((i + 1))
done
sleep 1
echo 1 >/proc/sys/kernel/printk # no kernel messages inside the JSON
echo "SHOEBOX-E2E-READY $(cut -d' ' -f1 /proc/uptime)"
stty -echo 2>/dev/null
n=0
# Commands from the host, one per line on the console:
#   probe           read all disks (history kept in /tmp/state)
#   probe-nocaps    the same without CAP_SYS_ADMIN and CAP_SYS_RAWIO
#   probe-smartctl  the same with smartctl in PATH (fallback for SCSI, USB)
#   disks           shoebox disks --json (same history)
#   quit            power off
while read -r cmd; do
	n=$((n + 1))
	case $cmd in
	probe) set -- /bin/probe -state /tmp/state ;;
	probe-nocaps) set -- /bin/probe -drop-caps ;;
	probe-smartctl)
		[ -x /opt/smartctl/smartctl ] || { echo "===SHOEBOX-SKIP no smartctl==="; continue; }
		set -- env PATH=/bin:/opt/smartctl /bin/probe
		;;
	disks) set -- /bin/shoebox disks --json --state-dir /tmp/state-cli ;;
	quit) break ;;
	*) echo "unknown command $cmd"; continue ;;
	esac
	echo "===SHOEBOX-BEGIN $n $cmd==="
	"$@" 2>/tmp/stderr
	rc=$?
	echo "===SHOEBOX-END $n $cmd rc=$rc==="
	sed 's/^/stderr: /' /tmp/stderr
done
echo "SHOEBOX-E2E-DONE"
sync
poweroff -f
INIT
chmod +x "$IRD/init"
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initrd.gz"
cp "$VMLINUZ" "$OUT/vmlinuz"
log "kernel $KVER, modules: $(tr '\n' ' ' <"$IRD/etc/modules.order")"
log "initramfs $(du -h "$OUT/initrd.gz" | cut -f1), prepared in $(($(date +%s) - start)) s"

[ "${1:-}" = "--prepare" ] && exit 0

# --- test -----------------------------------------------------------------
log "booting under QEMU (TCG)"
cd "$ROOT"
SHOEBOX_E2E_SMART=1 SHOEBOX_E2E_DIR=$OUT $GO test -count=1 -v -timeout 10m ./smart/e2e/
log "e2e-smart done in $(($(date +%s) - start)) s"
