#!/usr/bin/env bash
# `make demo`: a scripted tour of the shoebox command line on a plain
# folder (the daemon is `make run`): a repository ./var/demo-repo holding
# two snapshots of a small generated photo folder ./var/demo-photos, a
# restore compared with the original, and a full check. The README's quick
# start runs against what this leaves behind (TestDocExamples runs it so).
#
#   bash scripts/demo.sh SHOEBOX-BINARY VAR-DIR
set -euo pipefail
shoebox=$1
var=$2
mkdir -p "$var"
var=$(cd "$var" && pwd)
export SHOEBOX_REPO="$var/demo-repo"
export SHOEBOX_PASSWORD_FILE="$var/demo-passphrase"
[ -f "$SHOEBOX_PASSWORD_FILE" ] || echo "demo passphrase — change me" >"$SHOEBOX_PASSWORD_FILE"
chmod 600 "$SHOEBOX_PASSWORD_FILE"

# A camera's folder: RAW files, their JPEGs (upper-case names, as cameras
# write them) and sidecars; a phone's, in lower case. Random bytes: the
# tour shows deduplication across snapshots, not compression.
src="$var/demo-photos"
if [ ! -d "$src" ]; then
	mkdir -p "$src/2024/wedding" "$src/2024/phone"
	for i in $(seq 1 12); do
		n=$(printf %04d "$i")
		head -c $((1 << 20)) /dev/urandom >"$src/2024/wedding/DSC_$n.NEF"
		head -c $((256 << 10)) /dev/urandom >"$src/2024/wedding/DSC_$n.JPG"
		printf '<x:xmpmeta><rdf:Description xmp:Rating="%d"/></x:xmpmeta>\n' $((i % 6)) >"$src/2024/wedding/DSC_$n.xmp"
	done
	for i in $(seq 1 8); do
		head -c $((128 << 10)) /dev/urandom >"$src/2024/phone/img_$(printf %04d "$i").jpg"
	done
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

Repository:  $SHOEBOX_REPO (passphrase in $SHOEBOX_PASSWORD_FILE)
Try the README's quick start, from $(dirname "$var"):
  export PATH=\$PWD/bin:\$PATH
  export SHOEBOX_REPO=\$PWD/var/demo-repo SHOEBOX_PASSWORD_FILE=\$PWD/var/demo-passphrase
  shoebox find '*.nef'
TXT
