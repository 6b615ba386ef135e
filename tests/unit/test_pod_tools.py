"""A program missing inside a client pod (or lacking an option the suite gives it) is one
line naming the pod, its image, the program, what it said and the write-up step, and the
request is never sent again (cilab.pod_tools, cilab.retry.Final).

The suite's own request command (`traffic.curl_argv`) runs here, through `traffic.send` and
`traffic.send_positive`, in a "pod" that is a folder of real programs on PATH: Debian's
BusyBox (the shell, date and hostname of nicolaka/netshoot's Alpine), dash (json-mock's
Debian `sh`) and the real curl, each with the program in question left out.  The runtime's
error for an image without `sh` cannot be produced here (no container runtime): it is
checked as kubectl exec reports it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cilab import pod_tools
from cilab.errors import CallFailed
from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.probes import traffic
from cilab.retry import Final, VirtualClock

NETSHOOT = "nicolaka/netshoot:v0.13"


def _pod_bin(tmp: Path, shell: str, programs: dict[str, str]) -> Path:
    """A folder standing for the image's PATH: `sh` is `shell`, plus `programs` (name ->
    real binary; a BusyBox applet is a symlink to busybox, as in Alpine)."""
    bindir = tmp / "bin"
    bindir.mkdir()
    for name, target in {"sh": shell, **programs}.items():
        real = shutil.which(target)
        if real is None:
            pytest.fail(f"{target} is not installed: apt-get install busybox dash curl", pytrace=False)
        (bindir / name).symlink_to(real)
    return bindir


class LocalPods:
    """A backend whose pods run their command here, with PATH the pod's folder."""
    kind = "local"

    def __init__(self, bindir: Path, error: str | None = None) -> None:
        self.bindir, self.error, self.execs = bindir, error, 0

    def pod_exec(self, namespace: str, pod: str, command: list[str], timeout: float,
                 container: str | None = None) -> CommandResult:
        self.execs += 1
        if self.error:
            raise CallFailed(self.error)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": str(self.bindir)}, executable=str(self.bindir / command[0]))
        return CommandResult(stdout=done.stdout, stderr=done.stderr, rc=done.returncode)

    def close(self) -> None:
        pass


def _lab(backend: Any) -> Lab:
    return Lab(backend, clock=VirtualClock(), info={"run_id": "feedbeef"})


def _send_positive(lab: Lab) -> pod_tools.MissingInPod:
    with pytest.raises(pod_tools.MissingInPod) as caught:
        traffic.send_positive(lab, "cilab-ns", "curl-pod", "GET", "http://127.0.0.1:9/")
    assert isinstance(caught.value, Final)
    return caught.value


def test_curl_missing_from_a_busybox_image(tmp_path: Path) -> None:
    backend = LocalPods(_pod_bin(tmp_path, "busybox", {"date": "busybox", "hostname": "busybox"}))
    err = _send_positive(_lab(backend))
    assert backend.execs == 1  # never sent again
    assert str(err) == (
        "`curl` cannot run as the suite needs it in pod cilab-ns/curl-pod (image nicolaka/netshoot:v0.13): "
        "'sh: exec: line 0: curl: not found'; the suite runs it for every request the student sends with "
        "`kubectl exec <pod> -- curl ...`; the write-up creates this pod in the write-up's curl-pod (seed "
        "2455-2470: image nicolaka/netshoot, Alpine with BusyBox and curl 8.14.1)")


def test_curl_missing_from_a_debian_image(tmp_path: Path) -> None:
    backend = LocalPods(_pod_bin(tmp_path, "dash", {"date": "date", "hostname": "hostname"}))
    with pytest.raises(pod_tools.MissingInPod) as caught:
        traffic.send(_lab(backend), traffic.Request("ns", "xwing", "GET", "http://127.0.0.1:9/", "m", 31000))
    assert caught.value.program == "curl" and "'sh: 1: exec: curl: not found'" in str(caught.value)
    assert "in pod ns/xwing (image quay.io/cilium/json-mock:v1.3.8@sha256:" in str(caught.value)
    assert str(caught.value).endswith("Cilium's Star Wars demo (seed 1523: http-sw-app.yaml, image "
                                      "quay.io/cilium/json-mock, Debian with dash and curl 7.88)")


def test_an_option_the_images_curl_lacks(tmp_path: Path) -> None:
    # the real curl here is 7.88.1: --skip-existing came with curl 8.10
    backend = LocalPods(_pod_bin(tmp_path, "busybox", {"date": "busybox", "hostname": "busybox", "curl": "curl"}))
    req = traffic.Request("ns", "curl-pod", "GET", "http://127.0.0.1:9/", "m", 31000)
    with pytest.raises(pod_tools.MissingInPod) as caught:
        traffic.send(_lab(backend), req, extra=("--skip-existing",))
    assert caught.value.program == "curl" and "'curl: option --skip-existing: is unknown'" in str(caught.value)


def test_busybox_applet_and_ash_options_it_lacks() -> None:
    for argv, program, said in (
            (["busybox", "date", "--iso-8601=ns"], "date", "date: unrecognized option '--iso-8601=ns'"),
            (["busybox", "ping", "-Z", "1", "127.0.0.1"], "ping", "ping: invalid option -- 'Z'"),
            (["busybox", "sh", "-c", "set -o pipefail-not-an-option"], "sh",
             "sh: set: line 0: illegal option -o pipefail-not-an-option")):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        assert pod_tools.problem(("date", "ping", "sh"), done.returncode, done.stderr) == (program, said), done.stderr


def test_an_image_without_sh_as_kubectl_exec_reports_it() -> None:
    error = ('exec failed: Internal error occurred: error executing command in container: failed to exec in '
             'container: failed to start exec "5f1c": OCI runtime exec failed: exec failed: unable to start '
             'container process: exec: "sh": executable file not found in $PATH: unknown')
    backend = LocalPods(Path("/nonexistent"), error=error)
    err = _send_positive(_lab(backend))
    assert backend.execs == 1 and err.program == "sh"
    assert "'exec: \"sh\": executable file not found in $PATH'" in str(err)


def test_a_working_request_and_a_refused_one_are_not_a_missing_program(tmp_path: Path) -> None:
    backend = LocalPods(_pod_bin(tmp_path, "busybox", {"date": "busybox", "hostname": "busybox", "curl": "curl"}))
    resp = traffic.send(_lab(backend), traffic.Request("ns", "curl-pod", "GET", "http://127.0.0.1:9/", "m", 31000))
    assert resp.rc == 7 and resp.status is None and resp.started is not None  # refused: a lab's answer, judged

