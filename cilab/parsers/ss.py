"""Listening TCP sockets from `ss -tlnpH` / `ss -tnlp` (iproute2).

Line shape (one socket per line, columns separated by runs of blanks)::

    [Netid] [State] [Recv-Q Send-Q] Local-Address:Port Peer-Address:Port [Process]

e.g. ``LISTEN 0 4096 *:4244 *:* users:(("cilium-agent",pid=7154,fd=55))`` (the lab
write-up, "Enabling Hubble": every node listens on ``*:4244``).  The header line
(``State Recv-Q ...``) is skipped, the Process column is absent without ``-p`` or without
permission, and it lists several processes when a socket is shared.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_HEADER_FIRST_WORDS = {"state", "netid", "recv-q"}
_NETIDS = {"tcp", "udp", "sctp", "mptcp", "raw", "u_str", "u_dgr", "u_seq", "p_raw", "p_dgr"}
_STATES = {"LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
           "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "CLOSED", "UNKNOWN"}
_PROCESS_RE = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)(?:,fd=\d+)?\)')
_PEER_RE = re.compile(r"^\S+:(\*|\d+)$")


@dataclass(frozen=True)
class Listener:
    """One listening socket.  `address` is the host part exactly as ss prints it
    (``*``, ``0.0.0.0``, ``[::]``, ``[::1]``, ``127.0.0.53%lo`` ...)."""

    address: str
    port: int
    processes: tuple[str, ...] = ()
    pids: tuple[int, ...] = ()

    @property
    def _ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        return _ip_of(self.address)

    @property
    def is_wildcard(self) -> bool:
        return self.address in ("*", "0.0.0.0", "::", "[::]")

    @property
    def is_loopback(self) -> bool:
        ip = self._ip
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback

    @property
    def family(self) -> str:
        """``ipv4``, ``ipv6``, or ``any`` for the dual-stack wildcard ``*``."""
        ip = self._ip
        if ip is None:
            return "any"
        return "ipv4" if ip.version == 4 else "ipv6"


def _ip_of(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of an ss host part; None for ``*``.  Raises ValueError when it is no IP."""
    if address == "*":
        return None
    host = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    host = host.split("%", 1)[0]  # zone / bound interface: 127.0.0.53%lo, fe80::1%eth0
    return ipaddress.ip_address(host)


def _split_host_port(token: str, line: str) -> tuple[str, int]:
    host, sep, port = token.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"ss: cannot read a local address:port in line {line!r}")
    try:
        _ip_of(host)
    except ValueError:
        raise ValueError(f"ss: {host!r} is not an IP address in line {line!r}") from None
    return host, int(port)


def parse_ss_line(line: str) -> Listener | None:
    """One ss line -> Listener; None for a blank or header line; ValueError otherwise."""
    text = line.strip()
    if not text:
        return None
    users_at = text.find("users:(")
    head, users = (text[:users_at], text[users_at:]) if users_at >= 0 else (text, "")
    tokens = head.split()
    if tokens and tokens[0].lower() in _HEADER_FIRST_WORDS:
        return None
    if tokens and tokens[0].lower() in _NETIDS:
        tokens = tokens[1:]
    if tokens and tokens[0] in _STATES:
        tokens = tokens[1:]
    if len(tokens) >= 4 and tokens[0].isdigit() and tokens[1].isdigit():
        tokens = tokens[2:]  # Recv-Q Send-Q
    if len(tokens) < 2 or not _PEER_RE.match(tokens[1]):
        raise ValueError(f"ss: cannot parse line {line!r}")
    address, port = _split_host_port(tokens[0], line)
    found = _PROCESS_RE.findall(users)
    if users and not found:
        raise ValueError(f"ss: cannot read the users:(...) column in line {line!r}")
    return Listener(address=address, port=port,
                    processes=tuple(name for name, _ in found),
                    pids=tuple(int(pid) for _, pid in found))


def parse_ss(text: str) -> list[Listener]:
    """All listeners in `ss -tlnpH` / `ss -tnlp` output, in output order."""
    listeners = []
    for line in text.splitlines():
        listener = parse_ss_line(line)
        if listener is not None:
            listeners.append(listener)
    return listeners


def listeners_on_port(listeners: list[Listener], port: int) -> list[Listener]:
    """The listeners bound to `port` (any address)."""
    return [listener for listener in listeners if listener.port == port]
