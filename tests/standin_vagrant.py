"""A stand-in `vagrant` for tests: a shell script that answers like Vagrant does.

It keeps the machines' states in a file (as `vagrant status --machine-readable` prints
them), answers `ssh-config` with the loopback sshd's endpoint for every machine, and for
`up` / `provision NODE` prints the lines Vagrant and the provisioning scripts print and
writes each node's completion markers under `markers/<node>/` (every "node" is the same
loopback host, so each gets a folder of its own).  Every call is appended to `calls.log`.
`fail` names subcommands that print some output and exit 1 (a provisioning failure).
"""
from __future__ import annotations

from pathlib import Path

NODES = ("k8s-ctr", "k8s-w1", "k8s-w2")


def status_text(machines: dict[str, tuple[str, str]]) -> str:
    return "".join(f"1767225600,{n},metadata,provider,{p}\n1767225600,{n},provider-name,{p}\n"
                   f"1767225600,{n},state,{s}\n" for n, (s, p) in machines.items())


def ssh_config_text(machines: list[str], port: int, user: str, key: Path) -> str:
    return "".join(f"Host {n}\n  HostName 127.0.0.1\n  User {user}\n  Port {port}\n"
                   f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
                   f"  IdentityFile \"{key}\"\n  IdentitiesOnly yes\n  LogLevel FATAL\n\n" for n in machines)


def write_markers(root: Path, node: str, scripts: tuple[str, ...] | None = None) -> None:
    scripts = scripts or (("init_cfg.sh", "k8s-ctr.sh") if node == "k8s-ctr" else ("init_cfg.sh", "k8s-w.sh"))
    (root / node).mkdir(parents=True, exist_ok=True)
    for script in scripts:
        (root / node / f"{script}.done").write_text(f"NODE_NAME={node}\nKUBERNETES_VERSION=1.33.2\n")


def standin(tmp: Path, *, machines: dict[str, tuple[str, str]] | None = None, version: str = "2.4.9",
            port: int = 22, user: str = "vagrant", key: Path | None = None,
            fail: tuple[str, ...] = ()) -> Path:
    """Write the stand-in under `tmp`; return its path.  State files live next to it."""
    tmp.mkdir(parents=True, exist_ok=True)
    machines = machines if machines is not None else {n: ("running", "virtualbox") for n in NODES}
    (tmp / "status.txt").write_text(status_text(machines))
    (tmp / "ssh-config.txt").write_text(ssh_config_text(list(machines), port, user, key or tmp / "key"))
    (tmp / "markers").mkdir(exist_ok=True)
    failing = " ".join(fail)
    exe = tmp / "vagrant"
    exe.write_text(f"""#!/bin/sh
# stand-in vagrant (tests/standin_vagrant.py)
T="{tmp}"
echo "$*" >>"$T/calls.log"
provision_node() {{
  n=$1
  echo "==> $n: Running provisioner: init_cfg.sh (shell)..."
  echo "    $n: [cilab $n] base configuration done"
  mkdir -p "$T/markers/$n"
  echo "NODE_NAME=$n" >"$T/markers/$n/init_cfg.sh.done"
  if [ "$n" = k8s-ctr ]; then
    echo "==> $n: Running provisioner: k8s-ctr.sh (shell)..."
    echo "    $n: [cilab $n] kubeadm init (Kubernetes v1.33.2)"
    echo "    $n: [cilab $n] installing Cilium 1.17.6 with /opt/cilab/helm/base.yaml"
    echo "    $n: [cilab $n] control plane ready: Kubernetes v1.33.2, Cilium 1.17.6"
    echo "NODE_NAME=$n" >"$T/markers/$n/k8s-ctr.sh.done"
  else
    echo "==> $n: Running provisioner: k8s-w.sh (shell)..."
    echo "    $n: [cilab $n] kubeadm join https://192.168.10.100:6443"
    echo "    $n: [cilab $n] worker $n joined and Ready"
    echo "NODE_NAME=$n" >"$T/markers/$n/k8s-w.sh.done"
  fi
}}
for f in {failing}; do
  if [ "$1" = "$f" ]; then
    echo "==> k8s-ctr: Booting VM..."
    echo "    k8s-ctr: [cilab k8s-ctr] ERROR: kubeadm init failed" >&2
    echo "The SSH command responded with a non-zero exit status." >&2
    exit 1
  fi
done
case "$1" in
  --version) echo "Vagrant {version}" ;;
  status) cat "$T/status.txt" ;;
  ssh-config) cat "$T/ssh-config.txt" ;;
  validate) echo "Vagrantfile validated successfully." ;;
  up)
    for n in $(awk -F, '$3 == "state" && $4 != "running" {{print $2}}' "$T/status.txt"); do
      if grep -q "^[0-9]*,$n,state,not_created$" "$T/status.txt"; then
        echo "==> $n: Importing base box 'bento/ubuntu-24.04'..."
        echo "==> $n: Booting VM..."
        provision_node "$n"
      else
        echo "==> $n: Booting VM..."
        echo "==> $n: Machine already provisioned. Run \\`vagrant provision\\` or use the \\`--provision\\`"
      fi
    done
    sed -i 's/,state,[a-z_]*$/,state,running/' "$T/status.txt" ;;
  provision) provision_node "$2" ;;
  destroy)
    for n in $(awk -F, '$3 == "state" {{print $2}}' "$T/status.txt"); do echo "==> $n: Destroying VM and associated drives..."; done
    sed -i 's/,state,[a-z_]*$/,state,not_created/' "$T/status.txt" ;;
  *) echo "stand-in vagrant: unexpected: $*" >&2; exit 1 ;;
esac
""")
    exe.chmod(0o755)
    return exe


def calls(tmp: Path) -> list[str]:
    path = tmp / "calls.log"
    return path.read_text().splitlines() if path.exists() else []
