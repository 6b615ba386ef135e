"""A real OpenSSH server on loopback for transport tests and the benchmark."""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cilab.ssh import SSHHost

SSHD = "/usr/sbin/sshd"
NODE = "k8s-ctr"


@dataclass(frozen=True)
class Server:
    port: int
    user: str
    key: Path
    wrong_key: Path
    workdir: Path

    def host(self, key: Path | None = None) -> SSHHost:
        return SSHHost(name=NODE, hostname="127.0.0.1", port=self.port, user=self.user,
                       identity_files=(str(key or self.key),))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_key(path: Path) -> str:
    """Write a new Ed25519 private key (OpenSSH format, 0600); return its public line."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


@contextmanager
def loopback_sshd(work: Path) -> Iterator[Server]:
    """A real OpenSSH server on 127.0.0.1 with throwaway keys in `work`, stopped on exit."""
    if not os.path.exists(SSHD):
        raise RuntimeError(f"{SSHD} is missing: apt-get install openssh-server")
    write_key(work / "ssh_host_ed25519_key")
    key = work / "client keys" / "id_ed25519"  # a space, as in Vagrant project paths
    (work / "authorized_keys").write_text(write_key(key) + "\n")
    wrong_key = work / "client keys" / "not_authorized"
    write_key(wrong_key)
    port = free_port()
    config = work / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {work}/ssh_host_ed25519_key
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755)  # privilege-separation dir sshd insists on
    log_path = work / "sshd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield Server(port=port, user=pwd.getpwuid(os.getuid()).pw_name, key=key,
                     wrong_key=wrong_key, workdir=work)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


