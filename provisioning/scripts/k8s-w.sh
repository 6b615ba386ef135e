#!/usr/bin/env bash
# Worker k8s-wN: kubeadm join with the lab's bootstrap token, pinning the lab CA by its
# hash, then wait until the node is Ready (Cilium running on it).  Runs after init_cfg.sh.
# Safe to run again: the join is skipped when the node has already joined.
set -euo pipefail
# shellcheck source=common.sh
source /tmp/cilab/scripts/common.sh

require_env NODE_NAME NODE_IP CTR_IP BOOTSTRAP_TOKEN CA_CERT_HASH

mark_started k8s-w.sh
API="https://${CTR_IP}:6443"
CA_FILE="$CILAB_UPLOAD/pki/ca.crt" # the lab CA's certificate (public), uploaded by Vagrant
KUBELET_KUBECONFIG=/etc/kubernetes/kubelet.conf

install -d -m 0755 "$CILAB_HOME" "$CILAB_LOG" "$CILAB_STATE"
rm -rf "$CILAB_HOME/kubeadm"
cp -R "$CILAB_UPLOAD/kubeadm" "$CILAB_HOME/"

# A worker that joined a control plane which was since destroyed and rebuilt holds the old
# cluster CA: it can never talk to the new API server.  Its CA no longer matches the lab's
# CA hash, so it is reset and joins again.
JOIN_MARKER="$CILAB_STATE/kubeadm-join.done"
if [[ -f "$KUBELET_KUBECONFIG" && -f /etc/kubernetes/pki/ca.crt ]]; then
  joined_ca=$(ca_cert_hash /etc/kubernetes/pki/ca.crt)
  if [[ "$joined_ca" != "$CA_CERT_HASH" ]]; then
    log "joined with CA $joined_ca but the lab's CA is $CA_CERT_HASH (the control plane was rebuilt): resetting to join again"
    kubeadm reset -f --cri-socket "$CRI_SOCKET" >>"$CILAB_LOG/kubeadm-reset.log" 2>&1
    rm -f "$JOIN_MARKER"
  elif [[ ! -f "$JOIN_MARKER" ]]; then
    log "no $JOIN_MARKER: resetting an unfinished kubeadm join"
    kubeadm reset -f --cri-socket "$CRI_SOCKET" >>"$CILAB_LOG/kubeadm-reset.log" 2>&1
  fi
fi

if [[ -f "$KUBELET_KUBECONFIG" && -f "$JOIN_MARKER" ]]; then
  log "already joined ($JOIN_MARKER); skipping kubeadm join"
else
  [[ -f "$CA_FILE" ]] || die "the lab CA certificate was not uploaded to $CA_FILE"
  actual=$(ca_cert_hash "$CA_FILE")
  [[ "$actual" == "$CA_CERT_HASH" ]] || die "uploaded CA has hash $actual, expected $CA_CERT_HASH"

  # With VirtualBox the machines come up one after the other and k8s-ctr is ready by now;
  # vagrant-libvirt brings them up in parallel, so wait for the control plane here.
  # Ready: TLS verified with the lab CA and /readyz answers (200; 401/403 if anonymous
  # requests are turned off, which still proves the API server is serving).
  api_ready() {
    local code
    code=$(curl -sS --cacert "$CA_FILE" --max-time 5 -o /dev/null -w '%{http_code}' "$API/readyz") || return 1
    [[ "$code" == 200 || "$code" == 401 || "$code" == 403 ]]
  }
  log "waiting for the API server at $API"
  wait_until 1800 "API server $API/readyz" api_ready

  if [[ -e /etc/kubernetes/pki/ca.crt || -e /etc/kubernetes/bootstrap-kubelet.conf ]]; then
    # A previous join stopped half way; kubeadm's preflight would refuse to start again.
    log "cleaning up an unfinished kubeadm join"
    kubeadm reset -f --cri-socket "$CRI_SOCKET" >>"$CILAB_LOG/kubeadm-reset.log" 2>&1
  fi
  render_template "$CILAB_HOME/kubeadm/join-config.yaml.tmpl" "$CILAB_ETC/kubeadm-join.yaml" \
    BOOTSTRAP_TOKEN CTR_IP CA_CERT_HASH NODE_NAME NODE_IP
  log "kubeadm join $API; log in $CILAB_LOG/kubeadm-join.log"
  # Token discovery retries on its own while kubeadm init finishes on k8s-ctr.
  if ! kubeadm join --config "$CILAB_ETC/kubeadm-join.yaml" >"$CILAB_LOG/kubeadm-join.log" 2>&1; then
    tail -n 40 "$CILAB_LOG/kubeadm-join.log" >&2
    die "kubeadm join failed; if the bootstrap token expired (BOOTSTRAP_TOKEN_TTL), run 'vagrant provision k8s-ctr' to create it again, then provision this node again"
  fi
  mark_done kubeadm-join CA_CERT_HASH
fi

node_ready() {
  [[ "$(kubectl --kubeconfig "$KUBELET_KUBECONFIG" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
wait_until 900 "node $NODE_NAME Ready" node_ready
log "worker $NODE_NAME joined and Ready"
mark_done k8s-w.sh NODE_NAME CA_CERT_HASH
