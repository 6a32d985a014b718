#!/usr/bin/env bash
# Builds the orbit-server container image (Dockerfile at the repository root)
# without pulling anything: the two binaries are compiled here, static
# (CGO_ENABLED=0, -trimpath, -ldflags "-s -w -X main.version=<git describe>"),
# a build context is staged in a temporary folder, and buildah (or podman)
# builds the FROM scratch image from it. Prints the image and binary sizes.
#
#   ./scripts/build-image.sh              # image orbit-server:<version> and :latest
#   REV=HEAD ./scripts/build-image.sh     # the committed revision, not the work tree
#
# Environment:
#   REV            build the Go sources of this git revision (exported with
#                  `git archive` to a temporary folder) instead of the work
#                  tree; the Dockerfile is always the work tree's
#   IMAGE          image name (default orbit-server)
#   BUILDER        buildah, podman or docker (default: buildah if installed,
#                  else podman; docker needs a running Docker engine)
#   GOARCH         target architecture (default: the host's, from `go env GOARCH`)
#   CA_BUNDLE      CA certificates to copy in (default /etc/ssl/certs/ca-certificates.crt)
#   STORAGE_DRIVER containers/storage driver (default vfs: works without overlay
#                  or fuse; buildah and podman read this variable themselves)
#   BUILDAH_ISOLATION  default chroot (no RUN step exists, so nothing needs a
#                  runtime; chroot avoids needing namespaces)
#   KEEP_CONTEXT=1 keep the staged context and print where it is
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
	echo "build-image: $*" >&2
	exit 1
}

image=${IMAGE:-orbit-server}
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

command -v go >/dev/null || die "go is not on PATH (needed to compile the binaries)"
command -v git >/dev/null || die "git is not on PATH (needed for the version label)"
builder=${BUILDER:-}
if [ -z "$builder" ]; then
	if command -v buildah >/dev/null; then
		builder=buildah
	elif command -v podman >/dev/null; then
		builder=podman
	else
		die "neither buildah nor podman is installed; on Debian: apt-get install -y --no-install-recommends buildah"
	fi
fi
case "$builder" in
buildah | podman | docker) command -v "$builder" >/dev/null || die "BUILDER=$builder is not on PATH" ;;
*) die "BUILDER=$builder: want buildah, podman or docker" ;;
esac
if [ "$builder" = docker ] && ! docker info >/dev/null 2>&1; then
	die "BUILDER=docker: no Docker engine answers (docker info failed); use BUILDER=buildah or BUILDER=podman"
fi
[ -r "$ca_bundle" ] || die "CA bundle $ca_bundle is missing or unreadable (Debian: apt-get install -y ca-certificates, or set CA_BUNDLE)"
[ -s "$ca_bundle" ] || die "CA bundle $ca_bundle is empty"

git rev-parse --git-dir >/dev/null 2>&1 || die "$PWD is not a git work tree (the version comes from git describe)"
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
goarch=${GOARCH:-$(go env GOARCH)}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/orbit-image.XXXXXX")
ctx=$tmp/context
mkdir -p "$ctx"
if [ "${KEEP_CONTEXT:-}" = 1 ]; then
	echo "build-image: context kept in $ctx"
else
	trap 'rm -rf "$tmp"' EXIT
fi

src=$PWD
if [ -n "${REV:-}" ]; then
	revision=$(git rev-parse --verify "$REV^{commit}") || die "REV=$REV is not a commit of this repository"
	version=$(git describe --tags --always "$revision")
	src=$tmp/src
	mkdir -p "$src"
	git archive "$revision" | tar -x -C "$src"
else
	revision=$(git rev-parse HEAD)
	version=$(git describe --tags --always --dirty)
fi

echo "build-image: compiling orbit-server and orbit-bench $version (linux/$goarch, CGO_ENABLED=0) from ${REV:-the work tree}"
# Only orbit-server has main.version and main.revision variables (its
# `version` command prints them; a git archive has no VCS stamp);
# orbit-bench gets none (-X on a missing variable would be silently ignored).
(cd "$src" &&
	CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" go build -trimpath \
		-ldflags "-s -w -X main.version=$version -X main.revision=$revision" -o "$ctx/orbit-server" ./cmd/orbit-server &&
	CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" go build -trimpath \
		-ldflags "-s -w" -o "$ctx/orbit-bench" ./cmd/orbit-bench) ||
	die "go build failed (CGO_ENABLED=0 GOOS=linux GOARCH=$goarch) in ${REV:+REV=$REV export }$src"

mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/data"
cp "$ca_bundle" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
# The only account: orbit, 65532:65532, home /data, no shell in the image.
printf 'orbit:x:65532:65532:orbit:/data:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'orbit:x:65532:\n' >"$ctx/rootfs/etc/group"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group"
chmod 0755 "$ctx/orbit-server" "$ctx/orbit-bench" "$ctx/data"

tag="$image:$version"
echo "build-image: $builder building $tag (storage driver $STORAGE_DRIVER)"
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
	--platform "linux/$goarch" -f "$PWD/Dockerfile" -t "$tag" -t "$image:latest")
if [ "$builder" = buildah ]; then
	buildah bud --isolation "$BUILDAH_ISOLATION" --layers=false "${build_args[@]}" "$ctx"
else
	"$builder" build "${build_args[@]}" "$ctx"
fi

# Sizes: the binaries as copied in, and the image as the builder reports it
# (uncompressed layer size in local storage).
echo "build-image: built $tag"
for b in orbit-server orbit-bench; do
	printf 'build-image: %-13s %s bytes\n' "$b" "$(stat -c %s "$ctx/$b")"
done
printf 'build-image: image size    %s\n' "$("$builder" images --format '{{.Size}}' "$tag" | head -n1)"
