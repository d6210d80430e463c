#!/usr/bin/env bash
# `make demo`: a scripted tour of the shoebox command line on a plain
# folder (the daemon is `make run`): a repository under ./var, a backup of
# the shared photo corpus (or a generated folder), a restore and a full
# check.
set -euo pipefail
shoebox=$1
var=$2
mkdir -p "$var"
export SHOEBOX_REPO="$var/demo-repo"
export SHOEBOX_PASSWORD_FILE="$var/demo-passphrase"
[ -f "$SHOEBOX_PASSWORD_FILE" ] || echo "demo passphrase — change me" > "$SHOEBOX_PASSWORD_FILE"

src="$(cd "$(dirname "$0")/../.." && pwd)/shared/testdata/media"
if [ ! -d "$src" ]; then
  src="$var/demo-photos"
  mkdir -p "$src/2024/wedding"
  for i in $(seq 1 20); do head -c $((1 << 20)) /dev/urandom > "$src/2024/wedding/DSC_$(printf %04d "$i").JPG"; done
  for i in $(seq 1 20); do printf '<x:xmpmeta><rdf:Description xmp:Rating="%d"/></x:xmpmeta>\n' "$i" > "$src/2024/wedding/DSC_$(printf %04d "$i").xmp"; done
fi

step() { printf '\n\033[1m$ shoebox %s\033[0m\n' "$*"; "$shoebox" "$@"; }
if [ ! -f "$SHOEBOX_REPO/config" ]; then
  step init
fi
step backup --tag demo "$src"
step snapshots
step backup --tag demo "$src"
rm -rf "$var/restore"
step restore latest --target "$var/restore"
diff -r "$src" "$var/restore$src"
echo "restored tree is identical to $src"
step check --read-data
step stats
cat <<TXT

Repository:  $SHOEBOX_REPO
Passphrase:  $SHOEBOX_PASSWORD_FILE
Try:         SHOEBOX_REPO=$SHOEBOX_REPO SHOEBOX_PASSWORD_FILE=$SHOEBOX_PASSWORD_FILE $shoebox find '*.CR2'
TXT
