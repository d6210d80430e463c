#!/usr/bin/env bash
# Regenerates the gateway's Go code and OpenAPI document, and the cluster
# wire protocol's Go code, from the .proto files (the source of truth).
# Usage: gen.sh [OUTROOT]; OUTROOT defaults to the repository root, and
# `make proto-check` passes a temporary folder to see whether the
# committed code is current.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root}
tools=$root/bin/tools
export PATH=$tools:$PATH

# Pinned tool versions (../shared/DEPENDENCIES.md).
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.2
GRPC_GATEWAY=v2.32.0

if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/timestamp.proto ]; then
  bash "$root/scripts/apt-install.sh" --for "protoc (make proto)" protobuf-compiler libprotobuf-dev
  command -v protoc >/dev/null || { echo "gen.sh: no protoc on PATH after installing Debian's protobuf-compiler" >&2; exit 1; }
fi
want="protoc-gen-go@$PROTOC_GEN_GO protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC protoc-gen-grpc-gateway@$GRPC_GATEWAY protoc-gen-openapiv2@$GRPC_GATEWAY"
stamp=$tools/.proto-plugins
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing protoc plugins: $want" >&2
  mkdir -p "$tools"
  GOBIN=$tools go install google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO
  GOBIN=$tools go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC
  GOBIN=$tools go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$GRPC_GATEWAY \
    github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$GRPC_GATEWAY
  echo "$want" >"$stamp"
fi

cd "$root/gateway/proto"
mod=github.com/shoebox/shoebox
mkdir -p "$out/gateway/gen/shoeboxv1" "$out/gateway/openapi"
rm -f "$out"/gateway/gen/shoeboxv1/*.go
protoc -I . -I third_party -I /usr/include \
  --go_out="$out" --go_opt=module=$mod \
  --go-grpc_out="$out" --go-grpc_opt=module=$mod \
  --grpc-gateway_out="$out" --grpc-gateway_opt=module=$mod \
  --openapiv2_out="$out/gateway/openapi" --openapiv2_opt=allow_merge=true,merge_file_name=shoebox,disable_default_errors=false \
  shoebox/v1/*.proto

# The cluster wire protocol (cluster/proto): Go and gRPC code only. It is
# internal to a pair of units, so no REST gateway and no OpenAPI
# (docs/CLUSTER.md, "The wire protocol").
cd "$root/cluster/proto"
mkdir -p "$out/cluster/gen/clusterv1"
rm -f "$out"/cluster/gen/clusterv1/*.go
protoc -I . \
  --go_out="$out" --go_opt=module=$mod \
  --go-grpc_out="$out" --go-grpc_opt=module=$mod \
  shoebox/cluster/v1/*.proto
