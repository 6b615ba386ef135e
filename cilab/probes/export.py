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

The file rotates at 10 MB (the chart's default hubble-export-file-max-size-mb): a
scenario's flows may sit partly in the newest backup.  Cilium's exporter rotates with
lumberjack, which renames the full file to `events-<UTC time 2006-01-02T15-04-05.000>.log`
(`.log.gz` when compression is on, which the suite cannot grep and does not read), so a
read covers the tail of the newest such backup and then the tail of events.log.  The
lines are parsed one by one: a last line the agent is still writing (no final newline) is
skipped, and any other line that is not an export event is reported without discarding
the events around it.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from cilab.lab import Lab
from cilab.parsers.hubble import FlowBatch, parse_flows
from cilab.probes import k8s

EXPORT_DIR = "/var/run/cilium/hubble"
EXPORT_FILE = f"{EXPORT_DIR}/events.log"
EXPORT_TAIL_LINES = 20000
NO_FILE_RC = 3


#: lumberjack's name for a rotated events.log (uncompressed)
BACKUP_RE = re.compile(r"^events-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log$")
_BACKUP_GLOB = "events-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]-[0-9][0-9]-[0-9][0-9].[0-9][0-9][0-9].log"


def tail_command(namespace: str, directory: str = EXPORT_DIR) -> list[str]:
    """The newest backup's tail, then events.log's tail, the lines naming `namespace`.
    An `echo` after the backup ends its output with a newline, so its last line never runs
    into the first line of events.log (the blank line it may add is ignored)."""
    ns = shlex.quote(namespace)
    current = f"{directory}/events.log"
    script = (f"test -f {current} || {{ echo 'no such file: {current}' >&2; exit {NO_FILE_RC}; }}; "
              f"cd {directory} && newest=$(ls -1 {_BACKUP_GLOB} 2>/dev/null | sort | tail -n 1); "
              f"{{ if [ -n \"$newest\" ]; then tail -n {EXPORT_TAIL_LINES} \"$newest\"; echo; fi; "
              f"tail -n {EXPORT_TAIL_LINES} events.log; }} | grep -F -e {ns} || true")
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
    #: lines that are not export events (reported, never fatal to the others)
    bad_lines: list[str] = field(default_factory=list)


def parse_lines(text: str) -> tuple[FlowBatch, int, list[str]]:
    """Export lines parsed one by one: (events, lines read, problems).  A last line without
    its newline is one the agent is still writing: it is skipped, not a problem."""
    if text and not text.endswith("\n"):
        text = text.rsplit("\n", 1)[0] if "\n" in text else ""
    batch, lines, bad = FlowBatch(), 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            one = parse_flows(line)
        except ValueError as exc:
            bad.append(f"line {number}: {str(exc).split(': ', 1)[-1][:160]}")
            continue
        batch.flows += one.flows
        batch.lost_events += one.lost_events
        batch.skipped += one.skipped
    return batch, lines, bad


def read(lab: Lab, node: str, namespace: str) -> ExportRead:
    """The export-file lines of `node` that mention `namespace`, parsed as flows.

    A line the agent was still writing (no final newline) is left out; any other line
    that is not a valid export event is reported in `problem`.
    """
    agent = k8s.cilium_agent_on(lab, node)
    result = k8s.agent_exec(lab, agent, tail_command(namespace), timeout=60, scope=namespace,
                            what=f"the export file is read in {agent}",
                            typed=f"kubectl exec -n kube-system {agent} -- tail {EXPORT_FILE} | grep {namespace}")
    if result.rc == NO_FILE_RC:
        return ExportRead(node, agent, False, FlowBatch(), 0, result.stderr.strip())
    if not result.ok:
        raise AssertionError(f"reading {EXPORT_FILE} in {agent} on {node} failed "
                             f"(exit {result.rc}): {result.stderr.strip()[:200]}")
    batch, lines, bad = parse_lines(result.stdout)
    problem = ""
    if bad and not batch.flows:
        problem = f"not export events: {'; '.join(bad[:3])}"
    return ExportRead(node, agent, True, batch, lines, problem, bad)


@dataclass(frozen=True)
class ExportFile:
    name: str
    size: int


def files(lab: Lab, node: str) -> list[ExportFile]:
    """The files in the export directory of `node` (events.log and its rotated backups)."""
    agent = k8s.cilium_agent_on(lab, node)
    result = k8s.agent_exec(lab, agent, LIST_COMMAND, what=f"the export directory is listed in {agent}",
                            typed=f"kubectl exec -n kube-system {agent} -- ls -l {EXPORT_DIR}")
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
