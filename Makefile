# Orbit — the two commands of the README and a few helpers.
.PHONY: run test test-short build image image-check bench lint

# Run the server on its embedded default (memory provider, backup in ./data).
run:
	go run ./cmd/orbit-server serve

# Install the real backend servers and run the whole suite (-race, backends required).
test:
	./scripts/test.sh

# Plain `go test ./...`: backend tests whose server is absent are skipped.
test-short:
	go test ./...

# The version and commit `orbit-server version` prints (empty outside a git
# checkout: the binary then reports its build info, or "devel").
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)

build:
	mkdir -p bin && go build -ldflags "-X main.version=$(VERSION) -X main.revision=$(REVISION)" -o bin/orbit-server ./cmd/orbit-server && go build -o bin/orbit-bench ./cmd/orbit-bench

# The container image (Dockerfile, FROM scratch, static binaries), built
# offline with buildah or podman; REV=HEAD builds the last commit instead of
# the work tree. docs/deploy.md describes both targets.
image:
	./scripts/build-image.sh

# Checks the built image: user 65532, entrypoint, ports, labels, static binaries, size.
image-check:
	./scripts/inspect-image.sh $(or $(IMAGE),orbit-server):latest

bench:
	go test -run '^$$' -bench . -benchtime 2s ./persistence/memory/
	go test -run '^$$' -bench BenchmarkEtcd -benchtime 3s ./persistence/etcd/

lint:
	go vet ./... && test -z "$$(gofmt -l $$(git ls-files '*.go'))"
