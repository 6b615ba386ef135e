"""The programs the suite runs on a node, and what a node without one of them gets.

The student types `hubble`, `cilium`, `ss`, `iptables-save`, `kubectl` and `helm` on the
lab's nodes; the write-up installs each at a step of its own (`TOOLS`).  A lab where one is
missing (most often the `hubble` CLI, which the write-up installs by hand in its Hubble CLI
chapter) is not the write-up's lab for the chapters that use it: those scenarios fail with
one line naming the program, the node and the write-up step that installs it, and nothing
else is affected.

A program is checked by its own first run on a node: a shell that cannot find it says so
(dash ``sh: 1: hubble: not found``, BusyBox ash ``sh: hubble: not found``, bash
``bash: line 1: hubble: command not found``, exit 127; sudo ``sudo: helm: command not
found``; setsid ``setsid: failed to execute cilium: No such file or directory``).  The
answer is kept for the run (per node and program), so a later scenario that needs it fails
at once with the same line, without running it again.  No extra call is made: a recorded
run replays as it was recorded.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from cilab.retry import Final


@dataclass(frozen=True)
class Tool:
    name: str
    #: what the suite runs it for (the student's commands)
    used_for: str
    #: the write-up step that installs it, with the seed lines
    installed_by: str


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("hubble", "`hubble status`, `hubble config view` and `hubble observe` on the control plane",
         "the Hubble CLI chapter's install (seed 1223-1231: the hubble-linux tarball from cilium/hubble's "
         "releases unpacked into /usr/local/bin, then `which hubble`)"),
    Tool("cilium", "`cilium hubble port-forward &` on the control plane",
         "k8s-ctr.sh's cilium CLI install (seed 302-306: the cilium-linux tarball from cilium/cilium-cli's "
         "releases unpacked into /usr/local/bin)"),
    Tool("helm", "reading and switching the Cilium release on the control plane",
         "init_cfg.sh's TASK 6 (seed 221: Helm 3 from helm's get-helm-3 script)"),
    Tool("kubectl", "`kubectl get node -owide` (the nodes as the student lists them) and `kubectl apply` "
         "and `kubectl patch` of the monitoring chapter on the control plane",
         "init_cfg.sh's Kubernetes packages (seed 201: `apt-get install kubelet kubectl kubeadm`)"),
    Tool("ss", "`ss -tnlp` (the listening ports) on each node",
         "Ubuntu's iproute2 package, part of the write-up's box (bento/ubuntu-24.04; seed 1239 `ss -tnlp | grep 4245`)"),
    Tool("iptables-save", "`iptables-save` (the rules Cilium installs) on each node",
         "Ubuntu's iptables package, part of the write-up's box (bento/ubuntu-24.04; the student's "
         "`iptables -t nat -S` at seed 660-703)"),
)}


class MissingTool(Final):
    """A program the write-up installs is not on the node: a failed expectation that no
    retry changes (`cilab.retry.Final`), so the scenario fails at once with `line`."""

    def __init__(self, node: str, tool: str) -> None:
        self.node, self.tool = node, tool
        super().__init__(missing_line(node, tool))


def missing_line(node: str, tool: str) -> str:
    known = TOOLS.get(tool)
    if known is None:
        return f"`{tool}` is not installed on {node}"
    return (f"`{tool}` is not installed on {node}: the suite runs it for {known.used_for}; "
            f"the write-up installs it in {known.installed_by}")


def _not_found_re(tool: str) -> re.Pattern[str]:
    t = re.escape(tool)
    return re.compile(rf"(?m)(?:^|: ){t}: (?:command )?not found\s*$|failed to execute {t}: No such file or directory")


def not_found(tool: str, rc: int, text: str) -> bool:
    """Did a shell (or sudo, or setsid) say it cannot find `tool`?  `text` is what the
    command printed (stderr, or stdout and stderr)."""
    return rc != 0 and bool(_not_found_re(tool).search(text))


_missing: dict[tuple[str, str], MissingTool] = {}
_lock = threading.Lock()


def known_missing(node: str, tool: str) -> None:
    """Raise at once for a program already found missing on the node in this run."""
    with _lock:
        found = _missing.get((node, tool))
    if found is not None:
        raise MissingTool(node, tool)


def check(node: str, tool: str, result: Any) -> Any:
    """`result` (a CommandResult of a command that ran `tool` on `node`), or `MissingTool`
    when the shell could not find it (kept for the run)."""
    if not_found(tool, result.rc, f"{result.stdout}\n{result.stderr}"):
        with _lock:
            _missing[(node, tool)] = MissingTool(node, tool)
        raise MissingTool(node, tool)
    return result


def seen_in_output(node: str, tool: str, text: str) -> None:
    """For a program started in the background whose errors go to a log (`setsid cilium
    hubble port-forward >LOG 2>&1 &`): raise when the log says it could not be run."""
    if _not_found_re(tool).search(text):
        with _lock:
            _missing[(node, tool)] = MissingTool(node, tool)
        raise MissingTool(node, tool)


def run(lab: Any, node: str, tool: str, command: str, **kwargs: Any) -> Any:
    """`lab.call("node_shell", ...)` of a command that runs `tool` on `node`, checked
    (`check`); a program already found missing there is not run again."""
    known_missing(node, tool)
    return check(node, tool, lab.call("node_shell", node=node, command=command, **kwargs))


def forget() -> None:
    """Forget what was found (a new run in the same process: the unit tests)."""
    with _lock:
        _missing.clear()
