"""The programs the suite runs inside the client pods, and what a pod without one gets.

The student types `kubectl exec curl-pod -- curl ...` (and `kubectl exec xwing -- curl ...`,
`ping`); the suite runs the same programs there, inside `sh -c` (cilab.probes.traffic:
`date` and `hostname` for the start line, then `curl`).  An image without one of them, or
whose build lacks an option the suite gives it (a BusyBox applet built without a feature, an
older curl), is not the write-up's image: the request fails at once with one line naming the
pod, its image, the program, what it said and the write-up step that creates the pod with an
image that has it.  It is a failed expectation no retry changes (`cilab.retry.Final`): the
request is never sent again.

What each case prints, taken from the real programs (tests/unit/test_pod_tools.py runs
Debian's busybox, dash, bash and curl):

* the program is not there: BusyBox ash ``sh: exec: line 0: curl: not found`` (or
  ``sh: curl: not found``), dash ``sh: 1: exec: curl: not found``, bash
  ``sh: line 1: exec: curl: not found`` (exit 127); no `sh` at all: the container runtime's
  ``exec: "sh": executable file not found in $PATH`` (kubectl exec's error, the exec failed);
* an option the build lacks: BusyBox ``date: unrecognized option '--x'`` or
  ``ping: invalid option -- 'W'``, ash ``sh: set: line 0: illegal option -o pipefail``,
  curl ``curl: option --x: is unknown``.
"""
from __future__ import annotations

import re

from cilab import node_tools
from cilab.retry import Final

#: program -> what the suite runs it for in a client pod
PROGRAMS = {
    "sh": "the request's command line (`sh -c`: the start line, then curl)",
    "date": "the request's start line (the pod's clock, `date -u`)",
    "hostname": "the request's start line (the pod's addresses, `hostname -i`)",
    "curl": "every request the student sends with `kubectl exec <pod> -- curl ...`",
    "ping": "`kubectl exec <pod> -- ping` (ICMP to the Service and pods)",
}
#: client pod -> the write-up step that creates it, with an image that has these programs
WRITE_UP_STEPS = {
    "curl-pod": "the write-up's curl-pod (seed 2455-2470: image nicolaka/netshoot, Alpine with BusyBox and curl 8.14.1)",
    "xwing": "Cilium's Star Wars demo (seed 1523: http-sw-app.yaml, image quay.io/cilium/json-mock, Debian with dash "
             "and curl 7.88)",
    "tiefighter": "Cilium's Star Wars demo (seed 1523: http-sw-app.yaml, image quay.io/cilium/json-mock, Debian with "
                  "dash and curl 7.88)",
}
_OCI_NOT_FOUND = re.compile(r'exec: "(?P<prog>[^"]+)": executable file not found in \$PATH')
_BAD_OPTION = re.compile(
    r"(?m)^(?:(?P<prog>[\w.-]+): (?:unrecognized option|invalid option --|illegal option) .*"
    r"|sh: set: (?:line \d+: )?illegal option .*"
    r"|curl: option \S+: is unknown)\s*$")


class MissingInPod(Final):
    """A program the suite runs in a client pod is not there (or lacks an option)."""

    def __init__(self, namespace: str, pod: str, image: str, program: str, said: str) -> None:
        self.namespace, self.pod, self.image, self.program = namespace, pod, image, program
        step = WRITE_UP_STEPS.get(pod, "the suite's manifest of this pod (fixtures/manifests)")
        used = PROGRAMS.get(program, "the suite's request")
        super().__init__(f"`{program}` cannot run as the suite needs it in pod {namespace}/{pod} (image {image}): "
                         f"{said!r}; the suite runs it for {used}; the write-up creates this pod in {step}")


def _image(pod: str) -> str:
    from cilab.probes.traffic import client_images
    return ", ".join(client_images().get(pod, ())) or "an image not in the suite's manifests"


def problem(programs: tuple[str, ...], rc: int, text: str) -> tuple[str, str] | None:
    """(program, the line it printed) when a shell, the runtime or the program itself says
    one of `programs` cannot run as asked; None otherwise."""
    m = _OCI_NOT_FOUND.search(text)
    if m:
        return m["prog"], m.group(0)
    if rc == 0:
        return None
    for program in programs:
        if node_tools.not_found(program, rc, text):
            line = next(l for l in text.splitlines() if f"{program}: " in l and "not found" in l)
            return program, line.strip()
    m = _BAD_OPTION.search(text)
    if m:
        line = m.group(0).strip()
        program = m["prog"] or ("sh" if line.startswith("sh: set:") else "curl")
        return program, line
    return None


def check(namespace: str, pod: str, programs: tuple[str, ...], result: object) -> object:
    """`result` (a CommandResult of a command run in the pod), or `MissingInPod` when its
    stderr (where shells, BusyBox and curl say so; never the body) says a program cannot run."""
    found = problem(programs, int(getattr(result, "rc", 0)), str(getattr(result, "stderr", "")))
    if found is not None:
        raise MissingInPod(namespace, pod, _image(pod), *found)
    return result


def check_exec_error(namespace: str, pod: str, error: BaseException) -> None:
    """An exec the runtime could not start because its program is not in the image."""
    m = _OCI_NOT_FOUND.search(str(error))
    if m:
        raise MissingInPod(namespace, pod, _image(pod), m["prog"], m.group(0)) from None
