# shellcheck shell=bash
# Container images without Docker or a registry: root filesystems from debootstrap and local builds,
# packed by hand into OCI image layouts (oci-layout, index.json, blobs/sha256/*) and imported into each
# node's containerd with `ctr images import`. Layers are uncompressed tars: nothing crosses a network,
# so compression would only cost CPU, and an unchanged layer keeps its digest and is never re-imported.

KM_IMAGES=$PGFED_CACHE/images
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# sha_of FILE: sha256 of a layer, memoised next to it (layers are immutable once written).
sha_of() {
  local f=$1
  if [ ! -f "$f.sha256" ] || [ "$f.sha256" -ot "$f" ]; then
    sha256sum "$f" | cut -d' ' -f1 >"$f.sha256"
  fi
  cat "$f.sha256"
}

# oci_layout DIR NAME CONFIG-JSON LAYER...: write an OCI image layout in DIR for image NAME
# (fully qualified, e.g. docker.io/pgfed/pgfed:dev). CONFIG-JSON is the image's "config" object
# (Entrypoint, Cmd, Env, User, WorkingDir). Layer blobs are hard links, not copies.
oci_layout() {
  local dir=$1 name=$2 cfg=$3; shift 3
  rm -rf "$dir"; mkdir -p "$dir/blobs/sha256"
  local layers='[]' diffs='[]' l d s
  for l in "$@"; do
    d=$(sha_of "$l"); s=$(stat -c %s "$l")
    ln -f "$l" "$dir/blobs/sha256/$d" 2>/dev/null || cp "$l" "$dir/blobs/sha256/$d"
    layers=$(jq -c --arg d "sha256:$d" --argjson s "$s" \
      '. + [{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$d,size:$s}]' <<<"$layers")
    diffs=$(jq -c --arg d "sha256:$d" '. + [$d]' <<<"$diffs")
  done
  local config manifest cd md
  config=$(jq -cn --argjson c "$cfg" --argjson diffs "$diffs" \
    '{architecture:"amd64",os:"linux",config:$c,rootfs:{type:"layers",diff_ids:$diffs}}')
  cd=$(printf %s "$config" | sha256sum | cut -d' ' -f1)
  printf %s "$config" >"$dir/blobs/sha256/$cd"
  manifest=$(jq -cn --arg cd "sha256:$cd" --argjson cs "${#config}" --argjson layers "$layers" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$cd,size:$cs},layers:$layers}')
  md=$(printf %s "$manifest" | sha256sum | cut -d' ' -f1)
  printf %s "$manifest" >"$dir/blobs/sha256/$md"
  jq -cn --arg md "sha256:$md" --argjson ms "${#manifest}" --arg name "$name" \
    '{schemaVersion:2,manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$md,size:$ms,
      annotations:{"io.containerd.image.name":$name,"org.opencontainers.image.ref.name":($name|sub(".*:";""))}}]}' \
    >"$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

# qualify NAME: the name containerd's CRI looks up for an image written as NAME in a pod spec.
qualify() { case $1 in */*/*) echo "$1" ;; */*) echo "docker.io/$1" ;; *) echo "docker.io/library/$1" ;; esac; }

# ---- pause --------------------------------------------------------------------------------------
build_pause_layer() {
  local out
  out=$KM_IMAGES/pause-$(sha256sum "$KM_LIB/pause/main.go" | cut -c1-12)
  if [ ! -f "$out/.complete" ]; then
    log "building the pause binary"
    mkdir -p "$out/root"
    (cd "$KM_LIB/pause" && go_env && go build -trimpath -ldflags "-s -w" -o "$out/root/pause" .)
    tar --numeric-owner --owner=0 --group=0 -C "$out/root" -cf "$out/layer.tar" ./pause
    touch "$out/.complete"
  fi
  echo "$out/layer.tar"
}
build_pause_image() {
  local layer; layer=$(build_pause_layer)
  oci_layout "$KM_IMAGES/oci/pause" "$(qualify "$KM_PAUSE_IMAGE")" \
    '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$layer"
}

# ---- PostgreSQL operand ----------------------------------------------------------------------------
# A Debian bookworm minbase root filesystem with postgresql-15 and pgbouncer; the postgres user is
# uid/gid 26 (CloudNativePG's convention, so pod securityContexts carry over). Cached by the package
# versions the mirror offers, so a Debian point release rebuilds it and nothing else does.
KM_OPERAND_RECIPE=3   # bump when build_operand_layer changes what goes into the image
operand_key() {
  local pg pgb
  # debootstrap installs from the release suite (not -security/-updates): key by those versions.
  pg=$(apt-cache madison postgresql-15 2>/dev/null | awk -F' [|] ' '$3 ~ / bookworm\/main / {print $2; exit}')
  pgb=$(apt-cache madison pgbouncer 2>/dev/null | awk -F' [|] ' '$3 ~ / bookworm\/main / {print $2; exit}')
  { [ -n "$pg" ] && [ -n "$pgb" ]; } || die "apt-cache knows no postgresql-15/pgbouncer candidate; run apt-get update (tests/install-deps)"
  echo "bookworm-pg$pg-pgb$pgb-r$KM_OPERAND_RECIPE" | tr -c 'A-Za-z0-9.+_\n-' '_'
}
build_operand_layer() {
  local out; out=$KM_IMAGES/operand-$(operand_key)
  if [ ! -f "$out/.complete" ]; then
    log "building the operand root filesystem with debootstrap (first time: a few minutes)"
    rm -rf "$out"; mkdir -p "$out"
    local root=$out/rootfs
    mkdir -p "$PGFED_CACHE/debootstrap-debs"
    debootstrap --variant=minbase --cache-dir="$PGFED_CACHE/debootstrap-debs" \
      --include=postgresql-15,postgresql-client-15,pgbouncer,ca-certificates,procps,netbase,tzdata,locales \
      bookworm "$root" "$DEBIAN_MIRROR" >"$out/debootstrap.log" 2>&1 ||
      { tail -n 20 "$out/debootstrap.log" >&2; die "debootstrap failed (log: $out/debootstrap.log)"; }
    local m
    for m in proc sys dev/pts dev; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
    # The packages created a "main" cluster; operand pods create their own data directories.
    rm -rf "$root/var/lib/postgresql/15/main" "$root/etc/postgresql/15/main"
    # postgres becomes uid/gid 26; Debian's gid 26 is "tape", which a container has no use for.
    sed -i '/^tape:/d' "$root/etc/group" "$root/etc/gshadow"
    local ouid ogid
    ouid=$(awk -F: '$1=="postgres"{print $3}' "$root/etc/passwd")
    ogid=$(awk -F: '$1=="postgres"{print $3}' "$root/etc/group")
    sed -i "s/^postgres:x:$ouid:$ogid:/postgres:x:26:26:/" "$root/etc/passwd"
    sed -i "s/^postgres:x:$ogid:/postgres:x:26:/" "$root/etc/group"
    find "$root" -xdev -uid "$ouid" -exec chown -h 26 {} +
    find "$root" -xdev -gid "$ogid" -exec chgrp -h 26 {} +
    mkdir -p "$root/run/postgresql" "$root/var/lib/postgresql/data"
    chown 26:26 "$root/run/postgresql" "$root/var/lib/postgresql" "$root/var/lib/postgresql/data"
    chmod 2777 "$root/run/postgresql"
    echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
    chroot "$root" /usr/sbin/locale-gen >/dev/null 2>&1 || true
    # Slimmer layer, faster imports: no docs or translations, no LLVM JIT (postgres runs with JIT
    # silently unavailable when llvmjit.so is absent, which is the same as jit=off).
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
      "$root"/usr/share/i18n "$root"/usr/lib/x86_64-linux-gnu/libLLVM* "$root"/usr/lib/x86_64-linux-gnu/libz3.* \
      "$root"/usr/lib/postgresql/15/lib/llvmjit* "$root"/usr/lib/postgresql/15/lib/bitcode
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "${root:?}"/dev/* "${root:?}"/proc/* "${root:?}"/sys/*
    # shellcheck disable=SC2016  # dpkg-query's own ${...} format
    chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' >"$out/packages.txt"
    tar --numeric-owner --xattrs -C "$root" -cf "$out/layer.tar" .
    rm -rf "$root"
    touch "$out/.complete"
    log "operand layer: $(du -h "$out/layer.tar" | cut -f1)"
  fi
  echo "$out/layer.tar"
}
OPERAND_CONFIG='{"Cmd":["bash"],"User":"26","WorkingDir":"/var/lib/postgresql",
  "Env":["PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "PGDATA=/var/lib/postgresql/data/pgdata","LANG=en_US.UTF-8"]}'
build_operand_image() {
  local layer; layer=$(build_operand_layer)
  oci_layout "$KM_IMAGES/oci/postgresql" "$(qualify "$KM_PG_IMAGE")" "$OPERAND_CONFIG" "$layer"
}

# ---- pgfed -----------------------------------------------------------------------------------------
# The workspace's release binaries in /usr/local/bin on top of the operand layer (same digest, so every
# node already has it and only the small binaries layer is new after a Rust change).
PGFED_BINARIES="pgfed-operator manager pgfed-federation kubectl-pgfed"
# PGFED_CARGO_PROFILE picks another cargo profile (default release, as CI uses); its binaries are
# read from <target>/<profile> (dev -> debug).
cargo_target() { echo "${CARGO_TARGET_DIR:-$KM_REPO/target}"; }
cargo_profile() { echo "${PGFED_CARGO_PROFILE:-kind}"; }
cargo_out() { local p; p=$(cargo_profile); [ "$p" = dev ] && p=debug; echo "$(cargo_target)/$p"; }
build_pgfed_binaries() {
  log "cargo build --profile $(cargo_profile) (target dir $(cargo_target))"
  (cd "$KM_REPO" && cargo build --profile "$(cargo_profile)" --bins >&2)
}
build_pgfed_image() {
  local base; base=$(build_operand_layer)
  local rel; rel=$(cargo_out)
  local stage=$KM_IMAGES/pgfed-stage b
  rm -rf "$stage"; mkdir -p "$stage/root/usr/local/bin" "$stage/root/controller"
  for b in $PGFED_BINARIES; do
    [ -x "$rel/$b" ] || die "missing $rel/$b; build it with cargo build --release"
    cp "$rel/$b" "$stage/root/usr/local/bin/$b"
  done
  # Fixed mtimes and owners: the same binaries give the same layer digest.
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$stage/root" -cf "$stage/layer.tar" .
  rm -f "$stage/layer.tar.sha256"
  oci_layout "$KM_IMAGES/oci/pgfed" "$(qualify "$KM_PGFED_IMAGE")" "$PGFED_CONFIG" "$base" "$stage/layer.tar"
}
PGFED_CONFIG='{"Entrypoint":["/usr/local/bin/pgfed-operator"],"User":"26","WorkingDir":"/",
  "Env":["PATH=/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"]}'

# build_next_images: the second tags the e2e suite upgrades to (after build_pgfed_image).
# - pgfed/pgfed:dev-next: the pgfed image plus one small layer with a manager that is another build as
#   far as anything can tell (the same program with a trailer appended, so its SHA-256 differs); an
#   operator switched to it rolls that manager out to every instance in place.
# - pgfed/postgresql:15-next: the operand under a second name; a Cluster switched to it gets a rolling
#   update (the pod spec changed) without a second copy of the layer on any node.
build_next_images() {
  local stage=$KM_IMAGES/pgfed-next-stage
  rm -rf "$stage"; mkdir -p "$stage/root/usr/local/bin"
  cp "$(cargo_out)/manager" "$stage/root/usr/local/bin/manager"
  printf '\npgfed e2e: next build of the manager\n' >>"$stage/root/usr/local/bin/manager"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$stage/root" -cf "$stage/layer.tar" .
  oci_layout "$KM_IMAGES/oci/pgfed-next" "$(qualify "$KM_PGFED_NEXT_IMAGE")" "$PGFED_CONFIG" \
    "$(build_operand_layer)" "$KM_IMAGES/pgfed-stage/layer.tar" "$stage/layer.tar"
  oci_layout "$KM_IMAGES/oci/postgresql-next" "$(qualify "$KM_PG_NEXT_IMAGE")" "$OPERAND_CONFIG" \
    "$(build_operand_layer)"
}

# import_layout LAYOUT-DIR SOCKET: import into one containerd (namespace k8s.io, the CRI's). Blobs the
# node already holds (the shared base layer) are left out of the stream; containerd takes them from its
# content store.
import_layout() {
  local dir=$1 sock=$2 have f d
  have=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io content ls -q 2>/dev/null || true)
  local list=(oci-layout index.json)
  for f in "$dir"/blobs/sha256/*; do
    d=$(basename "$f")
    grep -qx "sha256:$d" <<<"$have" || list+=("blobs/sha256/$d")
  done
  tar -C "$dir" -chf - "${list[@]}" |
    "$(containerd_bin ctr)" -a "$sock" -n k8s.io images import --snapshotter overlayfs - >/dev/null
}
