# shellcheck shell=bash
# A node = a network namespace (network.sh) + a cgroup subtree + containerd, kubelet and kube-proxy
# running inside both. Every node has its own containerd root/state/sockets, runc root, CNI config and
# IPAM store and kubelet root, so nodes share nothing but the kernel and the mount namespace (which
# local volumes rely on: a PV's directory is visible to whichever node it is pinned to).

# node_cgroup R N: cgroup path of the node; kubelet's cgroupRoot. Daemons live in <path>/system,
# pods in <path>/kubepods (created by the kubelet).
node_cgroup() { echo "/pgfed-kind/$(node_name "$1" "$2")"; }

cg_hierarchies() { awk '$3=="cgroup"{print $2}' /proc/mounts; }

# cg_prepare PATH: create PATH in every v1 hierarchy; cpuset needs cpus/mems copied down before any
# process can join, and the kubelet insists that cgroupRoot exists everywhere.
cg_prepare() {
  local path=$1 h p acc
  for h in $(cg_hierarchies); do
    acc=$h
    for p in ${path//\// }; do
      mkdir -p "$acc/$p"
      if [ -f "$acc/cpuset.cpus" ] && [ -f "$acc/$p/cpuset.cpus" ]; then
        [ -n "$(cat "$acc/$p/cpuset.cpus")" ] || cat "$acc/cpuset.cpus" >"$acc/$p/cpuset.cpus"
        [ -n "$(cat "$acc/$p/cpuset.mems")" ] || cat "$acc/cpuset.mems" >"$acc/$p/cpuset.mems"
      fi
      acc=$acc/$p
    done
  done
}

# cg_pids PATH: every process in PATH's subtree (pids hierarchy, or the first one that exists).
cg_pids() {
  local path=$1 h
  for h in /sys/fs/cgroup/pids /sys/fs/cgroup/memory /sys/fs/cgroup/cpu; do
    if [ -d "$h$path" ]; then find "$h$path" -name cgroup.procs -exec cat {} + 2>/dev/null; return; fi
  done
}

# cg_kill PATH: SIGKILL the whole subtree until it is empty (forks racing the kill are caught by the loop).
cg_kill() {
  local path=$1 i pids
  for i in $(seq 1 50); do
    pids=$(cg_pids "$path" | sort -u)
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  log "warning: processes survive in cgroup $path: $(cg_pids "$path" | tr '\n' ' ')"
}

# cg_remove PATH: remove the (empty) cgroup subtree from every hierarchy, deepest first.
cg_remove() {
  local path=$1 h
  for h in $(cg_hierarchies); do
    if [ -d "$h$path" ]; then find "$h$path" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
}

node_configs() {
  local r=$1 n=$2 nd rd pki name
  nd=$(node_dir "$r" "$n"); rd=$(region_dir "$r"); pki=$rd/pki; name=$(node_name "$r" "$n")
  mkdir -p "$nd"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs,logs}
  cat >"$nd/containerd.toml" <<EOF
# containerd for node $name (config version 3 = containerd 2.x)
version = 3
root = '$nd/containerd/root'
state = '$nd/containerd/state'
# NRI listens on a fixed host path; nodes must not share it.
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = '$nd/containerd.sock'
[ttrpc]
  address = '$nd/containerd.sock.ttrpc'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$(qualify "$KM_PAUSE_IMAGE")'

[plugins.'io.containerd.cri.v1.runtime']
  # Pod network namespaces under this node's state dir, not the shared /var/run/netns: a stopped
  # node's namespaces can then be found and released.
  netns_mounts_under_state_dir = true
  # This machine's root lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj below 0;
  # the kubelet asks for -998 for sandboxes and -997 for Guaranteed pods. Clamp to containerd's own
  # score (0), as kind does when it runs in a user namespace; positive scores (Burstable,
  # BestEffort) are passed through unchanged.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$(command -v runc)'
        Root = '$nd/containerd/runc'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$nd/cni/net.d'
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
EOF
  # Bridge + host-local IPAM over the node's fixed pod /24; no masquerading: pod IPs are routed
  # between nodes and regions by the host (network.sh).
  cat >"$nd/cni/net.d/10-pgfed.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "pgfed",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$nd/cni/ipam",
        "ranges": [[{"subnet": "$(node_pod_cidr "$r" "$n")", "gateway": "$(node_pod_gw "$r" "$n")"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  write_kubeconfig "$nd/kubelet.kubeconfig" "$r" "node-$n"
  write_kubeconfig "$nd/kube-proxy.kubeconfig" "$r" kube-proxy
  cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/node-$n.crt
tlsPrivateKeyFile: $pki/node-$n.key
containerRuntimeEndpoint: unix://$nd/containerd.sock
# cgroup v1 with cgroupfs; every node's pods live under its own cgroup root.
cgroupDriver: cgroupfs
cgroupRoot: $(node_cgroup "$r" "$n")
failCgroupV1: false
failSwapOn: false
clusterDNS: [$(region_dns_ip "$r")]
clusterDomain: $KM_CLUSTER_DOMAIN
resolvConf: $rd/resolv.conf
podLogsDir: $nd/pod-logs
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
# Several nodes share one disk: thresholds relative to it would evict everywhere at once.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 60
# See restrict_oom_score_adj above: the kubelet cannot lower its own score either.
oomScoreAdj: 0
EOF
  cat >"$nd/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $nd/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $name
clusterCIDR: $(region_pod_cidr "$r")
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0   # no CAP_SYS_RESOURCE here, see restrict_oom_score_adj in containerd.toml
# Leave the (global) conntrack table size and timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# node_start R N: containerd, then kubelet and kube-proxy (start-node; up imports images in between).
node_start() { node_start_runtime "$1" "$2" && node_start_agents "$1" "$2"; }

node_start_runtime() {
  local r=$1 n=$2 nd ns name
  nd=$(node_dir "$r" "$n"); ns=$(node_netns "$r" "$n"); name=$(node_name "$r" "$n")
  cg_prepare "$(node_cgroup "$r" "$n")/system"
  # containerd finds containerd-shim-runc-v2 on PATH, next to itself.
  start_daemon "$name-containerd" "$nd/logs/containerd.log" \
    env PATH="$(dirname "$(containerd_bin containerd)"):$PATH" \
    "$KM_LIB/in-node" "$ns" "$(node_cgroup "$r" "$n")/system" "$(containerd_bin containerd)" --config "$nd/containerd.toml"
  wait_for "$name containerd" 60 "$(containerd_bin ctr)" -a "$nd/containerd.sock" version
}

node_start_agents() {
  local r=$1 n=$2 nd ns cg name
  nd=$(node_dir "$r" "$n"); ns=$(node_netns "$r" "$n"); cg=$(node_cgroup "$r" "$n")/system; name=$(node_name "$r" "$n")
  start_daemon "$name-kubelet" "$nd/logs/kubelet.log" \
    "$KM_LIB/in-node" "$ns" "$cg" "$(k8s_bin kubelet)" --config "$nd/kubelet.yaml" \
    --kubeconfig "$nd/kubelet.kubeconfig" --hostname-override "$name" --node-ip "$(node_ip "$r" "$n")" \
    --root-dir "$nd/kubelet" --cert-dir "$nd/kubelet/pki" \
    --node-labels "topology.kubernetes.io/region=$(region_name "$r"),topology.kubernetes.io/zone=$name"
  start_daemon "$name-kube-proxy" "$nd/logs/kube-proxy.log" \
    "$KM_LIB/in-node" "$ns" "$cg" "$(k8s_bin kube-proxy)" --config "$nd/kube-proxy.yaml"
}

# node_stop R N: power the node off. Every process of the node (daemons, shims, containers) is
# SIGKILLed; then what a reboot would clear is cleared — mounts under the node's runtime state and
# kubelet pod dirs, containerd's state dir (the node's /run). Its disk survives: containerd's content
# and snapshots, kubelet root and local volumes.
node_stop() {
  local r=$1 n=$2 nd name
  nd=$(node_dir "$r" "$n"); name=$(node_name "$r" "$n")
  cg_kill "$(node_cgroup "$r" "$n")"
  rm -f "$KM_STATE/pids/$name-containerd.pid" "$KM_STATE/pids/$name-kubelet.pid" "$KM_STATE/pids/$name-kube-proxy.pid"
  unmount_under "$nd/containerd/state"
  unmount_under "$nd/kubelet/pods"
  rm -rf "$nd/containerd/state" "$nd/containerd/runc"
}

# unmount_under DIR: lazily unmount every mount point below DIR, deepest first.
unmount_under() {
  local dir=$1
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$(printf '%b' "$m")" 2>/dev/null || true
  done
}

# node_register R N: the node's pod CIDR is fixed by the address plan (the CNI config above uses it);
# record it on the Node object as the controller-manager's IPAM would.
node_register() {
  local r=$1 n=$2 name cidr; name=$(node_name "$r" "$n"); cidr=$(node_pod_cidr "$r" "$n")
  if ! wait_for "node $name registered" 180 kctx "$r" get node "$name"; then
    # down removes the logs: show why here (a CI run keeps only its output).
    local nd; nd=$(node_dir "$r" "$n")
    for l in kubelet containerd; do
      log "last lines of $name's $l log:"
      tail -n 25 "$nd/logs/$l.log" >&2 2>/dev/null || true
    done
    return 1
  fi
  [ -n "$(kctx "$r" get node "$name" -o jsonpath='{.spec.podCIDR}')" ] ||
    kctx "$r" patch node "$name" --type merge -p "{\"spec\":{\"podCIDR\":\"$cidr\",\"podCIDRs\":[\"$cidr\"]}}" >/dev/null
}
