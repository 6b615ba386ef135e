"""SSH transport to the lab's nodes, built on paramiko.

One `SSHPool` holds at most one SSH connection per node per process.  Connections are
opened lazily on first use and reused for every later command or SFTP transfer; when a
reused connection turns out to be dead, the pool reconnects once.  Every call has a
deadline: a command that does not finish in time raises `LabUnavailable` naming the node
and the command, and so does a node that cannot be reached or refuses the key.

Authentication is by private key files only (the ones `vagrant ssh-config` names): no
SSH agent, no ~/.ssh key discovery, no passwords.  Vagrant writes
`StrictHostKeyChecking no` for its VMs, so by default any host key is accepted; keys
are never logged.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Iterable, Iterator

import paramiko

from cilab.errors import CallFailed, ConfigError, LabUnavailable, SSHUnreachable
from cilab.model import CommandResult

log = logging.getLogger(__name__)

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


@dataclass(frozen=True)
class SSHHost:
    """Where and how to log in to one node (one `Host` block of `vagrant ssh-config`)."""

    name: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    strict_host_key_checking: bool = False


class _AcceptHostKey(paramiko.MissingHostKeyPolicy):
    """Accept any host key without storing or logging it (StrictHostKeyChecking no)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        return None


def load_private_keys(paths: Iterable[str]) -> tuple[list[paramiko.PKey], list[str]]:
    """Load every readable, unencrypted key; return (keys, reasons the others were skipped)."""
    keys: list[paramiko.PKey] = []
    problems: list[str] = []
    for path in paths:
        expanded = os.path.expanduser(path)
        if not os.path.isfile(expanded):
            problems.append(f"{path}: no such file")
            continue
        for key_class in _KEY_CLASSES:
            try:
                keys.append(key_class.from_private_key_file(expanded))
                break
            except paramiko.PasswordRequiredException:
                problems.append(f"{path}: key is encrypted")
                break
            except (paramiko.SSHException, ValueError):
                continue
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")
                break
        else:
            problems.append(f"{path}: not an Ed25519, ECDSA or RSA private key")
    return keys, problems


def connect_failure_words(exc: BaseException) -> str:
    """Why a TCP/SSH connection failed, in words: `connection refused`, `timed out`, ...
    (paramiko's `[Errno None] Unable to connect to port 22 on 127.0.0.1` hides the errno of
    each address it tried; the first one's is the reason)."""
    errors = getattr(exc, "errors", None)  # paramiko.ssh_exception.NoValidConnectionsError
    if isinstance(errors, dict) and errors:
        exc = next(iter(errors.values()))
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split()).lower()


class SSHPool:
    """Reused SSH connections to named nodes; see the module docstring."""

    def __init__(self, hosts: dict[str, SSHHost], connect_timeout: float = 10) -> None:
        self.hosts = dict(hosts)
        self.connect_timeout = connect_timeout
        #: how many SSH connections this pool has opened (benchmarks check reuse)
        self.connections_opened = 0
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    # -- public API -------------------------------------------------------------------

    def run(self, node: str, command: str, timeout: float) -> CommandResult:
        """Run `command` through the node's login shell; a non-zero exit is data."""
        channel = self._open_channel(node)
        deadline = time.monotonic() + timeout
        try:
            channel.exec_command(command)
            stdout, stderr = self._drain(channel, deadline)
            while not channel.exit_status_ready():  # closed without a status: rc -1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                channel.status_event.wait(min(remaining, 0.5))
            rc = channel.exit_status
        except TimeoutError:
            raise LabUnavailable(
                f"{node}: command did not finish within {timeout:g}s: {command}") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise LabUnavailable(f"{node}: connection lost while running {command!r}: "
                                 f"{exc or type(exc).__name__}") from exc
        finally:
            channel.close()
        return CommandResult(stdout=stdout.decode("utf-8", "replace"),
                             stderr=stderr.decode("utf-8", "replace"), rc=rc)

    def read_file(self, node: str, path: str, timeout: float = 30) -> bytes:
        """The bytes of a file on the node, over SFTP."""
        with self._sftp(node, timeout, f"read {path}") as sftp:
            try:
                with sftp.open(path, "rb") as handle:
                    return handle.read()
            except TimeoutError:
                raise
            except OSError as exc:
                raise CallFailed(f"{node}: cannot read {path}: {exc}") from exc

    def write_file(self, node: str, path: str, data: bytes, mode: int = 0o600,
                   timeout: float = 30) -> None:
        """Create or replace a file on the node over SFTP; `mode` is set before writing."""
        with self._sftp(node, timeout, f"write {path}") as sftp:
            try:
                with sftp.open(path, "wb") as handle:
                    handle.chmod(mode)
                    handle.write(data)
            except TimeoutError:
                raise
            except OSError as exc:
                raise CallFailed(f"{node}: cannot write {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
            if os.getpid() != self._pid:
                return  # forked copy: leave the parent's connections alone
        for client in clients.values():
            client.close()

    def __enter__(self) -> "SSHPool":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- connections ------------------------------------------------------------------

    def _host(self, node: str) -> SSHHost:
        try:
            return self.hosts[node]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise ConfigError(f"unknown node {node!r} (known: {known})") from None

    def _client(self, node: str, fresh: bool = False) -> paramiko.SSHClient:
        host = self._host(node)
        with self._lock:
            if os.getpid() != self._pid:
                # Forked: the parent's sockets are not ours to use or to close.
                self._clients, self._pid = {}, os.getpid()
            client = self._clients.get(node)
            transport = client.get_transport() if client else None
            if client and not fresh and transport is not None and transport.is_active():
                return client
            if client:
                client.close()
                del self._clients[node]
            client = self._connect(host)
            self._clients[node] = client
            return client

    def _connect(self, host: SSHHost) -> paramiko.SSHClient:
        where = f"{host.name} ({host.user}@{host.hostname}:{host.port})"
        keys, problems = load_private_keys(host.identity_files)
        if not keys:
            detail = "; ".join(problems) or "no IdentityFile given"
            raise LabUnavailable(f"{where}: no usable private key: {detail}")
        reason = "cannot log in"
        auth, words = True, "cannot log in"
        for key in keys:
            client = paramiko.SSHClient()
            if host.strict_host_key_checking:
                client.load_system_host_keys()
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
            else:
                client.set_missing_host_key_policy(_AcceptHostKey())
            try:
                client.connect(host.hostname, port=host.port, username=host.user, pkey=key,
                               timeout=self.connect_timeout,
                               banner_timeout=self.connect_timeout,
                               auth_timeout=self.connect_timeout,
                               channel_timeout=self.connect_timeout,
                               allow_agent=False, look_for_keys=False)
            except paramiko.AuthenticationException as exc:
                client.close()
                reason = f"cannot log in: authentication failed ({exc})"
                auth, words = True, "authentication failed"
                continue  # the next identity file may be accepted
            except (paramiko.SSHException, OSError, EOFError) as exc:
                client.close()
                reason = f"cannot connect: {exc or type(exc).__name__}"
                auth, words = False, connect_failure_words(exc)
                break
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(15)
            self.connections_opened += 1
            log.debug("connected to %s", where)
            return client
        raise SSHUnreachable(f"{where}: {reason}", node=host.name, user=host.user,
                             address=f"{host.hostname}:{host.port}", reason=words, auth=auth)

    def _open_channel(self, node: str) -> paramiko.Channel:
        client = self._client(node)
        for attempt in (1, 2):
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("not connected")
                return transport.open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 2:
                    raise LabUnavailable(f"{node}: cannot open an SSH channel: {exc}") from exc
                log.debug("%s: connection died (%s); reconnecting once", node, exc)
                client = self._client(node, fresh=True)
        raise AssertionError("unreachable")

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _drain(channel: paramiko.Channel, deadline: float) -> tuple[bytes, bytes]:
        """Read stdout and stderr together (so neither window fills up) until EOF."""
        stdout, stderr = bytearray(), bytearray()
        while True:
            busy = False
            if channel.recv_ready():
                stdout += channel.recv(65536)
                busy = True
            if channel.recv_stderr_ready():
                stderr += channel.recv_stderr(65536)
                busy = True
            if not busy and (channel.eof_received or channel.closed):
                return bytes(stdout), bytes(stderr)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not busy:
                # the channel's fileno turns readable when either stream gets data or EOF
                select.select([channel], [], [], min(remaining, 1.0))

    @contextmanager
    def _sftp(self, node: str, timeout: float, what: str) -> Iterator[paramiko.SFTPClient]:
        channel = self._open_channel(node)
        try:
            channel.settimeout(timeout)
            channel.invoke_subsystem("sftp")
            sftp = paramiko.SFTPClient(channel)
            try:
                yield sftp
            finally:
                sftp.close()
        except TimeoutError:
            raise LabUnavailable(f"{node}: SFTP {what} did not finish within {timeout:g}s") \
                from None
        except (paramiko.SSHException, EOFError) as exc:
            raise LabUnavailable(f"{node}: SFTP {what} failed: {exc}") from exc
        finally:
            channel.close()
