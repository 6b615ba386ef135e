"""The Hubble CLI as the student runs it on k8s-ctr (seed 1223-1365, 1679-1807).

The student installs the `hubble` CLI on the control-plane node, opens the Hubble API
with `cilium hubble port-forward &` (Relay's port 4245 on the node's loopback), and then
types `hubble status`, `hubble config view` and `hubble observe ...` there.  These probes
run exactly those commands in a node shell of the control-plane node:

* vagrant lab (and `--lab kubeconfig --ssh-config`): an SSH login as root on k8s-ctr;
* `--lab kubeconfig` without SSH: the node shell is a privileged host-network, host-PID
  debug pod entering the node's namespaces (`nsenter -t 1`), the closest equivalent: the
  same commands, the node's own binaries and root's kubeconfig, but not a login shell.
  `how_commands_run` says which, and the steps attach it to the report.

The port-forward runs in the background like the student's `&`, detached with `setsid`,
its pid kept in a file on the node so the suite can stop it (and a leftover of an
interrupted run) by pid.  While it runs, the lab state carries the stage label
`hubble-port-forward` (docs/transcripts.md): a call such as `hubble status` answers
differently with and without it.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from cilab import node_tools
from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.parsers.cilium_dbg import IPCacheEntry, parse_ip_list
from cilab.parsers.hubble import FlowBatch, HubbleStatus, parse_flows, parse_hubble_status
from cilab.parsers.ss import Listener, parse_ss
from cilab.probes import k8s

PORT = 4245
PORT_FORWARD_STAGE = "hubble-port-forward"
PID_FILE = "/run/cilab-hubble-port-forward.pid"
LOG_FILE = "/run/cilab-hubble-port-forward.log"
#: `ss -tnlp | grep 4245` (seed 1288), as a filter ss applies itself
SS_4245 = f"ss -tlnpH 'sport = :{PORT}'"
#: the agent's default Hubble ring buffer per node (hubble-event-buffer-capacity, not set
#: by the lab's values: cilium-1.17.6-facts.md "Agent default capacity is 4095")
FLOWS_PER_NODE = 4095
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"

START_COMMAND = (f"setsid cilium hubble port-forward >{LOG_FILE} 2>&1 </dev/null & "
                 f"echo $! >{PID_FILE}; echo $!")
#: kill the recorded port-forward (only if that pid is still a `cilium` process); its pid file
#: and log go too, so the node is left as found
STOP_COMMAND = (f"if [ -s {PID_FILE} ]; then pid=$(cat {PID_FILE}); "
                f"if [ \"$(ps -o comm= -p \"$pid\")\" = cilium ]; then kill \"$pid\"; echo \"stopped $pid\"; "
                f"else echo \"gone $pid\"; fi; rm -f {PID_FILE} {LOG_FILE}; else echo none; fi")
ALIVE_COMMAND = f"if [ -s {PID_FILE} ]; then ps -o pid=,comm= -p \"$(cat {PID_FILE})\"; fi; cat {LOG_FILE} 2>/dev/null"
#: what the student types for each of the harness's port-forward commands (report names)
START_TYPED = "cilium hubble port-forward &"
ALIVE_TYPED = "jobs -l   (and what cilium hubble port-forward printed)"
STOP_TYPED = "kill %1   (the cilium hubble port-forward job)"
SS_TYPED = f"ss -tnlp | grep {PORT}"


def control_plane_node(lab: Lab) -> str:
    """The node the student works on: the control-plane node (k8s-ctr in the lab)."""
    nodes = lab.list("v1", "Node")
    names = sorted(n["metadata"]["name"] for n in nodes
                   if CONTROL_PLANE_LABEL in ((n.get("metadata") or {}).get("labels") or {}))
    if not names:
        raise AssertionError(f"no node carries the {CONTROL_PLANE_LABEL} label; nodes: "
                             + ", ".join(sorted(n["metadata"]["name"] for n in nodes)))
    return names[0]


def how_commands_run(lab: Lab, node: str) -> str:
    """One paragraph for the report: where the student's commands ran and how."""
    via = getattr(lab.backend, "node_shell_via", None)
    if via == "debug pod":
        return (f"The commands ran on {node} through the suite's node-shell debug pod (privileged, "
                "host network and host PID, entering the node's namespaces with nsenter -t 1): "
                "there is no SSH access to this lab (--lab kubeconfig without --ssh-config), so this "
                "is the closest equivalent of the student's root shell on the node.")
    if lab.kind == "replay":
        return (f"Replayed: the answers of {node}'s root shell come from the transcript "
                f"{lab.info.get('transcript', '?')!r}.")
    return f"The commands ran on {node} as root over SSH, as the student types them there."


def shell(lab: Lab, node: str, command: str, *, scope: str | None = None,
          timeout: float = 30.0, typed: str | None = None, tool: str | None = None) -> CommandResult:
    """A root shell command on the node; `typed` is what the student types for it (the
    report names the call by it, the full command stays in the attachment).  `tool`: the
    program the command runs, checked (cilab.node_tools: a node without it fails the
    scenario with one line naming the write-up step that installs it)."""
    if tool is None:
        return lab.call("node_shell", scope=scope, typed=typed, node=node, command=command, timeout=timeout)
    return node_tools.run(lab, node, tool, command, scope=scope, typed=typed, timeout=timeout)


def _text(result: CommandResult) -> str:
    return result.stdout + ("\n" + result.stderr if result.stderr else "")


# --- hubble status / config view ------------------------------------------------------------


def status(lab: Lab, node: str) -> HubbleStatus:
    """`hubble status` (its default server, localhost:4245)."""
    return parse_hubble_status(_text(shell(lab, node, "hubble status", tool="hubble")))


def config_view(lab: Lab, node: str) -> dict[str, Any]:
    """`hubble config view`: the CLI's settings as YAML (hubble cmd/config/view.go)."""
    result = shell(lab, node, "hubble config view", tool="hubble")
    if not result.ok:
        raise AssertionError(f"`hubble config view` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    try:
        doc = yaml.safe_load(result.stdout) or {}
    except yaml.YAMLError as exc:
        raise AssertionError(f"`hubble config view` on {node} is not YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise AssertionError(f"`hubble config view` on {node}: expected key: value settings, saw {doc!r}")
    return {str(k): v for k, v in doc.items()}


# --- installing and finding the CLI (seed 1223-1231, 1255-1256, 1274-1275) ---------------------

#: `hubble version` (hubble cmd/version/version.go):
#: "<root> <version>[@<branch>-<hash>|@<hash>] compiled with <go version> on <os>/<arch>"
_VERSION_RE = re.compile(r"^hubble v?(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)(?:@\S+)? compiled with \S+ on \S+/\S+$")
#: cobra's usage line of the flag, e.g. `      --server string   Address of a Hubble server. ... (default "localhost:4245")`
_SERVER_FLAG_RE = re.compile(r"^\s*--server string\s.*\(default \"(?P<default>[^\"]*)\"\)\s*$")


@dataclass(frozen=True)
class CliVersion:
    #: the version without its `v` (1.17.5), None when no line has the form above
    version: str | None
    #: the line `hubble version` printed (or its whole output when none has the form)
    line: str


def which_hubble(lab: Lab, node: str) -> str | None:
    """`which hubble` (seed 1231, 1274-1275): the path of the CLI on root's PATH, or None
    when the shell finds none (which exits 1 and prints nothing)."""
    result = shell(lab, node, "which hubble")
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[0] if result.ok and lines else None


def version(lab: Lab, node: str) -> CliVersion:
    """`hubble version`: the version of the installed CLI."""
    result = shell(lab, node, "hubble version", tool="hubble")
    text = _text(result).strip()
    for line in text.splitlines():
        if m := _VERSION_RE.match(line.strip()):
            return CliVersion(m["version"], line.strip())
    return CliVersion(None, text[:200] or f"nothing (exit {result.rc})")


def help_status(lab: Lab, node: str) -> str:
    """`hubble help status` (seed 1255): the usage of `hubble status`, its flags included."""
    result = shell(lab, node, "hubble help status", tool="hubble")
    if not result.ok:
        raise AssertionError(f"`hubble help status` failed on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    return result.stdout


def server_flag_default(help_text: str) -> str | None:
    """The default of --server in `hubble help status` (what `grep 'server string'` shows,
    seed 1256), or None when the usage has no such line."""
    for line in help_text.splitlines():
        if m := _SERVER_FLAG_RE.match(line):
            return m["default"]
    return None


# --- the port-forward -----------------------------------------------------------------------


@dataclass(frozen=True)
class PortForward:
    node: str
    pid: int
    #: what `cilium hubble port-forward` printed (its log file on the node)
    output: str


def listeners(lab: Lab, node: str) -> list[Listener]:
    """Sockets listening on 4245 on the node (`ss -tnlp | grep 4245`, seed 1288)."""
    result = shell(lab, node, SS_4245, timeout=20, typed=SS_TYPED, tool="ss")
    if not result.ok:
        raise AssertionError(f"`{SS_4245}` failed on {node} (exit {result.rc}): {result.stderr.strip()[:200]}")
    return [l for l in parse_ss(result.stdout) if l.port == PORT]


def stop_leftover(lab: Lab, node: str) -> str:
    """Stop a port-forward an interrupted earlier run left behind (by its pid file)."""
    return shell(lab, node, STOP_COMMAND, typed=STOP_TYPED).stdout.strip()


def start_port_forward(lab: Lab, node: str) -> PortForward:
    """`cilium hubble port-forward &`; waits until it says Relay is available and 4245 listens.

    The lab state gains `hubble-port-forward` once the command is started; a start that
    never comes up is stopped again before the error is raised."""
    node_tools.known_missing(node, "cilium")
    started = shell(lab, node, START_COMMAND, typed=START_TYPED)
    pid_text = started.stdout.strip().splitlines()[-1] if started.stdout.strip() else ""
    if not started.ok or not pid_text.isdigit():
        raise AssertionError(f"`cilium hubble port-forward &` did not start on {node} (exit {started.rc}): "
                             f"{(started.stderr or started.stdout).strip()[:200]}")
    lab.set_stages(lab.state.stages | {PORT_FORWARD_STAGE})
    pid = int(pid_text)

    def up() -> PortForward:
        seen = shell(lab, node, ALIVE_COMMAND, typed=ALIVE_TYPED)
        out = seen.stdout
        node_tools.seen_in_output(node, "cilium", out)  # setsid could not run it: its log says so
        assert f"available at 127.0.0.1:{PORT}" in out, (
            f"cilium hubble port-forward (pid {pid}) on {node}: expected 'Hubble Relay is available at "
            f"127.0.0.1:{PORT}', saw {out.strip()[-300:] or 'no output'}")
        bound = [l for l in listeners(lab, node) if pid in l.pids]
        assert bound, f"cilium hubble port-forward (pid {pid}) on {node}: nothing of it listening on {PORT} yet"
        return PortForward(node, pid, out)
    try:
        return lab.eventually(up, what=f"cilium hubble port-forward serving {PORT} on {node}")
    except BaseException:
        try:
            stop_port_forward(lab, node)
        except Exception:  # the start's failure is the one to report
            pass
        raise


def stop_port_forward(lab: Lab, node: str) -> None:
    """Kill the port-forward by its pid and wait (bounded) until nothing it had listens on 4245."""
    said = shell(lab, node, STOP_COMMAND, typed=STOP_TYPED).stdout.strip()
    lab.set_stages(lab.state.stages - {PORT_FORWARD_STAGE})

    def closed() -> None:
        left = [l for l in listeners(lab, node) if "cilium" in l.processes]
        assert not left, (f"after `{said}`: cilium still listening on {node}: "
                          + ", ".join(f"{l.address}:{l.port} pid {'/'.join(map(str, l.pids))}" for l in left))
    lab.eventually(closed, what=f"the port-forward on {node} stopped")


# --- hubble observe ---------------------------------------------------------------------------


def observe_command(*args: str, last: int = 1000) -> str:
    return shlex.join(["hubble", "observe", "-o", "jsonpb", "--last", str(last), *args])


def observe(lab: Lab, node: str, *args: str, scope: str | None = None, last: int = 1000) -> FlowBatch:
    """`hubble observe ARGS -o jsonpb --last N` on the node, through the port-forward."""
    command = observe_command(*args, last=last)
    result = shell(lab, node, command, scope=scope, timeout=60, typed=shlex.join(["hubble", "observe", *args]),
                   tool="hubble")
    if not result.ok:
        raise AssertionError(f"`{command}` failed on {node} (exit {result.rc}): {result.stderr.strip()[:300]}")
    return parse_flows(result.stdout)


# --- the agent's IP cache (seed 1414-1417: `c1 ip list -n`) -----------------------------------

IP_LIST = ["cilium-dbg", "ip", "list", "-o", "json"]


def ip_cache(lab: Lab, node: str) -> list[IPCacheEntry]:
    """`cilium-dbg ip list -o json` in the cilium-agent container on `node`."""
    agent = k8s.cilium_agent_on(lab, node)
    result = k8s.agent_exec(lab, agent, IP_LIST,
                            what=f"the cilium-agent container of {agent} answers `cilium-dbg ip list`")
    if not result.ok:
        raise AssertionError(f"`cilium-dbg ip list` failed in {agent} on {node} (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    return parse_ip_list(result.stdout)
