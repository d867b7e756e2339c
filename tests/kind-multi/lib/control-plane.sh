# shellcheck shell=bash
# Control planes run as host processes: one etcd shared by all regions (each API server keeps its
# data under its own --etcd-prefix), and per region kube-apiserver, kube-controller-manager,
# kube-scheduler and CoreDNS, all bound to the region's address on the dummy interface.

etcd_up() {
  daemon_alive etcd && return 0
  mkdir -p "$KM_STATE/etcd"
  # --unsafe-no-fsync: test data; fsync on a shared VM disk costs more than the whole control plane.
  start_daemon etcd "$KM_STATE/logs/etcd.log" "$(etcd_bin etcd)" --name pgfed-kind \
    --data-dir "$KM_STATE/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$KM_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$KM_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((KM_ETCD_PORT + 10))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((KM_ETCD_PORT + 10))" \
    --initial-cluster "pgfed-kind=http://127.0.0.1:$((KM_ETCD_PORT + 10))" \
    --listen-metrics-urls "" \
    --unsafe-no-fsync --snapshot-count 10000 --log-level warn
  wait_for "etcd" 60 "$(etcd_bin etcdctl)" --endpoints "127.0.0.1:$KM_ETCD_PORT" endpoint health
}

apiserver_up() {
  local r=$1 rd pki ip; rd=$(region_dir "$r"); pki=$rd/pki; ip=$(region_api_ip "$r")
  start_daemon "$(region_name "$r")-apiserver" "$rd/logs/kube-apiserver.log" "$(k8s_bin kube-apiserver)" \
    --advertise-address "$ip" --bind-address "$ip" --secure-port 6443 \
    --etcd-servers "http://127.0.0.1:$KM_ETCD_PORT" --etcd-prefix "/pgfed-kind/$(region_name "$r")" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer "https://kubernetes.default.svc.$KM_CLUSTER_DOMAIN" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$(region_svc_cidr "$r")" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --enable-aggregator-routing=true \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
    --profiling=false --event-ttl 1h
}

# controllers_up R: controller-manager and scheduler. No leader election: one instance each, and
# lease renewals every 2s would be most of an idle control plane's CPU.
controllers_up() {
  local r=$1 rd pki ip; rd=$(region_dir "$r"); pki=$rd/pki; ip=$(region_api_ip "$r")
  write_kubeconfig "$rd/controller-manager.kubeconfig" "$r" controller-manager
  write_kubeconfig "$rd/scheduler.kubeconfig" "$r" scheduler
  # Node pod CIDRs are fixed by the address plan (lib/common.sh) and written to the Node by up,
  # so the controller-manager does not allocate them.
  start_daemon "$(region_name "$r")-controller-manager" "$rd/logs/kube-controller-manager.log" \
    "$(k8s_bin kube-controller-manager)" \
    --kubeconfig "$rd/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$rd/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$rd/controller-manager.kubeconfig" \
    --bind-address "$ip" --secure-port 10257 \
    --tls-cert-file "$pki/controller-manager.crt" --tls-private-key-file "$pki/controller-manager.key" \
    --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --allocate-node-cidrs=false --cluster-cidr "$(region_pod_cidr "$r")" \
    --service-cluster-ip-range "$(region_svc_cidr "$r")" \
    --leader-elect=false --profiling=false
  start_daemon "$(region_name "$r")-scheduler" "$rd/logs/kube-scheduler.log" "$(k8s_bin kube-scheduler)" \
    --kubeconfig "$rd/scheduler.kubeconfig" \
    --authentication-kubeconfig "$rd/scheduler.kubeconfig" --authorization-kubeconfig "$rd/scheduler.kubeconfig" \
    --bind-address "$ip" --secure-port 10259 \
    --tls-cert-file "$pki/scheduler.crt" --tls-private-key-file "$pki/scheduler.key" \
    --leader-elect=false --profiling=false
}

# rbac_up R: identities of the host-side add-ons (CoreDNS, the volume provisioner), as a cluster
# would grant them to their ServiceAccounts.
rbac_up() {
  kctx "$1" apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:pgfed-coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:pgfed-coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:pgfed-coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:pgfed-coredns"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:pgfed-local-provisioner"}
rules:
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, update, patch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, delete, update, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:pgfed-local-provisioner"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:pgfed-local-provisioner"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:pgfed-local-provisioner"}]
EOF
}

# coredns_up R: the region's cluster DNS. It serves cluster.local and the same records under
# region-<x>.pgfed, and forwards every other region's zone to that region's CoreDNS, so a pod in any
# region resolves <svc>.<ns>.svc.region-a.pgfed to region-a's ClusterIP (routable, see network.sh).
coredns_up() {
  local r=$1 rd ip o; rd=$(region_dir "$r"); ip=$(region_dns_ip "$r")
  write_kubeconfig "$rd/coredns.kubeconfig" "$r" coredns
  {
    cat <<EOF
$KM_CLUSTER_DOMAIN:53 $(region_dns_zone "$r"):53 in-addr.arpa:53 {
  bind $ip
  errors
  kubernetes $KM_CLUSTER_DOMAIN $(region_dns_zone "$r") in-addr.arpa {
    kubeconfig $rd/coredns.kubeconfig $(region_name "$r")
    pods insecure
    ttl 5
  }
  cache 5
}
EOF
    for o in $(regions); do
      [ "$o" = "$r" ] && continue
      printf '%s:53 {\n  bind %s\n  errors\n  forward . %s\n  cache 5\n}\n' "$(region_dns_zone "$o")" "$ip" "$(region_dns_ip "$o")"
    done
    # Anything else gets NXDOMAIN: no names resolve off the machine.
    printf '.:53 {\n  bind %s\n  errors\n  template ANY ANY {\n    rcode NXDOMAIN\n  }\n}\n' "$ip"
  } >"$rd/Corefile"
  # The kubelets' resolv.conf for pods with dnsPolicy Default: the region's DNS, nothing external.
  printf 'nameserver %s\n' "$ip" >"$rd/resolv.conf"
  start_daemon "$(region_name "$r")-coredns" "$rd/logs/coredns.log" "$(coredns_bin)" -conf "$rd/Corefile"
}

control_plane_ready() {
  local r=$1
  kctx "$r" get --raw /readyz >/dev/null 2>&1
}
