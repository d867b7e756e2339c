# shellcheck shell=bash
# The network: the host is the router between all regions ("peered VPCs"). Each node is a network
# namespace joined to the host by a veth /30; the host routes every node's pod /24 to that node and
# each region's service CIDR to the region's nodes (whose kube-proxy translates it), so pod IPs and
# ClusterIPs are reachable from every region and from the host, without NAT.
# Control-plane and object-store addresses live on a dummy interface (pgfed0) on the host: they must
# be non-loopback, because Kubernetes rejects loopback addresses in Endpoints.
# Faults are iptables rules in one chain, PGFED-FAULT, jumped to first from INPUT, FORWARD and OUTPUT.

KM_DUMMY=pgfed0

# Run a command inside a node's network namespace. nsenter, not `ip netns exec`: the latter remounts
# /sys and hides the cgroup hierarchies the kubelet needs.
in_netns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

net_host_up() {
  mkdir -p "$KM_STATE"
  [ -f "$KM_STATE/host-ip-forward" ] || sysctl -n net.ipv4.ip_forward >"$KM_STATE/host-ip-forward"
  sysctl -qw net.ipv4.ip_forward=1
  # A bridge with no ports stands in for a dummy interface (this kernel has no dummy driver).
  ip link show "$KM_DUMMY" >/dev/null 2>&1 || ip link add "$KM_DUMMY" type dummy 2>/dev/null || ip link add "$KM_DUMMY" type bridge
  ip link set "$KM_DUMMY" up
  local r
  for r in $(regions); do
    ip addr replace "$(region_api_ip "$r")/32" dev "$KM_DUMMY"
    ip addr replace "$(region_dns_ip "$r")/32" dev "$KM_DUMMY"
  done
  ip addr replace "$KM_S3_IP/32" dev "$KM_DUMMY"
  # PGFED-BASE: nothing from a node leaves the machine (no forwarding from pgf* to other interfaces).
  iptables -N PGFED-BASE 2>/dev/null || iptables -F PGFED-BASE
  iptables -A PGFED-BASE -i pgf+ ! -o pgf+ -j DROP
  iptables -C FORWARD -j PGFED-BASE 2>/dev/null || iptables -A FORWARD -j PGFED-BASE
  local c
  for c in IN FWD OUT; do iptables -N "PGFED-FAULT-$c" 2>/dev/null || iptables -F "PGFED-FAULT-$c"; done
  iptables -C INPUT -j PGFED-FAULT-IN 2>/dev/null || iptables -I INPUT 1 -j PGFED-FAULT-IN
  iptables -C FORWARD -j PGFED-FAULT-FWD 2>/dev/null || iptables -I FORWARD 1 -j PGFED-FAULT-FWD
  iptables -C OUTPUT -j PGFED-FAULT-OUT 2>/dev/null || iptables -I OUTPUT 1 -j PGFED-FAULT-OUT
}

# net_node_up R N: the node's namespace, its link to the host and the routes to its pods.
net_node_up() {
  local r=$1 n=$2 ns veth
  ns=$(node_netns "$r" "$n"); veth=$(node_veth "$r" "$n")
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip link add "$veth" type veth peer name "$veth-n"
  ip link set "$veth-n" netns "$ns"
  in_netns "$ns" ip link set "$veth-n" name eth0
  ip addr add "$(node_host_ip "$r" "$n")/30" dev "$veth"
  ip link set "$veth" up
  in_netns "$ns" ip addr add "$(node_ip "$r" "$n")/30" dev eth0
  in_netns "$ns" ip link set lo up
  in_netns "$ns" ip link set eth0 up
  in_netns "$ns" ip route add default via "$(node_host_ip "$r" "$n")"
  # A node forwards for its pods; bridged pod-to-pod traffic must traverse iptables so kube-proxy's
  # DNAT of ClusterIPs is undone on replies between pods on the same bridge.
  in_netns "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  modprobe br_netfilter 2>/dev/null || true
  in_netns "$ns" sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
    log "warning: br_netfilter sysctl unavailable in $ns; same-node Service hairpin may fail"
  ip route replace "$(node_pod_cidr "$r" "$n")" via "$(node_ip "$r" "$n")" dev "$veth"
}

# net_region_routes R: the region's ClusterIPs are reachable from outside the region through any of
# its nodes (ECMP over the nodes), as an internal load balancer in a peered VPC would do.
net_region_routes() {
  local r=$1 n hops=()
  for n in $(nodes); do hops+=(nexthop via "$(node_ip "$r" "$n")" dev "$(node_veth "$r" "$n")"); done
  ip route replace "$(region_svc_cidr "$r")" "${hops[@]}"
}

net_down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^pgfed-' || true); do ip netns del "$ns" || true; done
  ip link del "$KM_DUMMY" 2>/dev/null || true
  # Routes through the node links went away with the links.
  while iptables -D INPUT -j PGFED-FAULT-IN 2>/dev/null; do :; done
  while iptables -D FORWARD -j PGFED-FAULT-FWD 2>/dev/null; do :; done
  while iptables -D OUTPUT -j PGFED-FAULT-OUT 2>/dev/null; do :; done
  while iptables -D FORWARD -j PGFED-BASE 2>/dev/null; do :; done
  local c
  for c in PGFED-FAULT-IN PGFED-FAULT-FWD PGFED-FAULT-OUT PGFED-BASE; do
    if iptables -F "$c" 2>/dev/null; then iptables -X "$c" 2>/dev/null || true; fi
  done
  if [ -f "$KM_STATE/host-ip-forward" ]; then
    sysctl -qw net.ipv4.ip_forward="$(cat "$KM_STATE/host-ip-forward")"
  fi
}

# ---- faults ------------------------------------------------------------------------------------------
# Each cut is a set of rules tagged with a comment, so heal removes exactly that cut and no other.
fault_rules_del() {
  local tag=$1 c
  for c in PGFED-FAULT-IN PGFED-FAULT-FWD PGFED-FAULT-OUT; do
    iptables -S "$c" 2>/dev/null | { grep -F -- "--comment \"$tag\"" || true; } | sed 's/^-A /-D /' |
      while read -r rule; do eval "iptables $rule"; done
  done
}
fault_rules_list() { iptables -S PGFED-FAULT-IN; iptables -S PGFED-FAULT-FWD; iptables -S PGFED-FAULT-OUT; } 2>/dev/null

# cut_node R N: the node loses its only link: no traffic to or from the host (its API server), other
# nodes, other regions or the object store. Established connections stall, as with a pulled cable.
cut_node() {
  local veth tag; veth=$(node_veth "$1" "$2"); tag="pgfed cut-node $(node_name "$1" "$2")"
  fault_rules_del "$tag"
  iptables -A PGFED-FAULT-IN -i "$veth" -m comment --comment "$tag" -j DROP
  iptables -A PGFED-FAULT-FWD -i "$veth" -m comment --comment "$tag" -j DROP
  iptables -A PGFED-FAULT-FWD -o "$veth" -m comment --comment "$tag" -j DROP
  iptables -A PGFED-FAULT-OUT -o "$veth" -m comment --comment "$tag" -j DROP
}
heal_node() { fault_rules_del "pgfed cut-node $(node_name "$1" "$2")"; }

# cut_region R: the region is isolated from every other region and from the object store. Inside it,
# nodes still reach each other, their API server and their DNS (host addresses in 172.31.R.0/24); the
# other regions no longer reach those (its API server included, as if its control plane were in the
# lost region); the host can still administer it, because kubectl on the host is the test harness,
# not a region.
cut_region() {
  local r=$1 l tag o; l=$(region_letter "$r"); tag="pgfed cut-region $(region_name "$r")"
  fault_rules_del "$tag"
  iptables -A PGFED-FAULT-FWD -i "pgf-$l+" ! -o "pgf-$l+" -m comment --comment "$tag" -j DROP
  iptables -A PGFED-FAULT-FWD ! -i "pgf-$l+" -o "pgf-$l+" -m comment --comment "$tag" -j DROP
  iptables -A PGFED-FAULT-IN -i "pgf-$l+" ! -d "172.31.$r.0/24" -m comment --comment "$tag" -j DROP
  for ((o = 0; o < KM_REGIONS; o++)); do
    ((o == r)) && continue
    iptables -A PGFED-FAULT-IN -i "pgf-$(region_letter "$o")+" -d "172.31.$r.0/24" \
      -m comment --comment "$tag" -j DROP
  done
}
heal_region() { fault_rules_del "pgfed cut-region $(region_name "$1")"; }
