# shellcheck shell=bash
# CSI volume snapshots: a second StorageClass `csi-hostpath` served by a real CSI driver with
# snapshot support, and the VolumeSnapshot API (CRDs, snapshot-controller, VolumeSnapshotClass
# `csi-hostpath-snapclass`). The default StorageClass stays `standard` (storage.sh).
#
#  - external-provisioner and external-snapshotter (snapshot-controller, csi-snapshotter) are the
#    upstream releases pinned in build.sh, built from the Go module proxy; the snapshot CRDs and the
#    sidecars' and controller's ClusterRoles are applied from the files of those same modules.
#  - the driver is lib/csi-hostpath (ours: the upstream hostpath plugin and node-driver-registrar are
#    not served by the Go module proxy this machine reaches). Volumes are directories on one node;
#    a snapshot is a copy on the same node, so a volume restored from it lives on that node too.
#  - the driver runs once per node with its provisioner and snapshotter in node-deployment mode (each
#    handles the volumes of its own node): a DaemonSet per node, because each node's kubelet has its
#    own root directory on this shared host.
# Pods of the driver use images imported into each node's containerd by csi_up (imagePullPolicy Never).

KM_CSI_DRIVER=hostpath.csi.pgfed.io
KM_CSI_NS=csi-hostpath
KM_CSI_CLASS=csi-hostpath
KM_CSI_SNAPCLASS=csi-hostpath-snapclass
# Non-root identity of the sidecars and the snapshot-controller; the driver's socket is group-owned by it.
KM_CSI_UID=65532

csi_driver_src_hash() { cat "$KM_LIB"/csi-hostpath/*.go "$KM_LIB"/csi-hostpath/go.{mod,sum} | sha256sum | cut -c1-12; }
csi_image() {
  case $1 in
    csi-hostpath) echo "pgfed/csi-hostpath:$(csi_driver_src_hash)" ;;
    csi-provisioner) echo "pgfed/csi-provisioner:$CSI_PROVISIONER_VERSION" ;;
    csi-snapshotter | snapshot-controller) echo "pgfed/$1:$CSI_SNAPSHOTTER_VERSION" ;;
  esac
}
KM_CSI_IMAGES="csi-hostpath csi-provisioner csi-snapshotter snapshot-controller"

# binary_layer OUT-DIR BINARY: a layer holding BINARY as /<name> (root-owned, fixed mtime).
binary_layer() {
  local out=$1 bin=$2
  if [ ! -f "$out/.complete" ]; then
    rm -rf "$out"; mkdir -p "$out/root"
    cp "$bin" "$out/root/"
    tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$out/root" -cf "$out/layer.tar" "./$(basename "$bin")"
    rm -rf "$out/root"
    touch "$out/.complete"
  fi
  echo "$out/layer.tar"
}

# build_csi_images: the four images as OCI layouts under $KM_IMAGES/oci/ (binaries cached by version;
# the driver's by a hash of its source).
build_csi_images() {
  local hash out prov snap
  hash=$(csi_driver_src_hash)
  out=$KM_IMAGES/csi-hostpath-$hash
  if [ ! -f "$out/.complete" ]; then
    log "building the csi-hostpath driver"
    mkdir -p "$out/bin"
    (cd "$KM_LIB/csi-hostpath" && go_env && go build -trimpath -ldflags "-s -w -X main.version=$hash" -o "$out/bin/csi-hostpath" .)
    touch "$out/.complete"
  fi
  prov=$(build_csi_provisioner)
  snap=$(build_csi_snapshotter)
  local nonroot="\"User\":\"$KM_CSI_UID:$KM_CSI_UID\""
  oci_layout "$KM_IMAGES/oci/csi-hostpath" "$(qualify "$(csi_image csi-hostpath)")" \
    '{"Entrypoint":["/csi-hostpath"],"User":"0"}' "$(binary_layer "$out/layer" "$out/bin/csi-hostpath")"
  oci_layout "$KM_IMAGES/oci/csi-provisioner" "$(qualify "$(csi_image csi-provisioner)")" \
    "{\"Entrypoint\":[\"/csi-provisioner\"],$nonroot}" \
    "$(binary_layer "$KM_IMAGES/csi-provisioner-$CSI_PROVISIONER_VERSION" "$prov/csi-provisioner")"
  local b
  for b in csi-snapshotter snapshot-controller; do
    oci_layout "$KM_IMAGES/oci/$b" "$(qualify "$(csi_image "$b")")" "{\"Entrypoint\":[\"/$b\"],$nonroot}" \
      "$(binary_layer "$KM_IMAGES/$b-$CSI_SNAPSHOTTER_VERSION" "$snap/$b")"
  done
}

# csi_import_images R N: import the CSI images a node lacks (a running node: up imports the others
# before its kubelet starts; this also serves an environment that was up before CSI existed).
csi_import_images() {
  local sock have i
  sock=$(node_dir "$1" "$2")/containerd.sock
  have=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io images ls -q 2>/dev/null || true)
  for i in $KM_CSI_IMAGES; do
    grep -qx "$(qualify "$(csi_image "$i")")" <<<"$have" || import_layout "$KM_IMAGES/oci/$i" "$sock"
  done
}

# upstream_docs R FILE KIND: the documents of FILE (YAML) of that kind, as JSON objects, one per line.
upstream_docs() {
  kctx "$1" create --dry-run=client -o json -f "$2" |
    jq -c --arg k "$3" 'if .kind == "List" then .items[] else . end | select(.kind == $k)'
}

# csi_up R: install (or update; every step is idempotent) the snapshot API and the driver in region R.
# Every step returns on failure itself: callers use `csi_up R || die`, where errexit is off.
csi_up() {
  local r=$1 n snapdir provdir pids=() p
  snapdir=$(build_csi_snapshotter) || return 1
  provdir=$(build_csi_provisioner) || return 1
  for n in $(nodes); do csi_import_images "$r" "$n" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || return 1; done

  # The snapshot API: CRDs as the release ships them (server-side apply: they are too large for the
  # last-applied annotation), then the controller with the release's RBAC.
  kctx "$r" apply --server-side --force-conflicts --field-manager pgfed-kind -f "$snapdir/crd/" >/dev/null || return 1
  kctx "$r" wait --for condition=Established --timeout 60s \
    crd/volumesnapshots.snapshot.storage.k8s.io crd/volumesnapshotcontents.snapshot.storage.k8s.io \
    crd/volumesnapshotclasses.snapshot.storage.k8s.io >/dev/null || return 1
  kctx "$r" apply -f "$snapdir/deploy/rbac-snapshot-controller.yaml" >/dev/null || return 1
  # The sidecars' ClusterRoles from their releases (their ServiceAccounts and leader-election Roles
  # are for another layout: ours are bound below).
  { upstream_docs "$r" "$provdir/deploy/rbac.yaml" ClusterRole &&
    upstream_docs "$r" "$snapdir/deploy/rbac-csi-snapshotter.yaml" ClusterRole
  } | kctx "$r" apply -f - >/dev/null || return 1
  csi_manifests "$r" | kctx "$r" apply -f - >/dev/null || return 1
  for n in $(nodes); do csi_node_manifest "$r" "$n"; done | kctx "$r" apply -f - >/dev/null || return 1
  kctx "$r" -n kube-system rollout status deployment/snapshot-controller --timeout 120s >/dev/null || return 1
  for n in $(nodes); do
    kctx "$r" -n "$KM_CSI_NS" rollout status "daemonset/csi-hostpath-$(node_name "$r" "$n")" --timeout 120s >/dev/null || return 1
    wait_for "$KM_CSI_DRIVER registered on $(node_name "$r" "$n")" 60 csi_registered "$r" "$n" || return 1
  done
}

csi_registered() {
  kctx "$1" get csinode "$(node_name "$1" "$2")" -o jsonpath='{.spec.drivers[*].name}' | grep -qw "$KM_CSI_DRIVER"
}

# cluster_role_binding NAME NAMESPACE/SERVICEACCOUNT CLUSTERROLE: one binding, as a YAML document.
cluster_role_binding() {
  cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "$1"}
subjects: [{kind: ServiceAccount, name: ${2#*/}, namespace: ${2%%/*}}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "$3"}
EOF
}

# csi_manifests R: what a region has once: namespace, RBAC bindings, the snapshot-controller,
# CSIDriver, StorageClass and VolumeSnapshotClass.
csi_manifests() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $KM_CSI_NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: csi-hostpath-node, namespace: $KM_CSI_NS}
automountServiceAccountToken: false
$(cluster_role_binding csi-hostpath-provisioner "$KM_CSI_NS/csi-hostpath-node" external-provisioner-runner)
$(cluster_role_binding csi-hostpath-snapshotter "$KM_CSI_NS/csi-hostpath-node" external-snapshotter-runner)
---
# --enable-distributed-snapshotting labels each VolumeSnapshotContent with the node of its volume
# (from the PV's node affinity), which needs the nodes; the release's RBAC does not grant them.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "pgfed:snapshot-controller-nodes"}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}]
$(cluster_role_binding pgfed:snapshot-controller-nodes kube-system/snapshot-controller pgfed:snapshot-controller-nodes)
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: snapshot-controller, namespace: kube-system, labels: {app.kubernetes.io/name: snapshot-controller}}
spec:
  replicas: 1
  # One instance without leader election (lease renewals would cost an idle region CPU): never two.
  strategy: {type: Recreate}
  selector: {matchLabels: {app.kubernetes.io/name: snapshot-controller}}
  template:
    metadata: {labels: {app.kubernetes.io/name: snapshot-controller}}
    spec:
      serviceAccountName: snapshot-controller
      priorityClassName: system-cluster-critical
      securityContext: {runAsNonRoot: true, runAsUser: $KM_CSI_UID, runAsGroup: $KM_CSI_UID, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: snapshot-controller
        image: $(csi_image snapshot-controller)
        imagePullPolicy: Never
        # Group snapshots off: the driver has no group controller service, and with the gate on a
        # controller without the VolumeGroupSnapshot CRDs waits 30 s at start before running without.
        args: [--leader-election=false, --enable-distributed-snapshotting, --feature-gates=CSIVolumeGroupSnapshot=false, --v=2]
        resources: {requests: {cpu: 10m, memory: 20Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: $KM_CSI_DRIVER}
spec:
  attachRequired: false
  podInfoOnMount: false
  # The kubelet applies a pod's fsGroup to the volume's files.
  fsGroupPolicy: File
  volumeLifecycleModes: [Persistent]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $KM_CSI_CLASS}
provisioner: $KM_CSI_DRIVER
# The scheduler picks the node first; that node's provisioner creates the volume there.
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: $KM_CSI_SNAPCLASS}
driver: $KM_CSI_DRIVER
deletionPolicy: Delete
EOF
}

# csi_node_manifest R N: the driver on one node, with its provisioner and snapshotter.
# Paths are the host's: the kubelet passes host paths (under its root dir) to the driver, so the
# driver sees the kubelet's pods directory at the same path, with bidirectional propagation.
csi_node_manifest() {
  local r=$1 n=$2 name nd plugdir
  name=$(node_name "$r" "$n"); nd=$(node_dir "$r" "$n"); plugdir=$nd/kubelet/plugins/$KM_CSI_DRIVER
  local sidecar_sc="{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: $KM_CSI_UID, runAsGroup: $KM_CSI_UID, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}"
  local sidecar_env="[{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]"
  local sidecar_mounts="[{name: socket-dir, mountPath: /csi}, {name: api-token, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}]"
  cat <<EOF
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: csi-hostpath-$name, namespace: $KM_CSI_NS, labels: {app.kubernetes.io/name: csi-hostpath}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: csi-hostpath, pgfed.io/node: $name}}
  template:
    metadata: {labels: {app.kubernetes.io/name: csi-hostpath, pgfed.io/node: $name}}
    spec:
      nodeSelector: {kubernetes.io/hostname: $name}
      tolerations: [{operator: Exists}]
      priorityClassName: system-node-critical
      serviceAccountName: csi-hostpath-node
      # Only the sidecars talk to the API server: the token is mounted into them alone.
      automountServiceAccountToken: false
      containers:
      - name: csi-hostpath
        image: $(csi_image csi-hostpath)
        imagePullPolicy: Never
        args:
        - -node-id=\$(NODE_NAME)
        - -endpoint=/csi/csi.sock
        - -kubelet-endpoint=$plugdir/csi.sock
        - -registration-dir=/registration
        - -socket-group=$KM_CSI_UID
        - -data-dir=/csi-data
        env: $sidecar_env
        # Bind mounts onto the kubelet's pod directories need privileges (and propagate back out).
        securityContext: {privileged: true}
        livenessProbe:
          exec: {command: [/csi-hostpath, -probe, -endpoint=/csi/csi.sock]}
          periodSeconds: 20
          timeoutSeconds: 6
        resources: {requests: {cpu: 10m, memory: 20Mi}}
        volumeMounts:
        - {name: socket-dir, mountPath: /csi}
        - {name: registration-dir, mountPath: /registration}
        - {name: pods-dir, mountPath: $nd/kubelet/pods, mountPropagation: Bidirectional}
        - {name: data-dir, mountPath: /csi-data}
      - name: csi-provisioner
        image: $(csi_image csi-provisioner)
        imagePullPolicy: Never
        args: [--csi-address=/csi/csi.sock, --node-deployment, --node-deployment-immediate-binding=false,
               --strict-topology, --immediate-topology=false, --extra-create-metadata, --timeout=300s, --v=2]
        env: $sidecar_env
        securityContext: $sidecar_sc
        resources: {requests: {cpu: 10m, memory: 20Mi}}
        volumeMounts: $sidecar_mounts
      - name: csi-snapshotter
        image: $(csi_image csi-snapshotter)
        imagePullPolicy: Never
        # CreateSnapshot copies the volume before it returns: allow for large volumes.
        args: [--csi-address=/csi/csi.sock, --node-deployment, --extra-create-metadata, --timeout=300s,
               --feature-gates=CSIVolumeGroupSnapshot=false, --v=2]
        env: $sidecar_env
        securityContext: $sidecar_sc
        resources: {requests: {cpu: 10m, memory: 20Mi}}
        volumeMounts: $sidecar_mounts
      volumes:
      - {name: socket-dir, hostPath: {path: $plugdir, type: DirectoryOrCreate}}
      - {name: registration-dir, hostPath: {path: $nd/kubelet/plugins_registry, type: Directory}}
      - {name: pods-dir, hostPath: {path: $nd/kubelet/pods, type: Directory}}
      - {name: data-dir, hostPath: {path: $KM_STATE/csi-hostpath/$name, type: DirectoryOrCreate}}
      - name: api-token
        projected:
          sources:
          - serviceAccountToken: {path: token, expirationSeconds: 3600}
          - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
          - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
EOF
}

# csi_snapshot_check R NS: the snapshot round trip on the csi-hostpath class, in namespace NS (which
# must exist) of region R: a pod writes 1 MiB of random bytes to a new volume, a VolumeSnapshot of it
# becomes readyToUse, a new claim restores it (dataSource VolumeSnapshot) and a pod on the same node
# (where the snapshot lives) reads the same bytes back. Prints the time of each step; returns non-zero
# on the first failure (the timeouts only bound a hang).
csi_snapshot_check() {
  local r=$1 ns=$2 t0 t node want got
  t0=$(date +%s.%N); t=$t0
  csi_k() { kctx "$r" -n "$ns" "$@"; }
  csi_step() {
    local now; now=$(date +%s.%N)
    log "csi check: $1 ($(awk "BEGIN{printf \"%.1f\", $now - $t}")s)"
    t=$now
  }
  csi_check_pod() { # NAME CLAIM SCRIPT [NODE]
    cat <<POD
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 26, runAsGroup: 26}
  ${4:+nodeSelector: {kubernetes.io/hostname: $4\}}
  containers:
  - {name: c, image: $KM_PG_IMAGE, imagePullPolicy: Never, command: [bash, -ec, '$3'], volumeMounts: [{name: v, mountPath: /data}]}
  volumes: [{name: v, persistentVolumeClaim: {claimName: $2}}]
POD
  }
  csi_pod_done() { [ "$(csi_k get pod "$1" -o jsonpath='{.status.phase}')" = Succeeded ]; }
  csi_k apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: source}
spec: {storageClassName: $KM_CSI_CLASS, accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
---
$(csi_check_pod writer source 'head -c 1048576 /dev/urandom >/data/payload; sync; sha256sum </data/payload')
EOF2
  wait_for "writer pod" 120 csi_pod_done writer || { csi_k describe pod writer | tail -n 20 >&2; return 1; }
  want=$(csi_k logs writer)
  node=$(csi_k get pod writer -o jsonpath='{.spec.nodeName}')
  csi_step "volume provisioned on $node and written (sha256 ${want%% *})"
  csi_k apply -f - >/dev/null <<EOF2
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: snap}
spec: {volumeSnapshotClassName: $KM_CSI_SNAPCLASS, source: {persistentVolumeClaimName: source}}
EOF2
  csi_k wait --for=jsonpath='{.status.readyToUse}'=true volumesnapshot/snap --timeout=120s >/dev/null ||
    { csi_k describe volumesnapshot snap | tail -n 20 >&2; return 1; }
  csi_step "VolumeSnapshot readyToUse ($(csi_k get volumesnapshot snap -o jsonpath='{.status.restoreSize}'), content $(csi_k get volumesnapshot snap -o jsonpath='{.status.boundVolumeSnapshotContentName}'))"
  csi_k apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: restored}
spec:
  storageClassName: $KM_CSI_CLASS
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap}
---
$(csi_check_pod reader restored 'sha256sum </data/payload' "$node")
EOF2
  wait_for "reader pod" 120 csi_pod_done reader || { csi_k describe pod reader | tail -n 20 >&2; csi_k describe pvc restored | tail -n 10 >&2; return 1; }
  got=$(csi_k logs reader)
  [ "$got" = "$want" ] || { log "csi check: restored bytes differ: wrote $want, read $got"; return 1; }
  csi_step "restored into a new volume on $node, same bytes read back"
  log "csi check: snapshot/restore round trip in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")s"
}
