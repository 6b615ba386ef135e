#!/usr/bin/env bash
# shellcheck disable=SC2034  # the constants below are used by the scripts sourcing this file
# Helpers sourced by init_cfg.sh, k8s-ctr.sh and k8s-w.sh.  The Vagrantfile uploads this
# file to /tmp/cilab/scripts/common.sh before the shell provisioners run.
set -euo pipefail

CILAB_UPLOAD=/tmp/cilab        # where the Vagrantfile's file provisioners put things
CILAB_HOME=/opt/cilab          # lab files kept on the node (helm layers, kubeadm templates)
CILAB_ETC=/etc/cilab           # rendered kubeadm configs (hold the bootstrap token: 0600)
CILAB_STATE=/var/lib/cilab     # markers of installed tools and of finished scripts
CILAB_LOG=/var/log/cilab       # full output of kubeadm init/join
CRI_SOCKET=unix:///run/containerd/containerd.sock
export DEBIAN_FRONTEND=noninteractive

log() { printf '[cilab %s] %s\n' "$(hostname -s)" "$*"; }
die() { printf '[cilab %s] ERROR: %s\n' "$(hostname -s)" "$*" >&2; exit 1; }

# require_env NAME... : every NAME must be set and non-empty.
require_env() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || die "environment variable $name is not set (the Vagrantfile passes it)"
  done
}

# apt-get that waits for the dpkg lock (unattended-upgrades runs right after first boot).
apt_get() {
  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "$@"
}

# render_template TEMPLATE OUTPUT NAME... : copy TEMPLATE to OUTPUT (mode 0600) with every
# @NAME@ replaced by the value of the variable NAME; fails on a placeholder left over.
render_template() {
  local template=$1 output=$2 name value
  shift 2
  local expressions=()
  for name in "$@"; do
    value=${!name}
    [[ "$value" != *[\|\&\\]* ]] || die "value of $name contains | & or \\: cannot render $template"
    expressions+=(-e "s|@${name}@|${value}|g")
  done
  install -d -m 0700 "$(dirname "$output")"
  sed "${expressions[@]}" "$template" >"$output.tmp"
  if grep -n '@[A-Z0-9_]*@' "$output.tmp" >&2; then
    rm -f "$output.tmp"
    die "unresolved placeholder(s) above in $template"
  fi
  chmod 0600 "$output.tmp"
  mv -f "$output.tmp" "$output"
}

# ca_cert_hash FILE : kubeadm's "sha256:<hex>" of the certificate's SubjectPublicKeyInfo.
ca_cert_hash() {
  local hex
  hex=$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
  printf 'sha256:%s\n' "$hex"
}

# wait_until SECONDS DESCRIPTION COMMAND... : retry COMMAND every 5 s until it succeeds.
wait_until() {
  local budget=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + budget))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${budget}s waiting for: $what"
    fi
    sleep 5
  done
  log "ready: $what"
}

# Completion markers: $CILAB_STATE/<script>.done is written when, and only when, a script
# has finished, with the versions it installed (KEY=VALUE lines).  The suite reads them over
# SSH on reuse and provisions a node again when one is missing (cilab/backends/vagrant.py),
# so a `vagrant up` killed half way is resumed instead of half-used.
# mark_started SCRIPT : forget SCRIPT's marker before doing anything.
mark_started() {
  install -d -m 0755 "$CILAB_STATE"
  rm -f "$CILAB_STATE/$1.done"
}

# mark_done SCRIPT NAME... : write SCRIPT's marker with the values of the variables NAME.
mark_done() {
  local script=$1 name
  shift
  {
    for name in "$@"; do
      printf '%s=%s\n' "$name" "${!name:-}"
    done
    printf 'FINISHED_AT=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$CILAB_STATE/$script.done.tmp"
  chmod 0644 "$CILAB_STATE/$script.done.tmp"
  mv -f "$CILAB_STATE/$script.done.tmp" "$CILAB_STATE/$script.done"
  log "$script finished (marker $CILAB_STATE/$script.done)"
}
