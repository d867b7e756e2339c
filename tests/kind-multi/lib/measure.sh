# shellcheck shell=bash
# measure_idle SECONDS: CPU (cores, averaged over the window) and memory (RSS) of the whole
# environment: host daemons by recorded pid (with their reaped children, e.g. the provisioner's
# kubectl calls) plus every node's cgroup subtree (kubelet, containerd, kube-proxy, shims, pods).
env_cpu_ticks() {
  local t=0 f p v
  for f in "$KM_STATE"/pids/*.pid; do
    p=$(cat "$f"); [ -r "/proc/$p/stat" ] || continue
    case $(basename "$f") in *-containerd.pid | *-kubelet.pid | *-kube-proxy.pid) continue ;; esac
    v=$(awk '{sub(/.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$p/stat")
    t=$((t + v))
  done
  # cgroup cpuacct is in ns; convert to clock ticks.
  local ns; ns=$(cat /sys/fs/cgroup/cpuacct/pgfed-kind/cpuacct.usage 2>/dev/null || echo 0)
  echo $((t + ns / (1000000000 / $(getconf CLK_TCK))))
}
env_rss_mib() {
  local kb=0 f p
  for f in "$KM_STATE"/pids/*.pid; do
    p=$(cat "$f"); [ -r "/proc/$p/status" ] || continue
    case $(basename "$f") in *-containerd.pid | *-kubelet.pid | *-kube-proxy.pid) continue ;; esac
    kb=$((kb + $(awk '/VmRSS/{print $2}' "/proc/$p/status")))
  done
  local node; node=$(awk '$1=="total_rss"{print $2}' /sys/fs/cgroup/memory/pgfed-kind/memory.stat 2>/dev/null || echo 0)
  echo $(((kb * 1024 + node) / 1048576))
}
measure_idle() {
  local secs=${1:-30} t1 t2
  t1=$(env_cpu_ticks); sleep "$secs"; t2=$(env_cpu_ticks)
  awk -v d=$((t2 - t1)) -v s="$secs" -v hz="$(getconf CLK_TCK)" -v m="$(env_rss_mib)" \
    'BEGIN{printf "idle over %ss: %.2f cores, %d MiB RSS\n", s, d / hz / s, m}'
}
