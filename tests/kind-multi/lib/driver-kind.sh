# shellcheck shell=bash
# kind driver: the same topology on any Docker host (the user's CI), with kind instead of the local
# processes. Shared with the local driver: the address plan (pod/service CIDRs per region), the
# images (lib/images.sh, loaded with `kind load image-archive`), the contexts (region-a, ...), the
# kubeconfig and s3.env locations, the StorageClass name (kind's own "standard", local-path
# provisioner, WaitForFirstConsumer, node affinity) and the smoke test.
# Differences, by construction of kind: a control-plane node per region in addition to the workers;
# kindnet masquerades pod traffic leaving a cluster, so cross-region pod traffic arrives from the
# sender's node IP, not its pod IP; node faults act on Docker containers.
# NOT RUN on the development machine (no Docker there).

kind_cluster() { echo "pgfed-$(region_name "$1")"; }
# kind_node R N: worker container name of node N (region-a-n1 -> pgfed-region-a-worker, n2 -> worker2).
kind_node() { local s=""; [ "$2" -gt 1 ] && s=$2; echo "$(kind_cluster "$1")-worker$s"; }

kind_up() {
  local c
  for c in kind docker; do command -v "$c" >/dev/null || die "the kind driver needs $c on PATH"; done
  source "$KM_LIB/images.sh"
  source "$KM_LIB/s3.sh"
  phase_start "kind: images"
  build_operand_image
  local have_pgfed=false
  [ -x "$(cargo_out)/pgfed-operator" ] && build_pgfed_image && have_pgfed=true
  phase_end
  phase_start "kind: clusters"
  local r n cfgs=()
  for r in $(regions); do
    {
      echo "kind: Cluster"
      echo "apiVersion: kind.x-k8s.io/v1alpha4"
      echo "name: $(kind_cluster "$r")"
      echo "networking: {podSubnet: $(region_pod_cidr "$r"), serviceSubnet: $(region_svc_cidr "$r"), kubeProxyMode: iptables}"
      echo "nodes:"
      echo "- role: control-plane"
      for n in $(nodes); do
        echo "- role: worker"
        echo "  labels: {topology.kubernetes.io/region: $(region_name "$r"), topology.kubernetes.io/zone: $(node_name "$r" "$n")}"
      done
    } >"$KM_STATE/kind-$(region_name "$r").yaml"
    kind create cluster --config "$KM_STATE/kind-$(region_name "$r").yaml" \
      --kubeconfig "$KM_STATE/kind-$(region_name "$r").kubeconfig" --wait 5m
    "$(kind_kubectl)" --kubeconfig "$KM_STATE/kind-$(region_name "$r").kubeconfig" \
      config rename-context "kind-$(kind_cluster "$r")" "$(region_name "$r")" >/dev/null
    cfgs+=("$KM_STATE/kind-$(region_name "$r").kubeconfig")
  done
  KUBECONFIG=$(IFS=:; echo "${cfgs[*]}") "$(kind_kubectl)" config view --flatten >"$KM_KUBECONFIG"
  chmod 600 "$KM_KUBECONFIG"
  phase_end
  phase_start "kind: cross-region routes and DNS"
  kind_routes
  kind_dns
  phase_end
  phase_start "kind: load images, object store"
  kind_load_layout "$KM_IMAGES/oci/postgresql"
  $have_pgfed && kind_load_layout "$KM_IMAGES/oci/pgfed"
  kind_s3_up
  phase_end
}

kind_kubectl() { kubectl_bin; }

# Every node of every region gets a route to every other node's pod CIDR and to every other region's
# service CIDR (via that region's first worker): the same "peered VPC" routing the local driver has.
kind_routes() {
  local r o node ip cidr nodes_o
  for r in $(regions); do
    for node in $(kind get nodes --name "$(kind_cluster "$r")"); do
      for o in $(regions); do
        [ "$o" = "$r" ] && continue
        nodes_o=$(kctx "$o" get nodes -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address} {.spec.podCIDR}{"\n"}{end}')
        while read -r ip cidr; do
          [ -n "$cidr" ] && docker exec "$node" ip route replace "$cidr" via "$ip"
        done <<<"$nodes_o"
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(kind_node "$o" 1)")
        docker exec "$node" ip route replace "$(region_svc_cidr "$o")" via "$ip"
      done
    done
  done
}

# Each region's CoreDNS also answers <svc>.<ns>.svc.region-<x>.pgfed for itself and forwards the
# other regions' zones to their kube-dns ClusterIP (routable through kind_routes).
kind_dns() {
  local r o extra corefile
  for r in $(regions); do
    extra="$(region_dns_zone "$r"):53 {
    errors
    kubernetes $(region_dns_zone "$r") {
      pods insecure
    }
    cache 5
}"
    for o in $(regions); do
      [ "$o" = "$r" ] && continue
      extra="$extra
$(region_dns_zone "$o"):53 {
    errors
    forward . $(kctx "$o" -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP}')
    cache 5
}"
    done
    corefile=$(kctx "$r" -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
    kctx "$r" -n kube-system create configmap coredns --from-literal=Corefile="$corefile
$extra" --dry-run=client -o yaml | kctx "$r" apply -f - >/dev/null
    # CoreDNS needs to list endpointslices etc. for the extra zone: it already can (same plugin).
    kctx "$r" -n kube-system rollout restart deployment coredns >/dev/null
  done
}

kind_load_layout() {
  local dir=$1 r tar; tar=$(mktemp --suffix .tar)
  tar -C "$dir" -chf "$tar" .
  for r in $(regions); do kind load image-archive "$tar" --name "$(kind_cluster "$r")"; done
  rm -f "$tar"
}

kind_s3_up() {
  docker rm -f pgfed-kind-s3 >/dev/null 2>&1 || true
  docker run -d --name pgfed-kind-s3 --network kind -e MINIO_ROOT_USER="$KM_S3_USER" \
    -e MINIO_ROOT_PASSWORD="$KM_S3_PASSWORD" minio/minio server /data >/dev/null
  local ip; ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' pgfed-kind-s3)
  KM_S3_IP=$ip
  wait_for "object store" 120 docker exec pgfed-kind-s3 sh -c \
    "mc alias set l http://127.0.0.1:9000 $KM_S3_USER $KM_S3_PASSWORD >/dev/null 2>&1 && mc ready l"
  local r buckets=""
  {
    echo "S3_ENDPOINT=http://$ip:9000"; echo "AWS_ENDPOINT_URL=http://$ip:9000"
    echo "AWS_ACCESS_KEY_ID=$KM_S3_USER"; echo "AWS_SECRET_ACCESS_KEY=$KM_S3_PASSWORD"; echo "AWS_DEFAULT_REGION=us-east-1"
    for r in $(regions); do
      docker exec pgfed-kind-s3 mc mb -p "l/$(s3_bucket "$r")" >/dev/null
      echo "S3_BUCKET_$(region_letter "$r" | tr "[:lower:]" "[:upper:]")=$(s3_bucket "$r")"; buckets="$buckets $(s3_bucket "$r")"
    done
    echo "S3_BUCKETS=\"${buckets# }\""
  } >"$KM_STATE/s3.env"
}

kind_down() {
  local r
  for r in $(regions); do kind delete cluster --name "$(kind_cluster "$r")" || true; done
  docker rm -f pgfed-kind-s3 >/dev/null 2>&1 || true
}

kind_fault() {
  local kind=$1; shift
  local r n node
  case $kind in
    delete-pod)
      if [ "${3:-}" = --force ]; then kc --context "$1" -n "${2%%/*}" delete pod "${2#*/}" --grace-period=0 --force --wait=false
      else kc --context "$1" -n "${2%%/*}" delete pod "${2#*/}" --wait=false; fi ;;
    kill-process)
      local ns=${2%%/*} pod=${2#*/} id
      node=$(kc --context "$1" -n "$ns" get pod "$pod" -o jsonpath='{.spec.nodeName}')
      id=$(kc --context "$1" -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
      docker exec "$node" sh -c "kill -KILL \$(crictl inspect -o go-template --template '{{.info.pid}}' ${id#containerd://})" ;;
    stop-node | start-node | cut-node | heal-node)
      read -r r n <<<"$(parse_node "$1")"; node=$(kind_node "$r" "$n")
      case $kind in
        stop-node) docker stop "$node" ;;
        start-node) docker start "$node" ;;
        cut-node) docker inspect -f '{{.NetworkSettings.Networks.kind.IPAddress}}' "$node" >"$KM_STATE/$node.ip"
          docker network disconnect kind "$node" ;;
        heal-node) docker network connect --ip "$(cat "$KM_STATE/$node.ip")" kind "$node" ;;
      esac ;;
    cut-region | heal-region)
      # Approximation: every worker of the region leaves the kind network (its control plane stays
      # reachable to the test harness only through Docker's port mapping).
      r=$(region_index "$1")
      for n in $(nodes); do kind_fault "${kind/region/node}" "$(node_name "$r" "$n")"; done ;;
    stop-s3) docker stop pgfed-kind-s3 ;;
    start-s3) docker start pgfed-kind-s3 ;;
    *) die "unknown fault $kind" ;;
  esac
}
