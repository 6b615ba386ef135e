"""The small interface every lab backend implements.

Everything the suite does to a lab goes through these primitives, so recording and
replay need to understand nothing else.  Arguments are plain JSON-able values (they are
the keys of a transcript entry); results are `CommandResult`, `HttpResult`, dicts or
lists of dicts.  A backend raises `LabUnavailable` when a transport does not answer and
never retries: retrying is the probes' business (`cilab.retry.eventually`).
"""
from __future__ import annotations

from typing import Any, Protocol

from cilab.model import CommandResult, HttpResult

#: what `helm_read` may ask helm
HELM_READS = ("history", "values")


def helm_read_argv(release: str, namespace: str, what: str, revision: int | None = None) -> list[str]:
    """The helm arguments (after `helm`) of a `helm_read` call."""
    if what == "history":
        return ["history", release, "--namespace", namespace, "--max", "1", "--output", "json"]
    if what == "values":
        argv = ["get", "values", release, "--namespace", namespace, "--output", "json"]
        return argv + (["--revision", str(int(revision))] if revision is not None else [])
    raise ValueError(f"helm_read: {what!r} is not one of {', '.join(HELM_READS)}")


def helm_rollback_argv(release: str, namespace: str, revision: int, timeout: float) -> list[str]:
    return ["rollback", release, str(int(revision)), "--namespace", namespace, "--wait",
            "--timeout", f"{int(timeout)}s"]

#: primitive name -> True when it changes the lab (advances the recorded lab state)
PRIMITIVES: dict[str, bool] = {
    "node_shell": False,
    "pod_exec": False,
    "k8s_get": False,
    "k8s_list": False,
    "http_get": False,
    "node_clock": False,
    "k8s_apply": True,
    "k8s_delete": True,
    "helm_upgrade": True,
    "helm_read": False,
    "helm_rollback": True,
}


class Backend(Protocol):
    #: "vagrant", "kubeconfig" or "replay"
    kind: str

    def node_names(self) -> list[str]:
        """Names of the lab's nodes as the backend knows them (for node_shell)."""

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        """Run a shell command on a node (as root); a non-zero exit is data, not an error."""

    def pod_exec(self, namespace: str, pod: str, container: str | None,
                 command: list[str], timeout: float) -> CommandResult:
        """Run a command in a pod's container."""

    def k8s_get(self, api_version: str, kind: str, name: str,
                namespace: str | None = None) -> dict[str, Any] | None:
        """One object as the API returns it, or None when it does not exist."""

    def k8s_list(self, api_version: str, kind: str, namespace: str | None = None,
                 label_selector: str | None = None,
                 field_selector: str | None = None) -> list[dict[str, Any]]:
        """The items of a list call."""

    def k8s_apply(self, manifest: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Server-side apply one object; returns the object the API returned."""

    def k8s_delete(self, api_version: str, kind: str, name: str,
                   namespace: str | None = None) -> bool:
        """Delete one object; False when it did not exist."""

    def http_get(self, url: str, timeout: float,
                 headers: dict[str, str] | None = None) -> HttpResult:
        """HTTP GET from the runner."""

    def node_clock(self, node: str, timeout: float) -> dict[str, Any]:
        """The node's clock read through `node_shell`, bracketed by the runner's: `measure_clock`."""

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        """`helm upgrade --install` with the given values documents (YAML text), in order,
        from chart repository `repo` (URL) when given."""

    def helm_read(self, release: str, namespace: str, what: str,
                  revision: int | None = None) -> CommandResult:
        """`helm history RELEASE --max 1 -o json` (what="history": the release's current
        revision, chart and status) or `helm get values RELEASE -o json [--revision N]`
        (what="values": the values the release was installed or upgraded with)."""

    def helm_rollback(self, release: str, namespace: str, revision: int, timeout: float) -> CommandResult:
        """`helm rollback RELEASE REVISION --wait`: the release back at that revision's chart
        and values (as a new revision)."""

    def close(self) -> None:
        """Release connections."""


#: the node's clock, as seconds since the epoch with nanoseconds (GNU date on the lab's Ubuntu nodes)
CLOCK_COMMAND = "date -u +%s.%N"
CLOCK_SAMPLES = 3


def measure_clock(node_shell: Any, node: str, timeout: float, samples: int = CLOCK_SAMPLES) -> dict[str, Any]:
    """Read the node's clock `samples` times over the node shell the lab already uses (SSH, or
    the debug pod), each read bracketed by the runner's wall clock (NTP-style: the node's
    reading belongs between `before` and `after`).  The answer is data, recorded and replayed
    like any call: ``{"command": ..., "samples": [{"before": s, "node": "<stdout>", "rc": n,
    "after": s}, ...]}``; cilab.probes.clocks turns it into an offset and its uncertainty."""
    import time
    out = []
    for _ in range(samples):
        before = time.time()
        result = node_shell(node, CLOCK_COMMAND, timeout)
        after = time.time()
        out.append({"before": round(before, 6), "node": result.stdout.strip(), "rc": result.rc,
                    "after": round(after, 6)})
    return {"command": CLOCK_COMMAND, "samples": out}
