#!/usr/bin/env bash
# Shoebox vs. peers benchmark (`make bench`). See bench/README.md.
#
#   bash bench/bench.sh                      # defaults: 2 GiB, 3 reps, all tools
#   BENCH_SIZE=200MB BENCH_REPS=1 BENCH_TOOLS="restic019 kopia" bash bench/bench.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_SIZE=${BENCH_SIZE:-2GiB}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/shoebox-bench}
BENCH_TOOLS=${BENCH_TOOLS:-"shoebox restic014 restic019 borg kopia"}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_BORG_ENCRYPTION=${BENCH_BORG_ENCRYPTION:-repokey}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shoebox-bench
BIN=$CACHE/bin
PASS=shoebox-bench-not-a-secret

RESTIC_VERSION=0.19.1
KOPIA_VERSION=0.22.3

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Sizes as everywhere in Shoebox (docs/UNITS.md): 200MB = 200·10⁶, 2GiB = 2·2³⁰.
SIZE=$(go run ./bench/gen -size "$BENCH_SIZE" -print-size) || die "BENCH_SIZE=$BENCH_SIZE: want bytes or e.g. 200MB, 2GiB"
[[ $BENCH_REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS=$BENCH_REPS: want a positive integer"
read -r -a TOOLS <<<"$BENCH_TOOLS"
for t in "${TOOLS[@]}"; do
	case $t in shoebox | restic014 | restic019 | borg | kopia) ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
done
has_tool() { local t; for t in "${TOOLS[@]}"; do [[ $t == "$1" ]] && return 0; done; return 1; }
drop_tool() {
	local t keep=()
	for t in "${TOOLS[@]}"; do [[ $t == "$1" ]] || keep+=("$t"); done
	TOOLS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------------------
# Disk space: the pristine set, its mutated copy, the source, a repository and
# a restore (each about SIZE), plus slack.
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
need=$((6 * SIZE + (1 << 30)))
avail=$(($(df -Pk "$BENCH_DIR" | awk 'NR==2 {print $4}') * 1024))
fstype=$(df -PT "$BENCH_DIR" | awk 'NR==2 {print $2}')
((avail + $(du -sb "$BENCH_DIR" | cut -f1) >= need)) ||
	die "$BENCH_DIR ($fstype) has $((avail >> 20)) MiB free, need ~$((need >> 20)) MiB: set BENCH_DIR"
[[ $fstype == tmpfs ]] && warn "$BENCH_DIR is on tmpfs: numbers will not reflect a disk"

# ---------------------------------------------------------------------------
# Packages: restic 0.14 and borg from Debian, GNU time for peak RSS, rsync.
pkgs=()
[[ -x /usr/bin/time ]] || pkgs+=(time)
command -v rsync >/dev/null || pkgs+=(rsync)
command -v diff >/dev/null || pkgs+=(diffutils)
has_tool restic014 && ! [[ -x /usr/bin/restic ]] && pkgs+=(restic)
has_tool borg && ! command -v borg >/dev/null && pkgs+=(borgbackup)
if ((${#pkgs[@]})); then
	# A failed install is said by apt-install.sh; what is missing
	# afterwards is a missing tool (die) or a peer left out (warn) below.
	bash "$ROOT/scripts/apt-install.sh" --for "make bench" "${pkgs[@]}" || true
fi
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is missing"
command -v rsync >/dev/null || die "rsync is missing"
if has_tool restic014 && ! [[ -x /usr/bin/restic ]]; then warn "no Debian restic: skipping restic014"; drop_tool restic014; fi
if has_tool borg && ! command -v borg >/dev/null; then warn "no borg: skipping borg"; drop_tool borg; fi

# ---------------------------------------------------------------------------
# Peers built from source in a throwaway module outside the repo, cached.
mkdir -p "$BIN"
build_peer() { # name version package
	local out=$BIN/$1-$2 d
	[[ -x $out ]] && return 0
	log "building $1 $2 into $out (takes a few minutes, once)"
	d=$(mktemp -d "$CACHE/build-$1.XXXXXX")
	# `go get` of the main package itself (not just the module) so go.sum
	# holds the entries of everything it imports.
	if (cd "$d" && export GOWORK=off GOFLAGS=-mod=mod &&
		go mod init peers && go get "$3@v$2" && go build -o "$out.tmp" "$3" && mv "$out.tmp" "$out") >"$d/build.log" 2>&1; then
		rm -rf "$d"
	else
		warn "building $1 $2 failed (log: $d/build.log):"
		tail -n 15 "$d/build.log" >&2
		return 1
	fi
}
if has_tool restic019 && ! build_peer restic "$RESTIC_VERSION" github.com/restic/restic/cmd/restic; then
	warn "skipping restic019"
	drop_tool restic019
fi
if has_tool kopia && ! build_peer kopia "$KOPIA_VERSION" github.com/kopia/kopia; then
	warn "skipping kopia"
	drop_tool kopia
fi
SHOEBOX=$BIN/shoebox
if has_tool shoebox; then
	if [[ -n ${BENCH_SHOEBOX_BIN:-} ]]; then
		SHOEBOX=$(realpath "$BENCH_SHOEBOX_BIN")
		[[ -x $SHOEBOX ]] || die "BENCH_SHOEBOX_BIN=$BENCH_SHOEBOX_BIN is not executable"
		log "using shoebox binary $SHOEBOX"
	else
		log "building shoebox"
		if ! go build -o "$SHOEBOX" ./cmd/shoebox; then
			warn "shoebox does not build: skipping it"
			drop_tool shoebox
		fi
	fi
fi
((${#TOOLS[@]})) || die "no tool left to benchmark"

declare -A EXE=(
	[shoebox]=$SHOEBOX
	[restic014]=/usr/bin/restic
	[restic019]=$BIN/restic-$RESTIC_VERSION
	[borg]=$(command -v borg || echo borg)
	[kopia]=$BIN/kopia-$KOPIA_VERSION
)
declare -A VERSION NOTE
for t in "${TOOLS[@]}"; do
	case $t in
	shoebox)
		if [[ -n ${BENCH_SHOEBOX_BIN:-} ]]; then
			VERSION[$t]=$SHOEBOX
		else
			VERSION[$t]="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)"
		fi
		NOTE[$t]="defaults" ;;
	restic*)
		VERSION[$t]=$("${EXE[$t]}" version | awk '{print $2}')
		NOTE[$t]="repo format 2, compression auto (zstd), AES-256 + Poly1305" ;;
	borg)
		VERSION[$t]=$("${EXE[$t]}" --version | awk '{print $2}')
		NOTE[$t]="compression lz4 (default), -e $BENCH_BORG_ENCRYPTION, single-threaded" ;;
	kopia)
		VERSION[$t]=$("${EXE[$t]}" --version | awk '{print $1}')
		NOTE[$t]="no compression (default policy), AES256-GCM, BLAKE2B-256-128, buzhash splitter" ;;
	esac
done

# ---------------------------------------------------------------------------
# The data set: pristine set A and its mutation B, cached by seed, size and
# generator source. The benchmarked source is one fixed path, SRC, that is
# rsynced from A before each run's first backup and from B before its third:
# every tool sees the same path, inodes of unchanged files are kept, changed
# files get their mutated mtime (rsync -a copies mtimes), and only changed
# files are copied.
log "building generator"
go build -o "$BENCH_DIR/gen" ./bench/gen
go build -o "$BENCH_DIR/report" ./bench/report
genhash=$(sha256sum <bench/gen/main.go | cut -c1-12)
SET=$BENCH_DIR/data/seed$BENCH_SEED-size$SIZE-$genhash
for old in "$BENCH_DIR"/data/*; do
	[[ -e $old && $old != "$SET" ]] && { log "removing stale data set $old"; rm -rf "$old"; }
done
if [[ ! -e $SET/.complete ]]; then
	log "generating data set $SET"
	rm -rf "$SET"
	mkdir -p "$SET"
	"$BENCH_DIR/gen" -out "$SET/A" -seed "$BENCH_SEED" -size "$SIZE"
	cp -a "$SET/A" "$SET/B"
	"$BENCH_DIR/gen" -out "$SET/B" -seed "$BENCH_SEED" -mutate
	touch "$SET/.complete"
fi
bytes_of() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}'; }
A_BYTES=$(bytes_of "$SET/A")
B_BYTES=$(bytes_of "$SET/B")
A_FILES=$(find "$SET/A" -type f | wc -l)

SRC=$BENCH_DIR/src
RUN=$BENCH_DIR/run
LOGS=$BENCH_DIR/logs
TSV=$BENCH_DIR/results.tsv
MD=$BENCH_DIR/results.md
rm -rf "$LOGS"
mkdir -p "$LOGS"
printf 'tool\tversion\trep\tstep\twall_s\tuser_s\tsys_s\tmaxrss_kib\tdata_bytes\trepo_bytes\tstatus\n' >"$TSV"

# ---------------------------------------------------------------------------
# Per-tool commands. Every tool gets its own HOME, config and cache dirs under
# RUN, so runs do not share state.
tool_env() {
	local t=$1
	ENV=(env HOME="$RUN/home" XDG_CACHE_HOME="$RUN/home/.cache" XDG_CONFIG_HOME="$RUN/home/.config")
	case $t in
	shoebox) ENV+=(SHOEBOX_PASSWORD="$PASS") ;;
	restic*) ENV+=(RESTIC_REPOSITORY="$RUN/repo" RESTIC_PASSWORD="$PASS" RESTIC_CACHE_DIR="$RUN/cache") ;;
	borg) ENV+=(BORG_REPO="$RUN/repo" BORG_PASSPHRASE="$PASS" BORG_BASE_DIR="$RUN/home"
		BORG_DISPLAY_PASSPHRASE=no BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
		BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes) ;;
	kopia) ENV+=(KOPIA_PASSWORD="$PASS" KOPIA_CONFIG_PATH="$RUN/kopia.config" KOPIA_LOG_DIR="$RUN/kopia-logs"
		KOPIA_CACHE_DIRECTORY="$RUN/cache" KOPIA_CHECK_FOR_UPDATES=false KOPIA_PERSIST_CREDENTIALS_ON_CONNECT=false) ;;
	esac
}
# cmd TOOL ACTION [N]: sets CMD to the command line.
cmd() {
	local t=$1 x=${EXE[$1]}
	case $t:$2 in
	shoebox:init) CMD=("$x" init --repo "$RUN/repo") ;;
	shoebox:backup) CMD=("$x" backup --repo "$RUN/repo" "$SRC") ;;
	shoebox:restore) CMD=("$x" restore latest --repo "$RUN/repo" --target "$RUN/restore") ;;
	shoebox:check) CMD=("$x" check --read-data --repo "$RUN/repo") ;;
	restic*:init) CMD=("$x" init) ;;
	restic*:backup) CMD=("$x" backup -q "$SRC") ;;
	restic*:restore) CMD=("$x" restore latest -q --target "$RUN/restore") ;;
	restic*:check) CMD=("$x" check --read-data) ;;
	borg:init) CMD=("$x" init -e "$BENCH_BORG_ENCRYPTION") ;;
	borg:backup) CMD=("$x" create "::b$3" "$SRC") ;;
	borg:restore) CMD=(env -C "$RUN/restore" "$x" extract ::b3) ;;
	borg:check) CMD=("$x" check --verify-data) ;;
	kopia:init) CMD=("$x" repository create filesystem --path "$RUN/repo" --no-check-for-updates --no-persist-credentials) ;;
	kopia:backup) CMD=("$x" snapshot create --no-progress "$SRC") ;;
	kopia:restore) CMD=("$x" snapshot restore --no-progress "$SRC" "$RUN/restore") ;;
	kopia:check) CMD=("$x" snapshot verify --no-progress --verify-files-percent=100) ;;
	esac
}
# Where the restore put the source tree: restic, borg and shoebox recreate the
# absolute source path under the target, kopia restores the directory itself.
restored_root() {
	case $1 in kopia) echo "$RUN/restore" ;; *) echo "$RUN/restore$SRC" ;; esac
}

FAILURES=()
fail() { # tool rep message
	FAILURES+=("$1 rep $2: $3")
	printf '\n!!!!!!!!!! BENCH FAILURE: %s rep %s: %s !!!!!!!!!!\n\n' "$1" "$2" "$3" >&2
}

# step TOOL REP STEP DATA_BYTES ACTION [N]: runs one timed step, appends a TSV
# row; returns non-zero if the command failed.
step() {
	local t=$1 rep=$2 name=$3 bytes=$4 action=$5 n=${6:-} logf tf rc=0 wall user sys rss repo=- status=ok
	logf=$LOGS/$t-$rep-$name.log
	tf=$RUN/time.out
	cmd "$t" "$action" "$n"
	tool_env "$t"
	sync # earlier writeback must not land in this step's time
	printf '%s\n' "${CMD[*]}" >"$logf"
	/usr/bin/time -f '%e %U %S %M' -o "$tf" "${ENV[@]}" "${CMD[@]}" >>"$logf" 2>&1 || rc=$?
	read -r wall user sys rss < <(tail -n 1 "$tf") || true
	[[ ${rss:-} =~ ^[0-9]+$ ]] || { wall=0 user=0 sys=0 rss=0; }
	if ((rc != 0)); then
		status=FAIL
		fail "$t" "$rep" "$name: exit status $rc, log $logf"
		tail -n 20 "$logf" >&2
	fi
	[[ $name == mutated ]] && repo=$(du -sb "$RUN/repo" | cut -f1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${VERSION[$t]}" "$rep" "$name" \
		"$wall" "$user" "$sys" "$rss" "$bytes" "$repo" "$status" >>"$TSV"
	printf '    %-9s rep %s %-8s %7.2fs wall %7.2fs cpu %6d MiB rss %s\n' "$t" "$rep" "$name" "$wall" \
		"$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" $((rss >> 10)) "$status" >&2
	return $rc
}

# Marks a step as failed without running it (an earlier step failed).
skipped() {
	printf '%s\t%s\t%s\t%s\t-\t-\t-\t-\t%s\t-\tSKIP\n' "$1" "${VERSION[$1]}" "$2" "$3" "$4" >>"$TSV"
}

sync_src() { rsync -a --delete "$1/" "$SRC/"; }

# File modes and mtimes, directory modes (kopia does not restore directory
# mtimes as they were, so they are left out).
meta() {
	(cd "$1" && find . \( -type d -printf '%y %p %m\n' \) -o -printf '%y %p %s %m %T@\n' | sort)
}

run_one() { # tool rep
	local t=$1 rep=$2 s
	rm -rf "$RUN"
	mkdir -p "$RUN/home" "$RUN/cache" "$RUN/restore"
	sync_src "$SET/A"
	# Warm cache for every tool: read the whole source once.
	find "$SRC" -type f -print0 | xargs -0 cat >/dev/null
	cmd "$t" init
	tool_env "$t"
	if ! "${ENV[@]}" "${CMD[@]}" >"$LOGS/$t-$rep-init.log" 2>&1; then
		fail "$t" "$rep" "init failed, log $LOGS/$t-$rep-init.log"
		tail -n 20 "$LOGS/$t-$rep-init.log" >&2
		for s in initial nochange mutated restore check; do skipped "$t" "$rep" $s 0; done
		return
	fi
	step "$t" "$rep" initial "$A_BYTES" backup 1 &&
		step "$t" "$rep" nochange "$A_BYTES" backup 2 &&
		sync_src "$SET/B" &&
		step "$t" "$rep" mutated "$B_BYTES" backup 3 ||
		{ for s in restore check; do skipped "$t" "$rep" $s "$B_BYTES"; done; return; }
	if step "$t" "$rep" restore "$B_BYTES" restore; then
		local got
		got=$(restored_root "$t")
		if ! diff -r "$SRC" "$got" >"$LOGS/$t-$rep-diff.log" 2>&1; then
			fail "$t" "$rep" "RESTORE DOES NOT MATCH THE SOURCE (diff -r $SRC $got), see $LOGS/$t-$rep-diff.log"
			head -n 20 "$LOGS/$t-$rep-diff.log" >&2
			sed -i '$ s/\tok$/\tFAIL/' "$TSV"
		elif ! diff <(meta "$SRC") <(meta "$got") >"$LOGS/$t-$rep-meta.log"; then
			warn "$t rep $rep: restored contents match, but modes or mtimes differ ($LOGS/$t-$rep-meta.log):"
			head -n 6 "$LOGS/$t-$rep-meta.log" >&2
		fi
	fi
	step "$t" "$rep" check "$B_BYTES" check || true
	rm -rf "$RUN"
}

START=$(date +%s)
log "data set: $A_FILES files, $((A_BYTES >> 20)) MiB (mutated: $((B_BYTES >> 20)) MiB); tools: ${TOOLS[*]}; $BENCH_REPS reps"
log "page cache is warm for every step (we cannot drop it here); a sync precedes each step"
for ((rep = 1; rep <= BENCH_REPS; rep++)); do
	for t in "${TOOLS[@]}"; do
		log "rep $rep/$BENCH_REPS: $t ${VERSION[$t]}"
		run_one "$t" "$rep"
	done
done
rm -rf "$RUN" "$SRC"
ELAPSED=$(($(date +%s) - START))

# ---------------------------------------------------------------------------
{
	echo "# Shoebox benchmark"
	echo
	echo "Command: \`BENCH_SIZE=$BENCH_SIZE BENCH_REPS=$BENCH_REPS BENCH_SEED=$BENCH_SEED BENCH_TOOLS=\"${TOOLS[*]}\" bash bench/bench.sh\`"
	echo "(took $((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
	echo
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM," \
		"Linux $(uname -r), $fstype at $BENCH_DIR, $(go version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Data set: seed $BENCH_SEED, $A_FILES files, $((A_BYTES >> 20)) MiB (after mutation $((B_BYTES >> 20)) MiB)." \
		"Warm page cache for all steps; medians of $BENCH_REPS runs; a fresh repository per run."
	echo
	echo "| tool | version | settings |"
	echo "|---|---|---|"
	for t in "${TOOLS[@]}"; do echo "| $t | ${VERSION[$t]} | ${NOTE[$t]} |"; done
	echo
	"$BENCH_DIR/report" -tsv "$TSV" -tools "${TOOLS[*]}"
	if ((${#FAILURES[@]})); then
		echo
		echo "**FAILURES:**"
		echo
		for f in "${FAILURES[@]}"; do echo "- $f"; done
	fi
} >"$MD"
echo
cat "$MD"
echo
log "raw numbers: $TSV; table: $MD; logs: $LOGS"
if ((${#FAILURES[@]})); then
	printf '\nBENCH FAILED: %d failure(s):\n' "${#FAILURES[@]}" >&2
	printf '  %s\n' "${FAILURES[@]}" >&2
	exit 1
fi
