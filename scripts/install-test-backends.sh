#!/usr/bin/env bash
# Installs the real backend servers that the test suite starts (idempotent).
# Each backend issue adds its server here: redis-server from Debian, Azurite
# from npm, binaries built with `go build` into .tools/, ...
#
# Memory needs nothing; Etcd runs embedded in the test binary
# (internal/testbackend/etcdtest); Redis needs redis-server, redis-cli and
# redis-benchmark from Debian's redis-server package
# (internal/testbackend/redistest starts them); S3 needs versitygw, built
# with `go install` into .tools/bin (internal/testbackend/s3test finds it
# there or on PATH; gofakes3 runs in the test binary and needs nothing);
# Azure needs Azurite, installed with npm into .tools/azurite
# (internal/testbackend/azuritetest finds azurite-blob there or on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools

# apt_install PACKAGE... installs Debian packages unless every named program
# is already on PATH; as root or through sudo.
apt_install() {
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null; then
			sudo="sudo"
		else
			echo "install-test-backends: need root or sudo to apt-get install $*" >&2
			exit 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! $sudo apt-get install -y --no-install-recommends "$@"; then
		$sudo apt-get update
		$sudo apt-get install -y --no-install-recommends "$@"
	fi
}

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null; then
	echo "install-test-backends: redis-server present ($(redis-server --version | cut -d' ' -f3))"
else
	echo "install-test-backends: installing redis-server (Debian)"
	apt_install redis-server
fi

# systemd-analyze (Debian's systemd package; a fresh container has none)
# verifies deploy/systemd/orbit-server.service in deploy/systemd's tests.
if command -v systemd-analyze >/dev/null; then
	echo "install-test-backends: systemd-analyze present ($(systemd-analyze --version | head -n1))"
else
	echo "install-test-backends: installing systemd for systemd-analyze (Debian)"
	apt_install systemd
fi

# Chromium (Debian's chromium package, run headless) drives the status
# page's browser tests in server/statuspage (chromedp).
if [ -x /usr/bin/chromium ]; then
	echo "install-test-backends: chromium present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
else
	echo "install-test-backends: installing chromium (Debian) for the status page's browser tests"
	apt_install chromium
fi

# versitygw (Apache-2.0) is a standalone S3 server; `go install` builds it
# from the Go module proxy in about 2 minutes (84 MB). It is not added to
# PATH: s3test looks on PATH first, then in .tools/bin.
versitygw_version=v1.8.0
if command -v versitygw >/dev/null; then
	echo "install-test-backends: versitygw present on PATH ($(command -v versitygw))"
elif [ -x .tools/bin/versitygw ] && go version -m .tools/bin/versitygw 2>/dev/null | grep -q "github.com/versity/versitygw[[:space:]]*$versitygw_version[[:space:]]"; then
	echo "install-test-backends: versitygw present (.tools/bin/versitygw, $versitygw_version)"
else
	echo "install-test-backends: installing versitygw $versitygw_version into .tools/bin (go install, ~2 min)"
	GOBIN="$PWD/.tools/bin" go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
fi

# Azurite (MIT) is Microsoft's Azure Storage emulator, a Node.js program from
# npm; only its blob service (azurite-blob) is used. 3.35.0 is the last
# release that runs on Node 20 (3.36 needs Node 22); it declares Node >= 10,
# so Debian 12's own nodejs (Node 18) does too. It is not added to PATH:
# azuritetest looks on PATH first, then in .tools/azurite/node_modules/.bin.
azurite_version=3.35.0
if command -v azurite-blob >/dev/null; then
	echo "install-test-backends: azurite-blob present on PATH ($(command -v azurite-blob))"
elif [ -x .tools/azurite/node_modules/.bin/azurite-blob ] &&
	grep -q "\"version\": *\"$azurite_version\"" .tools/azurite/node_modules/azurite/package.json 2>/dev/null; then
	echo "install-test-backends: azurite present (.tools/azurite, $azurite_version)"
else
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "install-test-backends: installing nodejs and npm (Debian)"
		apt_install nodejs npm
	fi
	echo "install-test-backends: installing azurite $azurite_version into .tools/azurite (npm, ~30 s)"
	npm install --prefix .tools/azurite --no-audit --no-fund --loglevel=error "azurite@$azurite_version"
fi

# kube-apiserver (Apache-2.0) is the real Kubernetes API server; the
# Kubernetes provider's tests (internal/testbackend/kubetest) start it over an
# embedded etcd. There is no `go install` for it: a scratch module in
# .tools/kube-build requires k8s.io/kubernetes and replaces every published
# staging module (read from k8s.io/kubernetes's own go.mod, less the two
# samples that are not published) with its v0.x twin, then `go build`s
# cmd/kube-apiserver into .tools/bin. It is not added to PATH: kubetest looks
# on PATH first, then in .tools/bin.
# etcd for that API server runs as its own process (outside the test binary,
# which the race detector slows down): `go build` of go.etcd.io/etcd/server/v3
# at the version go.mod requires, into .tools/bin/etcd (~1 min cold, 36 MB).
# kubetest falls back to embedded etcd when it is missing.
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
if [ -x .tools/bin/etcd ] && go version -m .tools/bin/etcd 2>/dev/null | grep -q "go.etcd.io/etcd/server/v3[[:space:]]*$etcd_version[[:space:]]"; then
	echo "install-test-backends: etcd present (.tools/bin/etcd, $etcd_version)"
else
	echo "install-test-backends: building etcd $etcd_version into .tools/bin (go build, ~1 min)"
	mkdir -p .tools/bin
	go build -o .tools/bin/etcd go.etcd.io/etcd/server/v3
fi

kube_version=v1.37.2
kube_staging_version=v0.${kube_version#v1.}
if command -v kube-apiserver >/dev/null; then
	echo "install-test-backends: kube-apiserver present on PATH ($(command -v kube-apiserver))"
elif [ -x .tools/bin/kube-apiserver ] && go version -m .tools/bin/kube-apiserver 2>/dev/null | grep -q "k8s.io/kubernetes[[:space:]]*$kube_version[[:space:]]"; then
	echo "install-test-backends: kube-apiserver present (.tools/bin/kube-apiserver, $kube_version)"
else
	echo "install-test-backends: building kube-apiserver $kube_version into .tools/bin (go build, ~7.5 min cold on 2 cores, ~2.8 GB memory)"
	kube_mod=$(go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
	mkdir -p .tools/kube-build .tools/bin
	{
		echo "module orbit-kube-build"
		echo
		echo "go $(sed -n 's/^go //p' "$kube_mod")"
		echo
		echo "require k8s.io/kubernetes $kube_version"
		echo
		echo "replace ("
		sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*|\1|p' "$kube_mod" |
			grep -v -e '^k8s.io/sample-controller$' -e '^k8s.io/sample-cli-plugin$' |
			while read -r m; do echo "	$m => $m $kube_staging_version"; done
		echo ")"
	} >.tools/kube-build/go.mod
	rm -f .tools/kube-build/go.sum
	(cd .tools/kube-build &&
		GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$kube_version" &&
		GOFLAGS=-mod=mod go build -o ../bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver)
fi

# helm (Apache-2.0) is the Helm CLI; the chart's tests (deploy/helm) lint,
# render and apply deploy/helm/orbit with it, and scripts/gen-k8s-manifests.sh
# renders deploy/kubernetes/ with it. `go install` builds it from the Go
# module proxy into .tools/bin/helm (120 MB; ~4.5 min on 2 cores with empty
# caches, ~1 min 45 s after kube-apiserver, whose k8s.io modules it shares).
# It is not added to PATH: the tests look on PATH first, then in .tools/bin.
helm_version=v4.3.2
if command -v helm >/dev/null; then
	echo "install-test-backends: helm present on PATH ($(command -v helm))"
elif [ -x .tools/bin/helm ] && go version -m .tools/bin/helm 2>/dev/null | grep -q "helm.sh/helm/v4[[:space:]]*$helm_version[[:space:]]"; then
	echo "install-test-backends: helm present (.tools/bin/helm, $helm_version)"
else
	echo "install-test-backends: installing helm $helm_version into .tools/bin (go install, ~2-5 min)"
	GOBIN="$PWD/.tools/bin" go install "helm.sh/helm/v4/cmd/helm@$helm_version"
fi
