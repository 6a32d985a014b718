#!/usr/bin/env bash
# Installs the real backend servers that the test suite starts (idempotent).
# Each backend issue adds its server here: redis-server from Debian, Azurite
# from npm, binaries built with `go build` into .tools/, ...
#
# Memory needs nothing; Etcd runs embedded in the test binary (internal/testbackend).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
echo "install-test-backends: nothing to install for the providers in this build (Memory; Etcd is embedded in the tests)"
