# shellcheck shell=bash
# Real X.509 material per region, made with openssl: a cluster CA, serving and client certificates for
# every component (the user a component acts as is its certificate's CN, its groups the O fields, as in
# any kubeadm cluster), a front-proxy CA for the aggregation layer, and a service-account key pair.
# Keys are ECDSA P-256: fast to generate on every up, accepted by every Kubernetes component.

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# pki_ca DIR NAME CN
pki_ca() {
  new_key "$1/$2.key"
  openssl req -x509 -new -key "$1/$2.key" -subj "/CN=$3" -days 3650 -out "$1/$2.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# pki_cert DIR CA NAME SUBJECT EXTKEYUSAGE [SANS]: SUBJECT like "/O=system:masters/CN=admin";
# EXTKEYUSAGE serverAuth, clientAuth or both; SANS like "DNS:x,IP:1.2.3.4".
pki_cert() {
  local dir=$1 ca=$2 name=$3 subj=$4 eku=$5 sans=${6:-}
  new_key "$dir/$name.key"
  local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku"
  [ -n "$sans" ] && ext="$ext
subjectAltName=$sans"
  openssl req -new -key "$dir/$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial -days 365 \
      -extfile <(printf '%s\n' "$ext") -out "$dir/$name.crt" 2>/dev/null
}

# pki_region R: everything region R's control plane and nodes use, in <region dir>/pki.
pki_region() {
  local r=$1 dir; dir=$(region_dir "$r")/pki
  mkdir -p "$dir"
  local rn; rn=$(region_name "$r")
  pki_ca "$dir" ca "pgfed-kind $rn CA"
  pki_ca "$dir" front-proxy-ca "pgfed-kind $rn front-proxy CA"
  pki_cert "$dir" ca apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$KM_CLUSTER_DOMAIN,DNS:localhost,DNS:$rn,IP:127.0.0.1,IP:$(region_svc_first_ip "$r"),IP:$(region_api_ip "$r")"
  pki_cert "$dir" ca apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  pki_cert "$dir" front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
  pki_cert "$dir" ca admin "/O=system:masters/CN=pgfed-kind-admin" clientAuth
  pki_cert "$dir" ca controller-manager "/CN=system:kube-controller-manager" clientAuth,serverAuth "IP:$(region_api_ip "$r")"
  pki_cert "$dir" ca scheduler "/CN=system:kube-scheduler" clientAuth,serverAuth "IP:$(region_api_ip "$r")"
  pki_cert "$dir" ca kube-proxy "/CN=system:kube-proxy" clientAuth
  pki_cert "$dir" ca coredns "/CN=system:pgfed-coredns" clientAuth
  pki_cert "$dir" ca provisioner "/CN=system:pgfed-local-provisioner" clientAuth
  local n
  for n in $(nodes); do
    pki_cert "$dir" ca "node-$n" "/O=system:nodes/CN=system:node:$(node_name "$r" "$n")" clientAuth,serverAuth \
      "DNS:$(node_name "$r" "$n"),IP:$(node_ip "$r" "$n")"
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/sa.key" 2>/dev/null
  openssl pkey -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}

# write_kubeconfig FILE R CERT-NAME: a kubeconfig for one component of region R (files by path).
write_kubeconfig() {
  local file=$1 r=$2 cert=$3 pki; pki=$(region_dir "$r")/pki
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $(region_name "$r")
  cluster:
    certificate-authority: $pki/ca.crt
    server: https://$(region_api_ip "$r"):6443
users:
- name: $cert
  user:
    client-certificate: $pki/$cert.crt
    client-key: $pki/$cert.key
contexts:
- name: $(region_name "$r")
  context: {cluster: $(region_name "$r"), user: $cert}
current-context: $(region_name "$r")
EOF
}

# write_user_kubeconfig: one file, one context per region, certificates embedded so the file can be
# copied elsewhere (or into a Secret for the federation controller).
write_user_kubeconfig() {
  local r out=$KM_KUBECONFIG tmp
  tmp=$(mktemp)
  {
    echo "apiVersion: v1"; echo "kind: Config"; echo "clusters:"
    for r in $(regions); do
      local pki; pki=$(region_dir "$r")/pki
      echo "- name: $(region_name "$r")"
      echo "  cluster:"
      echo "    server: https://$(region_api_ip "$r"):6443"
      echo "    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")"
    done
    echo "users:"
    for r in $(regions); do
      local pki; pki=$(region_dir "$r")/pki
      echo "- name: $(region_name "$r")-admin"
      echo "  user:"
      echo "    client-certificate-data: $(base64 -w0 "$pki/admin.crt")"
      echo "    client-key-data: $(base64 -w0 "$pki/admin.key")"
    done
    echo "contexts:"
    for r in $(regions); do
      echo "- name: $(region_name "$r")"
      echo "  context: {cluster: $(region_name "$r"), user: $(region_name "$r")-admin}"
    done
    echo "current-context: $(region_name 0)"
  } >"$tmp"
  install -m 600 "$tmp" "$out"; rm -f "$tmp"
}
