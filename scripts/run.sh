#!/usr/bin/env bash
# `make run`: shoeboxd on the embedded demo configuration: three
# file-backed disks under ./var in a 2+1 array, a demo passphrase, a watched
# folder ./var/inbox, and https://localhost:8443 (self-signed).
set -euo pipefail
bin=$1
var=$2
mkdir -p "$var/disks/disk1" "$var/disks/disk2" "$var/disks/disk3" "$var/inbox" "$var/state"
var=$(cd "$var" && pwd)
[ -f "$var/demo-passphrase" ] || echo "demo passphrase — change me" >"$var/demo-passphrase"
chmod 600 "$var/demo-passphrase"
cat >"$var/shoeboxd.yaml" <<YAML
# Demo configuration written by make run (docs/DAEMON.md explains every key).
state_dir: $var/state
listen: localhost:8443
listen_http: localhost:8080   # only redirects to https; a credential sent here is revoked
gateway:
  require_totp: false         # demo only: a real box makes everyone enrol a second factor
disks:
  members: [$var/disks/disk1, $var/disks/disk2, $var/disks/disk3]
  data: 2
  parity: 1
  allow_same_drive: true   # demo only: the three "disks" are folders on one drive
repository:
  passphrase_file: $var/demo-passphrase
sources:
  - name: inbox
    path: $var/inbox
    mode: continuous
    settle: 2s
    retention: {keep_last: 50, keep_daily: 30}
smart:
  every: 30m
YAML
cat <<TXT
Shoebox demo
  config:      $var/shoeboxd.yaml
  disks:       $var/disks/disk{1,2,3} (2+1 array)
  watched:     $var/inbox   <- drop photos here; they are backed up within seconds
  state:       $var/state   (TLS certificate, API token, disk health history)
  health:      curl -k https://localhost:8443/healthz
  metrics:     curl -k https://localhost:8443/metrics
  status:      SHOEBOX_STATE_DIR=$var/state $bin/shoebox status
  repository:  SHOEBOX_REPO=raid:$var/disks/disk1,$var/disks/disk2,$var/disks/disk3 SHOEBOX_PASSWORD_FILE=$var/demo-passphrase $bin/shoebox snapshots
  API:         https://localhost:8443/v1/...  (OpenAPI: https://localhost:8443/openapi.json; docs/GATEWAY.md)
  log in:      user "owner", password in $var/state/gateway/INITIAL-PASSWORD.txt (made at first start), e.g.
                 curl -k https://localhost:8443/v1/auth/login -d '{"username":"owner","password":"…"}'
  phone:       SHOEBOX_STATE_DIR=$var/state $bin/shoebox pair-phone   (QR code with the certificate pin)
Stop with Ctrl-C.
TXT
exec "$bin/shoeboxd" -config "$var/shoeboxd.yaml"
