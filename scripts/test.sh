#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it: installs
# the backend servers, then runs every test with the race detector and with
# ORBIT_REQUIRE_BACKENDS=1, so that a missing backend fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-backends.sh
export ORBIT_REQUIRE_BACKENDS=1
echo "== go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go test -race"
go test -race -count=1 -timeout 30m ./...
