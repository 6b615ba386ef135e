#!/usr/bin/env bash
# Control plane k8s-ctr: kubeadm init with the lab's CA and bootstrap token, kubeconfigs,
# pinned and checksum-verified helm / cilium / hubble CLIs, and Cilium from Helm
# (helm/base.yaml).  Runs after init_cfg.sh.  Safe to run again: kubeadm init, the tool
# downloads and the Cilium install are skipped when already done.
set -euo pipefail
# shellcheck source=common.sh
source /tmp/cilab/scripts/common.sh

require_env NODE_NAME NODE_IP CTR_IP KUBERNETES_VERSION POD_CIDR SERVICE_CIDR CILIUM_POD_CIDR \
  CILIUM_VERSION CILIUM_CLI_VERSION HUBBLE_CLI_VERSION HELM_VERSION \
  BOOTSTRAP_TOKEN BOOTSTRAP_TOKEN_TTL CA_CERT_HASH

mark_started k8s-ctr.sh
export HOME=/root
export KUBECONFIG=/etc/kubernetes/admin.conf
ARCH=$(dpkg --print-architecture) # amd64 or arm64, as in the release file names
ARCH_UPPER=${ARCH^^}

# --- lab files: helm layers and kubeadm templates, kept on the node --------------------------------
install -d -m 0755 "$CILAB_HOME" "$CILAB_STATE" "$CILAB_LOG"
rm -rf "$CILAB_HOME/helm" "$CILAB_HOME/kubeadm"
cp -R "$CILAB_UPLOAD/helm" "$CILAB_UPLOAD/kubeadm" "$CILAB_HOME/"
chmod -R a+rX "$CILAB_HOME"
BASE_VALUES="$CILAB_HOME/helm/base.yaml"

# base.yaml carries the lab addresses literally; refuse to install a mismatching Cilium.
if ! grep -qx "k8sServiceHost: ${CTR_IP}" "$BASE_VALUES"; then
  die "helm/base.yaml: k8sServiceHost is not CTR_IP=${CTR_IP}; edit base.yaml to match versions.env"
fi
if ! grep -qx "ipv4NativeRoutingCIDR: ${CILIUM_POD_CIDR}" "$BASE_VALUES" ||
  ! grep -qx "      - ${CILIUM_POD_CIDR}" "$BASE_VALUES"; then
  die "helm/base.yaml: ipv4NativeRoutingCIDR / clusterPoolIPv4PodCIDRList are not CILIUM_POD_CIDR=${CILIUM_POD_CIDR}"
fi

# --- kubeadm init with the lab's CA -------------------------------------------------------------------
# kubeadm init uses an existing /etc/kubernetes/pki/ca.{crt,key} instead of generating one.
# The host generated this pair for the lab (Vagrantfile), so the workers already know the
# hash they pin (CA_CERT_HASH) before the cluster exists.
PKI=/etc/kubernetes/pki
api_ready() { kubectl get --raw=/readyz >/dev/null 2>&1; }

install_lab_ca() {
  local actual
  [[ -f "$CILAB_UPLOAD/pki/ca.crt" && -f "$CILAB_UPLOAD/pki/ca.key" ]] ||
    die "the lab CA was not uploaded to $CILAB_UPLOAD/pki (run 'vagrant provision k8s-ctr')"
  actual=$(ca_cert_hash "$CILAB_UPLOAD/pki/ca.crt")
  [[ "$actual" == "$CA_CERT_HASH" ]] || die "uploaded CA has hash $actual, expected $CA_CERT_HASH"
  install -d -m 0755 "$PKI"
  install -m 0644 "$CILAB_UPLOAD/pki/ca.crt" "$PKI/ca.crt"
  install -m 0600 "$CILAB_UPLOAD/pki/ca.key" "$PKI/ca.key"
}

# kubeadm init counts as done only when it completed: admin.conf is written in its
# kubeconfig phase, before wait-control-plane, upload-config, bootstrap-token and addon, so
# an init interrupted there leaves admin.conf behind and a cluster no worker can join.  The
# marker kubeadm-init.done is written after init returned successfully; without it, any
# leftover of an earlier init is reset and init runs again.
INIT_MARKER="$CILAB_STATE/kubeadm-init.done"
if [[ -f "$INIT_MARKER" && -f /etc/kubernetes/admin.conf ]]; then
  log "kubeadm init already done ($INIT_MARKER); waiting for the API server"
  actual=$(ca_cert_hash "$PKI/ca.crt")
  [[ "$actual" == "$CA_CERT_HASH" ]] ||
    die "$PKI/ca.crt has hash $actual but this lab's CA is $CA_CERT_HASH (the host's .vagrant/cilab changed): destroy the lab and bring it up again"
  wait_until 300 "API server /readyz" api_ready
else
  if [[ -e /etc/kubernetes/admin.conf || -e /etc/kubernetes/manifests/kube-apiserver.yaml ]]; then
    # A previous init did not finish; kubeadm's preflight would refuse to start again.
    log "no $INIT_MARKER: resetting an unfinished kubeadm init"
    kubeadm reset -f --cri-socket "$CRI_SOCKET" >>"$CILAB_LOG/kubeadm-reset.log" 2>&1
    rm -f /root/.kube/config /home/vagrant/.kube/config
  fi
  install_lab_ca
  render_template "$CILAB_HOME/kubeadm/init-config.yaml.tmpl" "$CILAB_ETC/kubeadm-init.yaml" \
    BOOTSTRAP_TOKEN BOOTSTRAP_TOKEN_TTL CTR_IP NODE_NAME NODE_IP KUBERNETES_VERSION POD_CIDR SERVICE_CIDR
  log "kubeadm init (Kubernetes v${KUBERNETES_VERSION}); log in $CILAB_LOG/kubeadm-init.log"
  if ! kubeadm init --config "$CILAB_ETC/kubeadm-init.yaml" >"$CILAB_LOG/kubeadm-init.log" 2>&1; then
    tail -n 40 "$CILAB_LOG/kubeadm-init.log" >&2
    die "kubeadm init failed"
  fi
  mark_done kubeadm-init KUBERNETES_VERSION CA_CERT_HASH
  wait_until 300 "API server /readyz" api_ready
fi
# The CA key now lives only in $PKI (and on the host); drop the uploaded copy.
rm -f "$CILAB_UPLOAD/pki/ca.key"

# --- kubeconfig for root and vagrant ----------------------------------------------------------------
install -d -m 0700 /root/.kube
install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config
if id vagrant >/dev/null 2>&1; then
  install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.kube
  install -m 0600 -o vagrant -g vagrant /etc/kubernetes/admin.conf /home/vagrant/.kube/config
fi

# --- the workers' bootstrap token: present again if it expired ---------------------------------------
# `kubeadm token list` prints the full token in column 1 and its TTL in column 2
# ("<invalid>" once expired, until the token cleaner deletes it).  `kubeadm token create`
# refuses an ID that still exists, so an expired token is deleted first.
token_id=${BOOTSTRAP_TOKEN%%.*}
token_ttl=$(kubeadm token list 2>/dev/null | awk -v id="${token_id}." 'index($1, id) == 1 {print $2}')
if [[ -z "$token_ttl" || "$token_ttl" == "<invalid>" ]]; then
  log "bootstrap token ${token_id}.* missing or expired: creating it again (ttl ${BOOTSTRAP_TOKEN_TTL})"
  kubeadm token delete "$token_id" >/dev/null 2>&1 || true
  kubeadm token create "$BOOTSTRAP_TOKEN" --ttl "$BOOTSTRAP_TOKEN_TTL" \
    --description "cilium lab: worker join token" >/dev/null
else
  log "bootstrap token ${token_id}.* valid for ${token_ttl}"
fi

# --- pinned command-line tools, checksum-verified --------------------------------------------------
# install_tool NAME VERSION URL MEMBER PINNED_SHA256
#   Download the release tarball URL, check its SHA-256 and install its MEMBER as
#   /usr/local/bin/NAME.  With PINNED_SHA256 empty the digest published next to the
#   tarball (URL.sha256sum) is checked instead and the computed digest is printed so it
#   can be pinned in versions.env.
install_tool() {
  local name=$1 version=$2 url=$3 member=$4 pinned=$5 tmp actual published
  if [[ -x "/usr/local/bin/$name" && "$(cat "$CILAB_STATE/$name.version" 2>/dev/null)" == "$version" ]]; then
    log "$name $version already installed"
    return 0
  fi
  tmp=$(mktemp -d)
  curl -fsSL --proto '=https' --retry 5 --retry-delay 3 -o "$tmp/release.tar.gz" "$url"
  actual=$(sha256sum "$tmp/release.tar.gz" | cut -d' ' -f1)
  if [[ -n "$pinned" ]]; then
    [[ "$actual" == "$pinned" ]] ||
      die "$name $version: sha256 $actual of $url does not match the pin $pinned in versions.env"
    log "$name $version: sha256 matches the pin in versions.env"
  else
    published=$(curl -fsSL --proto '=https' --retry 5 --retry-delay 3 "$url.sha256sum" | awk '{print $1; exit}')
    [[ "$actual" == "$published" ]] ||
      die "$name $version: sha256 $actual of $url does not match the published $url.sha256sum ($published)"
    log "$name $version: sha256 matches the published .sha256sum; no pin in versions.env (pin: $actual)"
  fi
  tar -xzf "$tmp/release.tar.gz" -C "$tmp" "$member"
  install -m 0755 "$tmp/$member" "/usr/local/bin/$name"
  echo "$version" >"$CILAB_STATE/$name.version"
  rm -rf "$tmp"
}

helm_pin_var="HELM_SHA256_${ARCH_UPPER}"
cilium_pin_var="CILIUM_CLI_SHA256_${ARCH_UPPER}"
hubble_pin_var="HUBBLE_CLI_SHA256_${ARCH_UPPER}"
install_tool helm "$HELM_VERSION" \
  "https://get.helm.sh/helm-v${HELM_VERSION}-linux-${ARCH}.tar.gz" "linux-${ARCH}/helm" "${!helm_pin_var:-}"
install_tool cilium "$CILIUM_CLI_VERSION" \
  "https://github.com/cilium/cilium-cli/releases/download/v${CILIUM_CLI_VERSION}/cilium-linux-${ARCH}.tar.gz" \
  cilium "${!cilium_pin_var:-}"
install_tool hubble "$HUBBLE_CLI_VERSION" \
  "https://github.com/cilium/hubble/releases/download/v${HUBBLE_CLI_VERSION}/hubble-linux-${ARCH}.tar.gz" \
  hubble "${!hubble_pin_var:-}"

# --- Cilium from Helm -------------------------------------------------------------------------------
# `helm repo add` with the same name and URL is a no-op that exits 0.
helm repo add cilium https://helm.cilium.io/ >/dev/null
helm repo update cilium >/dev/null

release_status=$(helm status cilium -n kube-system -o json 2>/dev/null | jq -r '.info.status' || true)
if [[ "$release_status" == deployed ]]; then
  # Later stages (hubble.yaml, redaction.yaml) are applied by the suite; provisioning again
  # must not roll them back.  To return to the base stage by hand:
  #   helm upgrade --install cilium cilium/cilium --version $CILIUM_VERSION -n kube-system -f base.yaml
  log "Helm release cilium exists; leaving its values alone"
else
  log "installing Cilium ${CILIUM_VERSION} with $BASE_VALUES (release status: ${release_status:-none})"
  helm upgrade --install cilium cilium/cilium --version "$CILIUM_VERSION" -n kube-system \
    -f "$BASE_VALUES" --wait --timeout 15m
fi

# --- wait for the rollout ------------------------------------------------------------------------------
kubectl -n kube-system rollout status ds/cilium --timeout=10m
if kubectl -n kube-system get ds/cilium-envoy >/dev/null 2>&1; then
  kubectl -n kube-system rollout status ds/cilium-envoy --timeout=10m
fi
kubectl -n kube-system rollout status deploy/cilium-operator --timeout=10m
kubectl -n kube-system rollout status deploy/coredns --timeout=10m
cilium status --wait --wait-duration 10m --interactive=false

node_ready() {
  [[ "$(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
wait_until 600 "node $NODE_NAME Ready" node_ready
log "control plane ready: Kubernetes v${KUBERNETES_VERSION}, Cilium ${CILIUM_VERSION}"
mark_done k8s-ctr.sh NODE_NAME KUBERNETES_VERSION CILIUM_VERSION CILIUM_CLI_VERSION HUBBLE_CLI_VERSION \
  HELM_VERSION CA_CERT_HASH
