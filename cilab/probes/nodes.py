"""Node-level probes: listening sockets from `ss -tlnpH`, run on each node as root."""
from __future__ import annotations

from cilab.lab import Lab
from cilab.parsers.ss import Listener, parse_ss

SS_COMMAND = "ss -tlnpH"


def listeners(lab: Lab, node: str) -> list[Listener]:
    result = lab.shell(node, SS_COMMAND, timeout=20)
    if not result.ok:
        raise AssertionError(f"`{SS_COMMAND}` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    return parse_ss(result.stdout)


def describe(found: list[Listener]) -> str:
    if not found:
        return "nothing"
    return ", ".join(f"{l.address}:{l.port} by {'/'.join(l.processes) or '?'}" for l in found)
