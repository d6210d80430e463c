#!/usr/bin/env bash
# The API under load (`make bench`, after the disk arrays): latency and
# requests/s of /v1/status, the snapshot list and snapshot browsing under
# concurrent clients on loopback, idle and while backups run. See
# bench/README.md and bench/apiload/main.go.
#
#   bash bench/apiload.sh                                # 16 clients, 2 × 20 s
#   APILOAD_CLIENTS=32 APILOAD_SECONDS=10 bash bench/apiload.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_DIR=${BENCH_DIR:-/var/tmp/shoebox-bench}
CLIENTS=${APILOAD_CLIENTS:-16}
SECS=${APILOAD_SECONDS:-20}
FILES=${APILOAD_FILES:-300}
SIZE=${APILOAD_SIZE:-200MiB}
CHURN=${APILOAD_CHURN:-16MiB}
KEEP_LAST=${APILOAD_KEEP_LAST:-10}
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'apiload: %s\n' "$*" >&2; exit 1; }
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "APILOAD_CLIENTS=$CLIENTS: want a positive integer"
[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "APILOAD_SECONDS=$SECS: want a positive integer"
[[ $KEEP_LAST =~ ^[0-9]+$ ]] || die "APILOAD_KEEP_LAST=$KEEP_LAST: want a number ≥ 0"

mkdir -p "$BENCH_DIR/apiload"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
DIR=$BENCH_DIR/apiload
MD=$BENCH_DIR/apiload.md
TSV=$BENCH_DIR/apiload.tsv
RESULTS=$BENCH_DIR/results.md # bench/bench.sh's report; this section is appended to it

if [[ -n ${APILOAD_SHOEBOXD_BIN:-} ]]; then
	SHOEBOXD=$(realpath "$APILOAD_SHOEBOXD_BIN")
	[[ -x $SHOEBOXD ]] || die "APILOAD_SHOEBOXD_BIN=$APILOAD_SHOEBOXD_BIN is not executable"
	VERSION=$SHOEBOXD
else
	log "building shoeboxd and the load generator"
	SHOEBOXD=$DIR/shoeboxd
	go build -o "$SHOEBOXD" ./cmd/shoeboxd
	VERSION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)"
fi
go build -o "$DIR/apiload" ./bench/apiload

fstype=$(df -PT "$DIR" | awk 'NR==2 {print $2}')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
rc=0
"$DIR/apiload" -shoeboxd "$SHOEBOXD" -clients "$CLIENTS" -duration "${SECS}s" -files "$FILES" -size "$SIZE" \
	-churn "$CHURN" -keep-last "$KEEP_LAST" -tmp "$DIR" -tsv "$TSV" >"$DIR/table.md" || rc=$?
ELAPSED=$(($(date +%s) - START))

{
	echo "## API under load (bench/apiload.sh)"
	echo
	echo "Command: \`APILOAD_CLIENTS=$CLIENTS APILOAD_SECONDS=$SECS APILOAD_FILES=$FILES APILOAD_SIZE=$SIZE APILOAD_CHURN=$CHURN APILOAD_KEEP_LAST=$KEEP_LAST bash bench/apiload.sh\`"
	echo "(took $ELAPSED s; shoeboxd $VERSION)"
	echo
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), shared by the clients, the daemon and its backups;" \
		"$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r), $fstype at $DIR," \
		"$(go version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $LOAD before the run"
	echo
	cat "$DIR/table.md"
	((rc == 0)) || { echo; echo "**FAILED** (exit status $rc): see the messages above."; }
} >"$MD"
echo
cat "$MD"
echo
# Append to bench.sh's report, replacing an earlier API section (the last
# one in the file), so that running this script again does not pile up.
if [[ -f $RESULTS ]]; then
	awk '/^## API under load/ {exit} /^$/ {blank++; next} {for (; blank > 0; blank--) print ""; print}' "$RESULTS" >"$RESULTS.tmp"
	{ echo; cat "$MD"; } >>"$RESULTS.tmp"
	mv "$RESULTS.tmp" "$RESULTS"
	log "appended to $RESULTS"
fi
log "table: $MD; raw numbers: $TSV"
exit $rc
