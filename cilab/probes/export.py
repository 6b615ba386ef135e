"""Hubble's flow export file on a node (seed lines 2240-2397).

With `hubble.export.static` on, every agent appends each flow it observes to
/var/run/cilium/hubble/events.log as one JSON ExportEvent per line (the jsonpb shape of
`hubble observe`, hubble-1.17-formats.md §4), rotating it at hubble-export-file-max-size-mb
and keeping hubble-export-file-max-backups rotated files.  The file lives on the node's
/var/run/cilium (a hostPath of the agent), so it is read in the agent pod of that node,
as the seed does with `kubectl -n kube-system exec ds/cilium -- tail ... events.log`.

Reads are bounded: the last EXPORT_TAIL_LINES lines, of which only those naming the
scenario's namespace are returned (the namespace is a unique string, so no other
scenario's flow can satisfy a check, and the transfer stays small).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from cilab.lab import Lab
from cilab.parsers.hubble import FlowBatch, parse_flows
from cilab.probes import k8s

EXPORT_DIR = "/var/run/cilium/hubble"
EXPORT_FILE = f"{EXPORT_DIR}/events.log"
EXPORT_TAIL_LINES = 20000
NO_FILE_RC = 3


def tail_command(namespace: str) -> list[str]:
    script = (f"test -f {EXPORT_FILE} || {{ echo 'no such file: {EXPORT_FILE}' >&2; exit {NO_FILE_RC}; }}; "
              f"tail -n {EXPORT_TAIL_LINES} {EXPORT_FILE} | grep -F -e {shlex.quote(namespace)} || true")
    return ["sh", "-c", script]


LIST_COMMAND = ["sh", "-c", f"find {EXPORT_DIR} -maxdepth 1 -type f -printf '%s %f\\n'"]


@dataclass(frozen=True)
class ExportRead:
    node: str
    agent: str
    exists: bool
    batch: FlowBatch
    lines: int
    problem: str = ""


def read(lab: Lab, node: str, namespace: str) -> ExportRead:
    """The export-file lines of `node` that mention `namespace`, parsed as flows.

    A line the agent was still writing (no final newline) is left out; any other line
    that is not a valid export event is reported in `problem`.
    """
    agent = k8s.cilium_agent_on(lab, node)
    result = lab.when_ready(lambda: lab.exec("kube-system", agent, "cilium-agent", tail_command(namespace),
                                             timeout=60, scope=namespace),
                            what=f"the export file is read in {agent}")
    if result.rc == NO_FILE_RC:
        return ExportRead(node, agent, False, FlowBatch(), 0, result.stderr.strip())
    if not result.ok:
        raise AssertionError(f"reading {EXPORT_FILE} in {agent} on {node} failed "
                             f"(exit {result.rc}): {result.stderr.strip()[:200]}")
    text = result.stdout
    if text and not text.endswith("\n"):
        text = text.rsplit("\n", 1)[0] if "\n" in text else ""
    lines = sum(1 for line in text.splitlines() if line.strip())
    try:
        batch = parse_flows(text)
    except ValueError as exc:
        return ExportRead(node, agent, True, FlowBatch(), lines, f"not export events: {exc}")
    return ExportRead(node, agent, True, batch, lines)


@dataclass(frozen=True)
class ExportFile:
    name: str
    size: int


def files(lab: Lab, node: str) -> list[ExportFile]:
    """The files in the export directory of `node` (events.log and its rotated backups)."""
    agent = k8s.cilium_agent_on(lab, node)
    result = lab.when_ready(lambda: lab.exec("kube-system", agent, "cilium-agent", LIST_COMMAND, timeout=30),
                            what=f"the export directory is listed in {agent}")
    if not result.ok:
        raise AssertionError(f"listing {EXPORT_DIR} in {agent} on {node} failed "
                             f"(exit {result.rc}): {result.stderr.strip()[:200]}")
    out = []
    for line in result.stdout.splitlines():
        size, _, name = line.strip().partition(" ")
        if name:
            out.append(ExportFile(name, int(size)))
    return out


def is_backup(name: str) -> bool:
    """A rotated file of events.log: lumberjack names it events-<UTC timestamp>.log
    (.log.gz when compression is on); any other events* file is counted as one too, so a
    different naming cannot hide surplus backups."""
    return name != "events.log" and name.startswith("events")
