# shellcheck shell=bash
# Storage: a default StorageClass "standard" (the name kind uses too) served by lib/provisioner, which
# creates node-local `local` PVs with node affinity under $KM_STATE/volumes/<node>/.

storage_up() {
  local r=$1 rd; rd=$(region_dir "$r")
  kctx "$r" apply -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: pgfed.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
YAML
  write_kubeconfig "$rd/provisioner.kubeconfig" "$r" provisioner
  mkdir -p "$KM_STATE/volumes"
  start_daemon "$(region_name "$r")-provisioner" "$rd/logs/provisioner.log" \
    "$KM_LIB/provisioner" "$(k8s_bin kubectl)" "$rd/provisioner.kubeconfig" "$KM_STATE/volumes"
}
