#!/usr/bin/env bash
# Shoebox on disk arrays vs. a plain directory (`make bench`, after the peer
# comparison). Backup and restore throughput of the vault on a 2+1 and a 4+2
# array of directories against one directory (target: at most 15 % slower),
# scrub MiB/s, and the time to rebuild a replaced disk per GiB of its data.
#
#   BENCH_RAID_SIZE=1G BENCH_RAID_REPS=3 bash bench/raid.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZE=$(go run ./bench/gen -size "${BENCH_RAID_SIZE:-1GiB}" -print-size) # docs/UNITS.md
REPS=${BENCH_RAID_REPS:-3}
DIR=${BENCH_DIR:-/var/tmp/shoebox-bench}/raid
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
log() { printf '==> %s\n' "$*" >&2; }

go build -o "$DIR/shoebox" ./cmd/shoebox
go build -o "$DIR/gen" ./bench/gen
SB=$DIR/shoebox
SRC=$DIR/src-$SIZE
if [[ ! -e $SRC/.complete ]]; then
	log "generating $((SIZE >> 20)) MiB data set"
	rm -rf "$DIR"/src-*
	"$DIR/gen" -out "$SRC" -seed 7 -size "$SIZE"
	touch "$SRC/.complete"
fi
cat "$SRC"/* >/dev/null 2>&1 || true
find "$SRC" -type f -exec cat {} + >/dev/null
BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
export SHOEBOX_PASSWORD=shoebox-bench-not-a-secret

# timeit VAR cmd...: wall seconds of a command into VAR.
timeit() {
	local __v=$1 __s __e
	shift
	sync
	__s=$(date +%s.%N)
	"$@" >/dev/null
	__e=$(date +%s.%N)
	printf -v "$__v" '%.3f' "$(echo "$__e - $__s" | bc)"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A T
for rep in $(seq 1 "$REPS"); do
	for cfg in dir 2+1 4+2; do
		W=$DIR/run
		rm -rf "$W"
		mkdir -p "$W"
		case $cfg in
		dir) REPO=$W/repo ;;
		2+1)
			"$SB" raid create --data 2 --parity 1 --allow-same-drive "$W"/d{1,2,3} >/dev/null
			REPO=raid:$W/d1,$W/d2,$W/d3
			;;
		4+2)
			"$SB" raid create --data 4 --parity 2 --allow-same-drive "$W"/d{1,2,3,4,5,6} >/dev/null
			REPO=raid:$W/d1,$W/d2,$W/d3,$W/d4,$W/d5,$W/d6
			;;
		esac
		"$SB" -r "$REPO" init >/dev/null
		timeit b "$SB" -r "$REPO" backup "$SRC"
		timeit r "$SB" -r "$REPO" restore latest --target "$W/out"
		diff -r "$SRC" "$W/out$SRC" >/dev/null || { echo "restore of $cfg differs" >&2; exit 1; }
		T[$cfg,backup]+="$b "
		T[$cfg,restore]+="$r "
		log "rep $rep $cfg: backup ${b}s restore ${r}s"
		if [[ $cfg == 2+1 ]]; then
			timeit s "$SB" raid scrub "$W"/d1 "$W"/d2 "$W"/d3
			T[scrub]+="$s "
			# Replace disk 2: wipe it (a dead disk), rebuild onto a new one.
			old=$(du -sb "$W/d2/shoebox" | cut -f1)
			id=$("$SB" --json raid status "$W"/d1 "$W"/d2 "$W"/d3 | python3 -c 'import json,sys; print([d["disk_id"] for d in json.load(sys.stdin)["disks"] if d["path"].endswith("/d2")][0])')
			rm -rf "$W/d2"
			timeit rb "$SB" raid replace "$id" "$W/d4" "$W"/d1 "$W"/d3
			T[rebuild]+="$(echo "$rb / ($old / 1073741824)" | bc -l) "
			log "rep $rep scrub ${s}s; rebuild ${rb}s for $((old >> 20)) MiB"
		fi
	done
done

m() { tr ' ' '\n' <<<"${T[$1]}" | grep . | median; }
mib=$(echo "$BYTES / 1048576" | bc -l)
echo
echo "## Shoebox on disk arrays ($((BYTES >> 20)) MiB, medians of $REPS, member disks are directories on one drive)"
echo
echo "| store | backup s | backup MiB/s | vs dir | restore s | restore MiB/s | vs dir |"
echo "|---|---:|---:|---:|---:|---:|---:|"
db=$(m dir,backup)
dr=$(m dir,restore)
for cfg in dir 2+1 4+2; do
	b=$(m "$cfg,backup")
	r=$(m "$cfg,restore")
	printf '| %s | %.2f | %.0f | %+.0f%% | %.2f | %.0f | %+.0f%% |\n' "$cfg" "$b" "$(echo "$mib / $b" | bc -l)" \
		"$(echo "($b / $db - 1) * 100" | bc -l)" "$r" "$(echo "$mib / $r" | bc -l)" "$(echo "($r / $dr - 1) * 100" | bc -l)"
done
s=$(m scrub)
echo
printf 'scrub of the 2+1 array: %.2f s, %.0f MiB/s of stored shards\n' "$s" "$(echo "$mib * 1.5 / $s" | bc -l)"
printf 'rebuild of a replaced disk (2+1): %.2f s per GiB of the disk'"'"'s data\n' "$(m rebuild)"
echo
echo "Command: BENCH_RAID_SIZE=${BENCH_RAID_SIZE:-1GiB} BENCH_RAID_REPS=$REPS bash bench/raid.sh"
