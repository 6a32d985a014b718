#!/usr/bin/env bash
# Checks the image scripts/build-image.sh built: exports it as an OCI layout
# (what a push would send) and checks its configuration and every file in it.
# Prints one line per check and exits non-zero when any check fails.
#
#   ./scripts/inspect-image.sh [IMAGE]     # default orbit-server:latest
#
# Checks: user 65532:65532; entrypoint /orbit-server and a serve command;
# ports 50051/tcp and 9464/tcp; working directory and volume /data owned by
# 65532; OCI labels source, version and revision; the files in the image
# are exactly the two binaries, /etc/passwd, /etc/group and the CA bundle;
# both binaries are static (no PT_INTERP, no dynamic section) and were built
# with CGO_ENABLED=0 and -trimpath; `orbit-server version` prints the
# version label (when the host cannot run the binary, the label's string
# must be in it); the uncompressed size is at most MAX_IMAGE_MB (default 160).
#
# Environment: BUILDER (buildah or podman, as for build-image.sh),
# STORAGE_DRIVER (default vfs), MAX_IMAGE_MB.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
	echo "inspect-image: $*" >&2
	exit 2
}

image=${1:-orbit-server:latest}
max_mb=${MAX_IMAGE_MB:-160}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

for tool in jq tar readelf file go; do
	command -v "$tool" >/dev/null || die "$tool is not on PATH (Debian: jq, tar, binutils, file; go from the Go toolchain)"
done
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/orbit-inspect.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
oci=$tmp/oci
case "$builder" in
buildah) buildah push --quiet "$image" "oci:$oci:check" >/dev/null || die "buildah push $image to an OCI layout failed (is the image built? make image)" ;;
podman) podman image save --quiet --format oci-dir -o "$oci" "$image" || die "podman image save $image failed (is the image built? make image)" ;;
*) die "BUILDER=$builder: want buildah or podman" ;;
esac

blob() { printf '%s/blobs/%s' "$oci" "${1/://}"; }
manifest=$(blob "$(jq -r '.manifests[0].digest' "$oci/index.json")")
config=$(blob "$(jq -r '.config.digest' "$manifest")")
cfg() { jq -c "$1" "$config"; }

failures=0
check() { # check NAME GOT WANT
	if [ "$2" = "$3" ]; then
		printf 'ok    %-34s %s\n' "$1" "$2"
	else
		printf 'FAIL  %-34s got %s, want %s\n' "$1" "$2" "$3"
		failures=$((failures + 1))
	fi
}
check_true() { # check_true NAME DETAIL COMMAND...
	local name=$1 detail=$2
	shift 2
	if "$@"; then
		printf 'ok    %-34s %s\n' "$name" "$detail"
	else
		printf 'FAIL  %-34s %s\n' "$name" "$detail"
		failures=$((failures + 1))
	fi
}

echo "inspect-image: $image ($builder, manifest $(jq -r '.manifests[0].digest' "$oci/index.json"))"
check "os" "$(cfg .os)" '"linux"'
check "user" "$(cfg .config.User)" '"65532:65532"'
check "entrypoint" "$(cfg .config.Entrypoint)" '["/orbit-server"]'
check "cmd" "$(cfg '.config.Cmd[0]')" '"serve"'
# shellcheck disable=SC2016 # $i is jq's variable
check "cmd --admin-addr" "$(cfg '.config.Cmd | index("--admin-addr") as $i | if $i then .[$i+1] else null end')" '"0.0.0.0:9464"'
check "exposed ports" "$(cfg '.config.ExposedPorts | keys')" '["50051/tcp","9464/tcp"]'
check "working directory" "$(cfg .config.WorkingDir)" '"/data"'
check "volumes" "$(cfg '.config.Volumes | keys')" '["/data"]'
check "stop signal" "$(cfg .config.StopSignal)" '"SIGTERM"'
label() { jq -r --arg k "org.opencontainers.image.$1" '.config.Labels[$k] // ""' "$config"; }
version=$(label version)
revision=$(label revision)
check_true "label source" "$(label source)" test -n "$(label source)"
check_true "label version" "$version" test -n "$version" -a "$version" != unknown
check_true "label revision" "$revision" grep -Eq '^[0-9a-f]{40}$' <<<"$revision"

# Layers, applied in order (no whiteouts are expected in a scratch image).
root=$tmp/rootfs
mkdir -p "$root"
listing=$tmp/listing
: >"$listing"
size=0
compressed=0
for d in $(jq -r '.layers[].digest' "$manifest"); do
	layer=$(blob "$d")
	compressed=$((compressed + $(stat -c %s "$layer")))
	tar --numeric-owner -tvf "$layer" >>"$listing"
	tar -xf "$layer" -C "$root" --no-same-owner
	size=$((size + $(tar -xOf "$layer" | wc -c)))
done
files=$(awk '$1 ~ /^-/ {print $6}' "$listing" | sed 's|^\./||; s|^/||' | sort -u | tr '\n' ' ')
check "regular files" "$files" "etc/group etc/passwd etc/ssl/certs/ca-certificates.crt orbit-bench orbit-server "
check_true "no shell" "bin/sh absent" test ! -e "$root/bin/sh"
data_owner=$(awk '$1 ~ /^d/ && ($6 == "data/" || $6 == "./data/" || $6 == "/data/" || $6 == "data") {print $2}' "$listing" | tail -n1)
check "/data owner" "$data_owner" "65532/65532"
check_true "passwd has 65532" "$(grep ':65532:65532:' "$root/etc/passwd" || true)" grep -q '^[a-z_][a-z0-9_-]*:x:65532:65532:' "$root/etc/passwd"
check_true "group has 65532" "$(grep ':65532:' "$root/etc/group" || true)" grep -q '^[a-z_][a-z0-9_-]*:x:65532:' "$root/etc/group"
certs=$(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt" || true)
check_true "CA certificates" "$certs certificates" test "$certs" -gt 0

for b in orbit-server orbit-bench; do
	bin=$root/$b
	check_true "$b executable" "$(stat -c '%A %s bytes' "$bin")" test -x "$bin"
	# shellcheck disable=SC2016 # $1 is the inner shell's argument
	check_true "$b static" "$(file -b "$bin" | grep -oE 'statically linked|dynamically linked|interpreter [^,]*' | paste -sd' ' || true); want no PT_INTERP, no dynamic section" \
		sh -c 'file -b "$1" | grep -q "statically linked" && ! readelf -lW "$1" | grep -q INTERP && readelf -d "$1" | grep -q "no dynamic section"' _ "$bin"
	info=$(go version -m "$bin" 2>&1 || true)
	check_true "$b CGO_ENABLED=0" "$(awk '$2 == "CGO_ENABLED=0" {print "build " $2}' <<<"$info")" grep -q $'^\tbuild\tCGO_ENABLED=0$' <<<"$info"
	check_true "$b -trimpath" "$(awk '$2 == "-trimpath=true" {print "build " $2}' <<<"$info")" grep -q $'^\tbuild\t-trimpath=true$' <<<"$info"
done
# -trimpath leaves -ldflags out of the build info, so the version is read
# from the binary itself: run it when the host can, else look for the string.
if [ "$(go env GOARCH)" = "$(cfg .architecture | tr -d '"')" ] && [ "$(uname -s)" = Linux ]; then
	printed=$("$root/orbit-server" version 2>&1 | head -n1 || true)
	check_true "orbit-server version" "$printed" grep -Fq -- "$version" <<<"$printed"
else
	check_true "orbit-server version (string)" "$version" grep -aFq -- "$version" "$root/orbit-server"
fi

mb=$(((size + 999999) / 1000000))
check_true "size (uncompressed layers)" "$size bytes, ${mb} MB <= ${max_mb} MB (compressed $compressed bytes)" test "$mb" -le "$max_mb"

if [ "$failures" -gt 0 ]; then
	echo "inspect-image: $failures check(s) failed for $image" >&2
	exit 1
fi
echo "inspect-image: every check passed for $image"
