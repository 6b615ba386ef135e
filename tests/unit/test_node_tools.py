"""A program the write-up installs on a node, missing there (cilab.node_tools): the shells'
real "not found" answers are recognised, the line names the program, the node and the
write-up step that installs it, the answer is kept for the run, and no retry waits on it."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cilab import node_tools
from cilab.model import CommandResult
from cilab.retry import VirtualClock, eventually

SHELLS = {"dash": ["/bin/sh", "-c"], "busybox-ash": ["busybox", "sh", "-c"], "bash": ["bash", "-c"]}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    node_tools.forget()


def _empty_path(tmp_path: Path) -> dict[str, str]:
    """A PATH with the shell's own folder only: no hubble, cilium, ... on it."""
    return {**os.environ, "PATH": str(tmp_path)}


@pytest.mark.parametrize("shell", list(SHELLS))
@pytest.mark.parametrize("tool", ["hubble", "iptables-save"])
def test_each_shells_not_found_is_recognised(shell: str, tool: str, tmp_path: Path) -> None:
    argv = SHELLS[shell]
    exe = shutil.which(argv[0])
    if exe is None:
        pytest.fail(f"{argv[0]} is not installed here", pytrace=False)
    done = subprocess.run([exe, *argv[1:], f"{tool} status"], env=_empty_path(tmp_path),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 127, (done.returncode, done.stderr)
    assert node_tools.not_found(tool, done.returncode, done.stderr), done.stderr
    assert not node_tools.not_found("cilium", done.returncode, done.stderr)
    with pytest.raises(node_tools.MissingTool) as err:
        node_tools.check("k8s-ctr", tool, CommandResult(done.stdout, done.stderr, done.returncode))
    assert str(err.value).startswith(f"`{tool}` is not installed on k8s-ctr: the suite runs it for ")


def test_setsid_says_so_in_the_log_of_a_background_start(tmp_path: Path) -> None:
    setsid = shutil.which("setsid")
    if setsid is None:
        pytest.fail("setsid (util-linux) is not installed here", pytrace=False)
    log = tmp_path / "pf.log"
    subprocess.run(["/bin/sh", "-c", f"{setsid} cilium hubble port-forward >{log} 2>&1 </dev/null & wait"],
                   env=_empty_path(tmp_path), timeout=30)
    text = log.read_text()
    with pytest.raises(node_tools.MissingTool) as err:
        node_tools.seen_in_output("k8s-ctr", "cilium", text)
    assert "`cilium` is not installed on k8s-ctr" in str(err.value), text


def test_the_line_names_the_write_up_step() -> None:
    assert node_tools.missing_line("cp-1", "hubble") == (
        "`hubble` is not installed on cp-1: the suite runs it for `hubble status`, `hubble config view` and "
        "`hubble observe` on the control plane; the write-up installs it in the Hubble CLI chapter's install "
        "(seed 1223-1231: the hubble-linux tarball from cilium/hubble's releases unpacked into /usr/local/bin, "
        "then `which hubble`)")


def test_a_tool_that_runs_and_fails_is_not_missing() -> None:
    refused = CommandResult("", "failed to connect to 'localhost:4245': connection error: desc = \"transport: "
                                "Error while dialing: dial tcp 127.0.0.1:4245: connect: connection refused\"\n", 1)
    assert node_tools.check("k8s-ctr", "hubble", refused) is refused
    # a program that prints "not found" about something else, with exit 0
    assert node_tools.check("k8s-ctr", "hubble", CommandResult("hubble: not found\n", "", 0)).rc == 0


class _Lab:
    def __init__(self, result: CommandResult) -> None:
        self.result, self.calls = result, 0

    def call(self, op: str, **kwargs: object) -> CommandResult:
        self.calls += 1
        return self.result


def test_found_missing_once_per_node_and_never_run_again() -> None:
    lab = _Lab(CommandResult("", "sh: 1: hubble: not found\n", 127))
    for _ in range(3):
        with pytest.raises(node_tools.MissingTool):
            node_tools.run(lab, "k8s-ctr", "hubble", "hubble status")
    assert lab.calls == 1
    other = _Lab(CommandResult("Healthcheck (via localhost:4245): Ok\n", "", 0))
    assert node_tools.run(other, "k8s-w1", "hubble", "hubble status").ok  # another node: its own check


def test_no_retry_waits_on_a_missing_program() -> None:
    tries = []

    def check() -> None:
        tries.append(1)
        raise node_tools.MissingTool("k8s-ctr", "hubble")
    with pytest.raises(node_tools.MissingTool):
        eventually(check, what="hubble status", budget=60, clock=VirtualClock())
    assert len(tries) == 1


def test_helm_that_sudo_cannot_find_is_one_line() -> None:
    from cilab.backends.vagrant import _helm_found
    from cilab.errors import ConfigError
    with pytest.raises(ConfigError) as err:  # sudo's own text (plugins/sudoers: "%s: command not found")
        _helm_found(CommandResult("", "sudo: helm: command not found\n", 1))
    assert str(err.value) == (
        "`helm` is not installed on k8s-ctr: the suite runs it for reading and switching the Cilium release on the "
        "control plane; the write-up installs it in init_cfg.sh's TASK 6 (seed 221: Helm 3 from helm's get-helm-3 "
        "script)")
    if shutil.which("sudo") is not None and shutil.which("helm") is None:  # sudo's real answer, when it can give it
        done = subprocess.run(["sudo", "-n", "helm", "version"], capture_output=True, text=True, timeout=30)
        if "password is required" not in done.stderr:
            with pytest.raises(ConfigError):
                _helm_found(CommandResult(done.stdout, done.stderr, done.returncode))
    ok = CommandResult('[{"revision": 2}]', "", 0)
    assert _helm_found(ok) is ok
