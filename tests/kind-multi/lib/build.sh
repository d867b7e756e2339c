#!/usr/bin/env bash
# Builds the upstream binaries the local driver runs, from the Go module proxy, once per version.
# The cache lives outside the repository (PGFED_CACHE, default /var/cache/pgfed) so later runs,
# other clones and CI on the same machine reuse it; a fresh machine builds it with this same script.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.1.9}
COREDNS_VERSION=${COREDNS_VERSION:-1.14.7}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
FAKE_GCS_VERSION=${FAKE_GCS_VERSION:-v1.56.1}
# CSI volume snapshots (lib/csi.sh): the external-provisioner and external-snapshotter releases (the
# latter also gives the snapshot CRDs, from its client module at the same version). v6.x of the
# provisioner needs Kubernetes 1.34+ (storage/v1 VolumeAttributesClass).
CSI_PROVISIONER_VERSION=${CSI_PROVISIONER_VERSION:-v6.4.0}
CSI_SNAPSHOTTER_VERSION=${CSI_SNAPSHOTTER_VERSION:-v8.7.0}
PGFED_CACHE=${PGFED_CACHE:-/var/cache/pgfed}
PGFED_BUILD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Azurite (npm) and its whole dependency tree are pinned by lib/azurite/package{,-lock}.json.
AZURITE_VERSION=$(sed -n 's/^ *"azurite": "\(.*\)"$/\1/p' "$PGFED_BUILD_LIB/azurite/package.json")

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# go_env: the Go build environment shared by every component; static binaries, local toolchain only.
go_env() {
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
  export GOCACHE=${GOCACHE:-$PGFED_CACHE/go-build}
}

# done_marker DIR: a component is cached when its directory holds a .complete marker written last.
is_cached() { [ -f "$1/.complete" ]; }

build_kubernetes() {
  local out=$PGFED_CACHE/kubernetes-v$K8S_VERSION
  is_cached "$out" && { echo "$out"; return; }
  log "building Kubernetes v$K8S_VERSION (first time: 20-45 min on 2 cores)"
  go_env
  local src; src=$(mktemp -d "$PGFED_CACHE/kbuild.XXXX")
  local staging=${K8S_VERSION/#1./0.}
  local mods="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
    code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
    kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
  {
    echo "module local/kbuild"
    echo "go 1.24"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    for m in $mods; do echo "replace k8s.io/$m => k8s.io/$m v$staging"; done
  } >"$src/go.mod"
  cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$src" && go mod tidy)
  local minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  mkdir -p "$out"
  (cd "$src" && go build -p 2 -trimpath -ldflags "$ld" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$src"
  touch "$out/.complete"
  echo "$out"
}

# build_module NAME VERSION MODULE-PATHS...: go install-style build of modules without replace directives.
build_module() {
  local name=$1 version=$2; shift 2
  local out=$PGFED_CACHE/$name-$version
  is_cached "$out" && { echo "$out"; return; }
  log "building $name $version"
  go_env
  mkdir -p "$out"
  local pkg
  for pkg in "$@"; do
    GOBIN=$out go install -trimpath -ldflags "-s -w" "$pkg@$version"
  done
  touch "$out/.complete"
  echo "$out"
}

build_etcd() {
  local out=$PGFED_CACHE/etcd-v$ETCD_VERSION
  is_cached "$out" && { echo "$out"; return; }
  log "building etcd v$ETCD_VERSION"
  go_env
  local src; src=$(mktemp -d "$PGFED_CACHE/ebuild.XXXX")
  printf 'module local/ebuild\ngo 1.24\nrequire (\n go.etcd.io/etcd/server/v3 v%s\n go.etcd.io/etcd/etcdctl/v3 v%s\n)\n' \
    "$ETCD_VERSION" "$ETCD_VERSION" >"$src/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "go.etcd.io/etcd/server/v3"\n\t_ "go.etcd.io/etcd/etcdctl/v3"\n)\n' >"$src/tools.go"
  (cd "$src" && go mod tidy)
  mkdir -p "$out"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 &&
    go build -trimpath -ldflags "-s -w" -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3)
  rm -rf "$src"
  touch "$out/.complete"
  echo "$out"
}

# containerd's go.mod has exclude directives, so `go install pkg@version` refuses it; a wrapper module
# builds the same packages. no_btrfs: the btrfs snapshotter needs cgo and is not used here.
build_containerd() {
  local v=v$CONTAINERD_VERSION out=$PGFED_CACHE/containerd-v$CONTAINERD_VERSION
  is_cached "$out" && { echo "$out"; return; }
  log "building containerd $v"
  go_env
  local src; src=$(mktemp -d "$PGFED_CACHE/cbuild.XXXX")
  printf 'module local/cbuild\ngo 1.24\nrequire github.com/containerd/containerd/v2 %s\n' "$v" >"$src/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/containerd/containerd/v2/cmd/containerd"\n\t_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"\n\t_ "github.com/containerd/containerd/v2/cmd/ctr"\n)\n' >"$src/tools.go"
  (cd "$src" && go mod tidy)
  mkdir -p "$out"
  local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$v"
  local p
  for p in containerd containerd-shim-runc-v2 ctr; do
    (cd "$src" && go build -trimpath -tags "no_btrfs urfave_cli_no_docs" -ldflags "$ld" -o "$out/$p" \
      "github.com/containerd/containerd/v2/cmd/$p")
  done
  rm -rf "$src"
  touch "$out/.complete"
  echo "$out"
}
# build_module_tree NAME MODULE VERSION PACKAGE...: build ./PACKAGE... inside the module's own tree (as
# the Go module proxy serves it), so its go.mod with its replace directives and its go.sum decide every
# dependency: `go install pkg@version` refuses modules with replace directives. A replace pointing at a
# directory of the same repository (a nested module, which the module zip leaves out) gets that module
# at the same version. The binaries carry VERSION in main.version.
build_module_tree() {
  local name=$1 mod=$2 version=$3; shift 3
  local out=$PGFED_CACHE/$name-$version
  is_cached "$out" && { echo "$out"; return; }
  log "building $name $version from $mod"
  go_env
  local dir src rep old new ndir pkg
  dir=$(go mod download -json "$mod@$version" | jq -r .Dir)
  [ -d "$dir" ] || { log "go mod download $mod@$version failed"; return 1; }
  src=$(mktemp -d "$PGFED_CACHE/tbuild.XXXX")
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  while read -r rep; do
    [ -n "$rep" ] || continue
    old=${rep%% *}; new=${rep#* }
    ndir=$(go mod download -json "$old@$version" | jq -r .Dir)
    [ -d "$ndir" ] || { log "go mod download $old@$version (replaced by $new) failed"; return 1; }
    mkdir -p "$src/$new"
    cp -r "$ndir/." "$src/$new/"
    chmod -R u+w "$src/$new"
  done < <(cd "$src" && go mod edit -json | jq -r '.Replace[]? | select(.New.Path | startswith("./")) | "\(.Old.Path) \(.New.Path)"')
  mkdir -p "$out"
  for pkg in "$@"; do
    (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out/" "./$pkg")
  done
  rm -rf "$src"
  touch "$out/.complete"
  echo "$out"
}

build_coredns() { build_module coredns "v$COREDNS_VERSION" github.com/coredns/coredns; }
build_minio() { build_module minio "$MINIO_VERSION" github.com/minio/minio; }
# Emulators for the manager's Google Cloud Storage and Azure Blob tests.
build_fake_gcs() { build_module fake-gcs-server "$FAKE_GCS_VERSION" github.com/fsouza/fake-gcs-server; }

# module_files DEST MODULE VERSION PATTERN...: copy files of a module (paths relative to its root,
# globs allowed) into DEST once; manifests are applied from these copies.
module_files() {
  local dest=$1 mod=$2 version=$3 dir p f; shift 3
  is_cached "$dest" && return 0
  dir=$(go_env && go mod download -json "$mod@$version" | jq -r .Dir)
  [ -d "$dir" ] || { log "go mod download $mod@$version failed"; return 1; }
  mkdir -p "$dest"
  for p in "$@"; do
    for f in "$dir"/$p; do
      [ -f "$f" ] || { log "$mod@$version has no $p"; return 1; }
      install -m 0644 "$f" "$dest/"
    done
  done
  touch "$dest/.complete"
}

# CSI sidecars and controllers (lib/csi.sh), with the RBAC manifests of their releases and the snapshot
# CRDs shipped in the snapshotter's client module.
build_csi_provisioner() {
  local out
  out=$(build_module_tree csi-provisioner github.com/kubernetes-csi/external-provisioner/v6 "$CSI_PROVISIONER_VERSION" \
    cmd/csi-provisioner) || return 1
  module_files "$out/deploy" github.com/kubernetes-csi/external-provisioner/v6 "$CSI_PROVISIONER_VERSION" \
    deploy/kubernetes/rbac.yaml || return 1
  echo "$out"
}
build_csi_snapshotter() {
  local out
  out=$(build_module_tree external-snapshotter github.com/kubernetes-csi/external-snapshotter/v8 "$CSI_SNAPSHOTTER_VERSION" \
    cmd/snapshot-controller cmd/csi-snapshotter) || return 1
  module_files "$out/deploy" github.com/kubernetes-csi/external-snapshotter/v8 "$CSI_SNAPSHOTTER_VERSION" \
    deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml \
    deploy/kubernetes/csi-snapshotter/rbac-csi-snapshotter.yaml || return 1
  module_files "$out/crd" github.com/kubernetes-csi/external-snapshotter/client/v8 "$CSI_SNAPSHOTTER_VERSION" \
    'config/crd/snapshot.storage.k8s.io_*.yaml' || return 1
  echo "$out"
}

# Azurite is a Node.js program: `npm ci` installs exactly the locked tree (integrity-checked) into
# the cache; the tests run <dir>/node_modules/.bin/azurite-blob.
install_azurite() {
  local out=$PGFED_CACHE/azurite-$AZURITE_VERSION
  is_cached "$out" && { echo "$out"; return; }
  command -v npm >/dev/null || { echo "npm not found: install nodejs and npm (tests/install-deps)" >&2; return 1; }
  log "installing azurite $AZURITE_VERSION with npm ci"
  mkdir -p "$out"
  cp "$PGFED_BUILD_LIB/azurite/package.json" "$PGFED_BUILD_LIB/azurite/package-lock.json" "$out/"
  npm ci --prefix "$out" --omit=dev --no-audit --no-fund --loglevel=error >&2
  touch "$out/.complete"
  echo "$out"
}

# The object store servers the instance-level tests (cargo test) run against.
build_test_servers() {
  mkdir -p "$PGFED_CACHE"
  build_minio >/dev/null
  build_fake_gcs >/dev/null
  install_azurite >/dev/null
}

# What only the Kubernetes tier runs: the control plane, the node pieces, DNS, the CSI sidecars.
build_cluster_parts() {
  mkdir -p "$PGFED_CACHE"
  build_etcd >/dev/null
  build_containerd >/dev/null
  build_coredns >/dev/null
  build_kubernetes >/dev/null
  build_csi_provisioner >/dev/null
  build_csi_snapshotter >/dev/null
}

build_all() {
  build_test_servers
  build_cluster_parts
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  "${1:-build_all}"
fi
