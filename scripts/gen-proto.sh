#!/usr/bin/env bash
# Regenerates the Go code of api/orbit/v1/orbit.proto. Needs protoc (Debian:
# apt-get install protobuf-compiler libprotobuf-dev); installs the Go plugins into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
GOBIN="$PWD/.tools" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$PWD/.tools" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PATH="$PWD/.tools:$PATH" protoc -I api -I /usr/include \
  --go_out=api --go_opt=paths=source_relative \
  --go-grpc_out=api --go-grpc_opt=paths=source_relative \
  api/orbit/v1/orbit.proto
echo "generated api/orbit/v1/*.pb.go"
