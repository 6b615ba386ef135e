"""Listening TCP sockets from `ss -tlnpH` / `ss -tnlp` (iproute2).

Line shape (one socket per line, columns separated by runs of blanks)::

    [Netid] [State] [Recv-Q Send-Q] Local-Address:Port Peer-Address:Port [Process]

e.g. ``LISTEN 0 4096 *:4244 *:* users:(("cilium-agent",pid=7154,fd=55))`` (the lab
write-up, "Enabling Hubble": every node listens on ``*:4244``).  The header line
(``State Recv-Q ...``) is skipped, the Process column is absent without ``-p`` or without
permission, and it lists several processes when a socket is shared.

How ss writes the local address (iproute2 `misc/ss.c`, `inet_addr_print` and
`sock_addr_print`):

* ``*`` is the IPv6 wildcard of a dual-stack socket (Go's ``net.Listen("tcp", ":4244")``):
  it accepts IPv4 and IPv6; ``[::]`` is the IPv6 wildcard of an IPv6-only socket
  (``IPV6_V6ONLY``): it accepts no IPv4 connection; ``0.0.0.0`` is the IPv4 wildcard;
* IPv6 addresses are bracketed (``[::1]``, ``[fe80::1]``);
* a socket bound to a device (``SO_BINDTODEVICE``) carries ``%DEV`` after the address:
  ``*%lo:39999``, ``127.0.0.53%lo:53``, ``[fe80::1]%eth1:22``.

A line this parser cannot read is reported (`SsReport.unreadable`) and skipped: it never
takes the node's other lines down with it.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

_HEADER_FIRST_WORDS = {"state", "netid", "recv-q"}
_NETIDS = {"tcp", "udp", "sctp", "mptcp", "raw", "u_str", "u_dgr", "u_seq", "p_raw", "p_dgr"}
_STATES = {"LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
           "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "CLOSED", "UNKNOWN"}
_PROCESS_RE = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)(?:,fd=\d+)?\)')
_PEER_RE = re.compile(r"^\S+:(\*|\d+)$")
_DEVICE_RE = re.compile(r"^[^\s%/:]{1,15}$")  # a Linux interface name (IFNAMSIZ - 1)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Listener:
    """One listening socket.  `address` is the host part as ss prints it without the
    device (``*``, ``0.0.0.0``, ``[::]``, ``[::1]``, ``127.0.0.53`` ...); `device` is the
    interface the socket is bound to (``lo`` for ``127.0.0.53%lo``), None when unbound."""

    address: str
    port: int
    processes: tuple[str, ...] = ()
    pids: tuple[int, ...] = ()
    device: str | None = None

    @property
    def _ip(self) -> IP | None:
        return _ip_of(self.address)

    @property
    def shown(self) -> str:
        """``ADDR[%DEV]:PORT`` as ss printed it."""
        return f"{self.address}{'%' + self.device if self.device else ''}:{self.port}"

    @property
    def is_wildcard(self) -> bool:
        """Bound to every address of one family or both (``*``, ``0.0.0.0``, ``[::]``)."""
        return self.address in ("*", "0.0.0.0", "[::]")

    @property
    def is_loopback(self) -> bool:
        if self.device == "lo":
            return True
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

    def accepts(self, node_ip: str) -> bool:
        """Can another host connect to this socket on `node_ip`?  The dual-stack ``*``
        takes any address, ``0.0.0.0`` any IPv4 address, the IPv6-only ``[::]`` any IPv6
        address only; otherwise the socket's own address must be `node_ip` (an
        IPv4-mapped ``[::ffff:a.b.c.d]`` counts as a.b.c.d).  A socket bound to the
        loopback device takes nothing from other hosts."""
        if self.device == "lo":
            return False
        target = ipaddress.ip_address(node_ip)
        if self.address == "*":
            return True
        if self.address == "0.0.0.0":
            return target.version == 4
        if self.address == "[::]":
            return target.version == 6
        ip = self._ip
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip == target


@dataclass
class SsReport:
    """What one `ss` output held: the listeners it could read, and the lines it could not
    (each with the reason), in output order."""

    listeners: list[Listener] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def _ip_of(address: str) -> IP | None:
    """The IP of an ss host part (device removed); None for ``*``.  Raises ValueError
    when it is no IP."""
    if address == "*":
        return None
    host = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    return ipaddress.ip_address(host)


def _split_local(token: str, line: str) -> tuple[str, str | None, int]:
    """``ADDR[%DEV]:PORT`` -> (ADDR, DEV, PORT)."""
    host, sep, port = token.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"ss: cannot read a local address:port in line {line!r}")
    device = None
    if host.startswith("["):  # [v6]%dev
        end = host.find("]")
        if end < 0:
            raise ValueError(f"ss: {host!r} is not an IP address in line {line!r}")
        rest = host[end + 1:]
        host = host[:end + 1]
        if rest:
            if not rest.startswith("%") or not _DEVICE_RE.match(rest[1:]):
                raise ValueError(f"ss: cannot read the device {rest!r} in line {line!r}")
            device = rest[1:]
    elif "%" in host:
        host, _, device = host.partition("%")
        if not _DEVICE_RE.match(device):
            raise ValueError(f"ss: cannot read the device {device!r} in line {line!r}")
    try:
        _ip_of(host)
    except ValueError:
        raise ValueError(f"ss: {host!r} is not an IP address in line {line!r}") from None
    return host, device, int(port)


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
    address, device, port = _split_local(tokens[0], line)
    found = _PROCESS_RE.findall(users)
    if users and not found:
        raise ValueError(f"ss: cannot read the users:(...) column in line {line!r}")
    return Listener(address=address, port=port,
                    processes=tuple(name for name, _ in found),
                    pids=tuple(int(pid) for _, pid in found), device=device)


def read_ss(text: str) -> SsReport:
    """Every line of `ss -tlnpH` / `ss -tnlp` output: the listeners, and the lines that
    could not be read (reported, skipped)."""
    report = SsReport()
    for line in text.splitlines():
        try:
            listener = parse_ss_line(line)
        except ValueError as exc:
            report.unreadable.append(str(exc))
            continue
        if listener is not None:
            report.listeners.append(listener)
    return report


def parse_ss(text: str) -> list[Listener]:
    """The listeners of `ss -tlnpH` / `ss -tnlp` output, in output order (unreadable
    lines skipped: `read_ss` reports them)."""
    return read_ss(text).listeners


def listeners_on_port(listeners: list[Listener], port: int) -> list[Listener]:
    """The listeners bound to `port` (any address)."""
    return [listener for listener in listeners if listener.port == port]
