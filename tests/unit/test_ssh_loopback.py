"""SSHPool against a real OpenSSH server on 127.0.0.1 (throwaway keys, foreground sshd).

Needs /usr/sbin/sshd (Debian: `apt-get install openssh-server`) and `ss` (iproute2); the
CI script installs both, so a missing sshd is a failure, not a skip.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Iterator

import pytest

from cilab.errors import ConfigError, LabUnavailable
from cilab.ssh import SSHHost, SSHPool
from tests.unit.sshd_server import NODE, Server, free_port, loopback_sshd, write_key  # noqa: F401


@pytest.fixture
def pool(sshd: Server) -> Iterator[SSHPool]:
    with SSHPool({NODE: sshd.host()}, connect_timeout=5) as p:
        yield p


def test_echo(pool: SSHPool) -> None:
    result = pool.run(NODE, "echo hi", timeout=10)
    assert (result.rc, result.stdout, result.stderr) == (0, "hi\n", "")


def test_failing_command_returns_its_rc(pool: SSHPool) -> None:
    result = pool.run(NODE, "echo oops >&2; exit 3", timeout=10)
    assert (result.rc, result.stdout, result.stderr) == (3, "", "oops\n")


def test_large_stdout_and_stderr_do_not_deadlock(pool: SSHPool) -> None:
    result = pool.run(NODE, "head -c 3000000 /dev/zero | tr '\\0' a >&2; "
                            "head -c 3000000 /dev/zero | tr '\\0' b", timeout=30)
    assert result.rc == 0
    assert len(result.stderr) == 3_000_000 and len(result.stdout) == 3_000_000


def test_ss_over_ssh_shows_our_listener(pool: SSHPool) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = pool.run(NODE, "ss -tlnpH", timeout=10)
    assert result.rc == 0, result.stderr
    try:
        from cilab.parsers.ss import parse_ss
    except ImportError:
        assert f"127.0.0.1:{port}" in result.stdout
        return
    [ours] = [x for x in parse_ss(result.stdout) if x.port == port]
    assert ours.address == "127.0.0.1"
    assert ours.processes, "ss -p names the listening process (runs as root in CI)"
    if hasattr(ours, "pids"):
        assert os.getpid() in ours.pids


def test_connection_is_reused(pool: SSHPool) -> None:
    assert pool.run(NODE, "true", timeout=10).ok
    assert pool.run(NODE, "true", timeout=10).ok
    assert pool.connections_opened == 1


def test_reconnects_once_when_the_transport_died(pool: SSHPool) -> None:
    assert pool.run(NODE, "true", timeout=10).ok
    transport = pool._clients[NODE].get_transport()
    assert transport is not None
    transport.close()  # as if the VM rebooted
    assert pool.run(NODE, "echo back", timeout=10).stdout == "back\n"
    assert pool.connections_opened == 2


def test_timeout(pool: SSHPool) -> None:
    started = time.monotonic()
    with pytest.raises(LabUnavailable) as info:
        pool.run(NODE, "sleep 3", timeout=1)
    assert time.monotonic() - started < 1 + 2
    assert NODE in str(info.value) and "sleep 3" in str(info.value)
    assert pool.run(NODE, "echo still usable", timeout=10).ok


def test_wrong_key(sshd: Server) -> None:
    with SSHPool({NODE: sshd.host(sshd.wrong_key)}, connect_timeout=5) as pool:
        with pytest.raises(LabUnavailable) as info:
            pool.run(NODE, "true", timeout=10)
    message = str(info.value)
    assert NODE in message and f"127.0.0.1:{sshd.port}" in message
    assert "authentication failed" in message
    assert pool.connections_opened == 0


def test_refused_port(sshd: Server) -> None:
    port = free_port()  # nothing listens there
    host = SSHHost(NODE, "127.0.0.1", port, sshd.user, (str(sshd.key),))
    with SSHPool({NODE: host}, connect_timeout=5) as pool:
        with pytest.raises(LabUnavailable) as info:
            pool.run(NODE, "true", timeout=5)
    assert f"{NODE} ({sshd.user}@127.0.0.1:{port}): cannot connect" in str(info.value)


def test_missing_key_file() -> None:
    host = SSHHost(NODE, "127.0.0.1", 22, "vagrant", ("/nonexistent/private_key",))
    with SSHPool({NODE: host}) as pool:
        with pytest.raises(LabUnavailable, match="no usable private key.*no such file"):
            pool.run(NODE, "true", timeout=5)


def test_unknown_node(pool: SSHPool) -> None:
    with pytest.raises(ConfigError, match="unknown node 'k8s-w9'"):
        pool.run("k8s-w9", "true", timeout=5)


def test_sftp_write_then_read(pool: SSHPool, sshd: Server) -> None:
    target = sshd.workdir / "sftp" / "kubeconfig"
    target.parent.mkdir(exist_ok=True)
    data = b"apiVersion: v1\n" + bytes(range(256)) * 1000
    pool.write_file(NODE, str(target), data)
    assert pool.read_file(NODE, str(target)) == data
    assert target.stat().st_mode & 0o777 == 0o600
    pool.write_file(NODE, str(target), b"short", mode=0o644)  # replaces, new mode
    assert pool.read_file(NODE, str(target)) == b"short"
    assert target.stat().st_mode & 0o777 == 0o644
    assert pool.connections_opened == 1


def test_node_clock_over_ssh_brackets_the_same_clock(pool: SSHPool) -> None:
    """The clock measurement over a real SSH exec: runner and "node" share this machine's clock,
    so the measured offset lies within the read's own uncertainty (half its round trip)."""
    from cilab.backends.base import measure_clock
    from cilab.probes.clocks import reading
    answer = measure_clock(pool.run, NODE, 10)
    assert len(answer["samples"]) == 3 and all(s["rc"] == 0 for s in answer["samples"]), answer
    offset, uncertainty, problem = reading(answer)
    assert problem == "" and offset is not None and uncertainty is not None
    assert abs(offset) <= uncertainty + 0.01, (offset, uncertainty)
