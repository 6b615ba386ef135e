#!/usr/bin/env bash
# Base configuration of every node (k8s-ctr and the workers): kernel settings, containerd
# and the pinned kubelet/kubeadm/kubectl.  Safe to run again: every step writes whole
# files (no appends) and restarts a service only when its configuration changed.
set -euo pipefail
# shellcheck source=common.sh
source /tmp/cilab/scripts/common.sh

require_env NODE_NAME NODE_IP LAB_HOSTS KUBERNETES_VERSION KUBERNETES_PKG_REVISION \
  CONTAINERD_VERSION CONTAINERD_PKG_REVISION PAUSE_IMAGE

mark_started init_cfg.sh

K8S_MINOR=${KUBERNETES_VERSION%.*}
K8S_PKG="${KUBERNETES_VERSION}-${KUBERNETES_PKG_REVISION}"
CONTAINERD_PKG="${CONTAINERD_VERSION}-${CONTAINERD_PKG_REVISION}"
[[ "$CONTAINERD_VERSION" == 1.* ]] ||
  die "CONTAINERD_VERSION=$CONTAINERD_VERSION: this script writes the containerd 1.x config format (config version 2); 2.x needs a different SystemdCgroup setting"

log "node $NODE_NAME, IP $NODE_IP, Kubernetes $K8S_PKG, containerd.io $CONTAINERD_PKG"

# --- time zone (optional) -------------------------------------------------------------------
if [[ -n "${TIMEZONE:-}" ]]; then
  timedatectl set-timezone "$TIMEZONE"
fi

# --- firewall: the lab needs 6443, 10250, 4240/4244 and NodePorts between the nodes ---------
if command -v ufw >/dev/null 2>&1 && ufw status | grep -q '^Status: active'; then
  log "disabling ufw"
  ufw disable
fi

# --- swap off, now and after reboots ----------------------------------------------------------
swapoff -a
# Comment out every active swap entry of /etc/fstab (lines already commented are kept).
sed -E -i 's/^([^#[:space:]][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$/# disabled for kubelet by cilab: \1/' /etc/fstab
# Swap activated by systemd units that are not in fstab hangs off swap.target.
systemctl mask swap.target >/dev/null 2>&1
if [[ -n "$(swapon --show --noheadings)" ]]; then
  die "swap is still active: $(swapon --show --noheadings)"
fi

# --- kernel modules and sysctls ---------------------------------------------------------------
cat >/etc/modules-load.d/k8s.conf <<'EOF'
overlay
br_netfilter
EOF
modprobe overlay
modprobe br_netfilter

cat >/etc/sysctl.d/99-kubernetes.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
EOF
sysctl --system >/dev/null
[[ "$(sysctl -n net.ipv4.ip_forward)" == 1 ]] || die "net.ipv4.ip_forward is not 1"
[[ "$(sysctl -n net.bridge.bridge-nf-call-iptables)" == 1 ]] || die "bridge-nf-call-iptables is not 1"

# --- /etc/hosts: one managed block with every node ------------------------------------------------
hosts_block="# BEGIN cilab nodes"$'\n'
for pair in $LAB_HOSTS; do
  hosts_block+="${pair#*=} ${pair%%=*}"$'\n'
done
hosts_block+="# END cilab nodes"
sed -i '/^# BEGIN cilab nodes$/,/^# END cilab nodes$/d' /etc/hosts
printf '%s\n' "$hosts_block" >>/etc/hosts

# --- apt repositories: pkgs.k8s.io (one repo per minor) and Docker's (containerd.io) --------
apt_get update -qq
apt_get install -y -qq apt-transport-https ca-certificates curl gpg openssl >/dev/null
install -d -m 0755 /etc/apt/keyrings

if [[ ! -s /etc/apt/keyrings/kubernetes-apt-keyring.gpg ]]; then
  curl -fsSL --retry 5 "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" |
    gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
fi
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" \
  >/etc/apt/sources.list.d/kubernetes.list

if [[ ! -s /etc/apt/keyrings/docker.asc ]]; then
  curl -fsSL --retry 5 https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
fi
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${UBUNTU_CODENAME:-$VERSION_CODENAME}")
cat >/etc/apt/sources.list.d/docker.sources <<EOF
Types: deb
URIs: https://download.docker.com/linux/ubuntu
Suites: ${codename}
Components: stable
Architectures: $(dpkg --print-architecture)
Signed-By: /etc/apt/keyrings/docker.asc
EOF

# --- pinned packages ----------------------------------------------------------------------------
apt_get update -qq
apt_get install -y -qq --allow-change-held-packages \
  "kubelet=${K8S_PKG}" "kubeadm=${K8S_PKG}" "kubectl=${K8S_PKG}" "containerd.io=${CONTAINERD_PKG}" >/dev/null
apt-mark hold kubelet kubeadm kubectl containerd.io >/dev/null
# Tools the documented lab checks use on the nodes (ss/ip, iptables chains, conntrack, jq).
apt_get install -y -qq iproute2 iptables ipset conntrack jq net-tools tcpdump >/dev/null

for pkg in kubelet kubeadm kubectl; do
  installed=$(dpkg-query -W -f='${Version}' "$pkg")
  [[ "$installed" == "$K8S_PKG" ]] || die "$pkg is $installed, expected $K8S_PKG"
done
installed=$(dpkg-query -W -f='${Version}' containerd.io)
[[ "$installed" == "$CONTAINERD_PKG" ]] || die "containerd.io is $installed, expected $CONTAINERD_PKG"

# --- containerd: default config with the systemd cgroup driver and kubeadm's pause image ------
# containerd.io ships a config.toml that disables the CRI plugin, so it is replaced with the
# full default.  In the 1.7 format the runc options table holds `SystemdCgroup = false`.
install -d -m 0755 /etc/containerd
containerd config default >/etc/containerd/config.toml.new
sed -i -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
  -e "s|^\([[:space:]]*sandbox_image = \).*|\1\"${PAUSE_IMAGE}\"|" /etc/containerd/config.toml.new
grep -q '^[[:space:]]*SystemdCgroup = true$' /etc/containerd/config.toml.new ||
  die "containerd config: no 'SystemdCgroup = true' after editing (unexpected config format)"
grep -q "^[[:space:]]*sandbox_image = \"${PAUSE_IMAGE}\"$" /etc/containerd/config.toml.new ||
  die "containerd config: sandbox_image not set to ${PAUSE_IMAGE}"
if ! cmp -s /etc/containerd/config.toml.new /etc/containerd/config.toml; then
  mv -f /etc/containerd/config.toml.new /etc/containerd/config.toml
  log "containerd config written; restarting containerd"
  systemctl restart containerd
else
  rm -f /etc/containerd/config.toml.new
fi
systemctl enable --now containerd >/dev/null 2>&1

cat >/etc/crictl.yaml <<EOF
runtime-endpoint: ${CRI_SOCKET}
image-endpoint: ${CRI_SOCKET}
timeout: 10
EOF

# --- kubelet: always the private-network address ------------------------------------------------
# kubeadm also passes --node-ip (kubeletExtraArgs, into kubeadm-flags.env); this file makes
# the address explicit for the kubelet unit before and after kubeadm runs.
echo "KUBELET_EXTRA_ARGS=--node-ip=${NODE_IP}" >/etc/default/kubelet.new
systemctl enable kubelet >/dev/null 2>&1
if ! cmp -s /etc/default/kubelet.new /etc/default/kubelet; then
  mv -f /etc/default/kubelet.new /etc/default/kubelet
  # Before kubeadm init/join the kubelet restarts in a loop for want of a configuration;
  # that is normal.  Afterwards a changed node IP needs a restart.
  if [[ -f /var/lib/kubelet/config.yaml ]]; then
    systemctl restart kubelet
  fi
else
  rm -f /etc/default/kubelet.new
fi

log "base configuration done"
mark_done init_cfg.sh NODE_NAME KUBERNETES_VERSION KUBERNETES_PKG_REVISION CONTAINERD_VERSION \
  CONTAINERD_PKG_REVISION PAUSE_IMAGE
