"""Node-level probes: listening sockets from `ss -tlnpH`, run on each node as root."""
from __future__ import annotations

from cilab import node_tools
from cilab.lab import Lab
from cilab.parsers.ss import Listener, read_ss

SS_COMMAND = "ss -tlnpH"


class NodeListeners(list[Listener]):
    """The listeners of one node, and the `ss` lines that could not be read there."""

    def __init__(self, node: str, listeners: list[Listener], unreadable: list[str]) -> None:
        super().__init__(listeners)
        self.node = node
        self.unreadable = list(unreadable)

    def note(self) -> str:
        """`` (unreadable ss lines on NODE: ...)`` for a failure message, or ``""``."""
        if not self.unreadable:
            return ""
        return f" (unreadable ss lines on {self.node}, skipped: {'; '.join(self.unreadable)})"


def listeners(lab: Lab, node: str) -> NodeListeners:
    """The node's listening TCP sockets.  A line `ss` printed that the parser cannot read is
    attached to the report and skipped; the other lines still count."""
    result = node_tools.run(lab, node, "ss", SS_COMMAND, timeout=20)
    if not result.ok:
        raise AssertionError(f"`{SS_COMMAND}` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    report = read_ss(result.stdout)
    if report.unreadable and lab.attach is not None:
        try:
            lab.attach(f"unreadable ss lines on {node}", "\n".join(report.unreadable))
        except Exception:  # reporting must never break a probe
            pass
    return NodeListeners(node, report.listeners, report.unreadable)


def describe(found: list[Listener]) -> str:
    if not found:
        return "nothing"
    return ", ".join(f"{l.shown} by {'/'.join(l.processes) or '?'}" for l in found)


def reachable(listener: Listener, node_ip: str) -> bool:
    """Is `listener` a socket other nodes (Prometheus, Hubble Relay) can connect to on the
    node's InternalIP?  Loopback-only, device-bound-to-lo and IPv6-only wildcard sockets
    on an IPv4 node are not (`Listener.accepts`)."""
    return listener.accepts(node_ip)
