#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (make fuzz).
#
# Go 1.26's fuzz coordinator can report "context deadline exceeded" as a
# failure when -fuzztime runs out while a worker is still busy on a
# loaded machine (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input under testdata/fuzz and says "Failing input
# written"; such a run fails at once. A bare deadline report with no
# input written is that coordinator race: the target is run once more,
# and fails if it happens again.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-8s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() { # pkg target
	"$GO" test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=2s "$1" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

coordinator_race() {
	grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"
}

for pkg in $("$GO" list ./...); do
	for f in $("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== fuzz $pkg $f ($FUZZTIME)"
		run "$pkg" "$f" && continue
		if coordinator_race; then
			echo "== fuzz $pkg $f: the fuzz coordinator's deadline race (golang/go#75804), no input written; running it again"
			run "$pkg" "$f" && continue
		fi
		echo "== fuzz $pkg $f failed"
		exit 1
	done
done
