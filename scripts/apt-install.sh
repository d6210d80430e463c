#!/usr/bin/env bash
# Installs the Debian packages a make target or script needs, when they are
# missing: the one place that calls apt-get (protoc for make proto, systemd
# for make unit-check, QEMU and smartmontools for make e2e-smart, the
# benchmark peers).
#
#   scripts/apt-install.sh [--for WHAT] PACKAGE...
#
# - Only packages dpkg does not list as installed are installed. When all
#   are, nothing runs: no apt-get update, no root needed.
# - Another apt or dpkg (unattended-upgrades, a second make) holding the
#   package manager's lock is waited for, up to APT_LOCK_TIMEOUT seconds
#   (default 300; apt's -o DPkg::Lock::Timeout), instead of failing at once.
# - apt-get update runs once before the install, so that a fresh machine's
#   empty or outdated package lists do not make the install fail.
# - On failure it names the packages, what they were for, apt's own error
#   lines and the command to run by hand, and exits 1: the caller stops
#   there with that message (never with a later, misleading one).
#
# As root it runs apt-get itself, otherwise through sudo.
set -euo pipefail

what=
if [ "${1:-}" = --for ]; then
	what=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--for WHAT] PACKAGE..." >&2; exit 2; }
for_what=${what:+ for $what}
timeout=${APT_LOCK_TIMEOUT:-300}

fail() { # message, then the command to run by hand
	printf 'apt-install: %s\n' "$1" >&2
	printf 'apt-install: next: %s\n' "$2" >&2
	exit 1
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
	fail "cannot install $*$for_what: this is not a Debian system (no dpkg-query or apt-get)" \
		"install the equivalent of the Debian packages $* with your system's package manager, then run the command again"
fi

missing=()
for p in "$@"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null ||
		fail "cannot install ${missing[*]}$for_what: not root and no sudo" \
			"as root: apt-get update && apt-get install ${missing[*]}"
	sudo=(sudo)
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$timeout" -q -y)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# errors prints apt's error and warning lines of the last run (or its tail).
errors() {
	grep -E '^(E|W|Err):' "$log" >&2 || tail -n 15 "$log" >&2
}

echo "apt-install: installing ${missing[*]}$for_what; another package manager is waited for up to ${timeout}s" >&2
if ! "${apt[@]}" update >"$log" 2>&1; then
	echo "apt-install: apt-get update failed; trying the install with the package lists there are:" >&2
	errors
fi
if ! "${apt[@]}" --no-install-recommends install "${missing[@]}" >"$log" 2>&1; then
	errors
	if grep -q 'Could not get lock' "$log"; then
		fail "could not install ${missing[*]}$for_what: another package manager held its lock for more than ${timeout}s" \
			"wait for it to finish (or set APT_LOCK_TIMEOUT to wait longer), then run the command again"
	fi
	fail "could not install ${missing[*]}$for_what: apt-get install failed (its errors above)" \
		"run ${sudo[*]:+${sudo[*]} }apt-get install ${missing[*]} to see why, then run the command again"
fi
