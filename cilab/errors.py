"""Errors that tell a broken lab or bad input apart from non-conformant behaviour.

`LabError` and its subclasses mean "the suite could not look": the lab is down, a
transcript has no answer, an option is wrong.  A plain `AssertionError` from a step means
"the suite looked and the lab did not behave as documented".  Allure categories and the
terminal summary rely on this split.
"""
from __future__ import annotations


class LabError(Exception):
    """The lab could not be reached or driven (not a conformance verdict)."""


class LabUnavailable(LabError):
    """The transport to the lab is dead: the API server or SSH (or vagrant) did not answer.

    Retried a couple of times as a blip (`cilab.retry.eventually`), then it ends the run:
    without these nothing can be looked at, and a dead lab must be reported at once."""


class ServiceNotReady(LabError):
    """The lab answered, but a service in it is not there yet.

    A NodePort, metrics port or the Hubble UI refuses or times out a connection, an exec
    finds its container restarting ("container not found"), a pod cannot be created
    because the fresh namespace's `default` ServiceAccount does not exist yet ("error
    looking up service account").  Backends raise it where they know the difference;
    within a step's budget it is "not yet" (`eventually` retries it until the budget ends
    and then reports it as the last observation), never "the lab is broken"."""


class CallFailed(LabError):
    """A primitive call reached the lab but failed (non-zero exit is NOT this; it is data)."""


class ReplayMiss(LabError):
    """The replay transcript holds no recording for a call in the current lab state."""


class TranscriptError(LabError):
    """A transcript file is unreadable or malformed (file, line and field are named)."""


class ConfigError(LabError):
    """Bad input: options, versions, kubeconfig, missing tools."""


class SSHUnreachable(LabUnavailable):
    """A node's SSH did not let the suite in: no connection (`auth` False: the machine is
    stopped, gone or elsewhere) or a refused login (`auth` True).  The fields let the run
    say it in one line with the command to try next (cilab.plugin.lab_unavailable_line)."""

    def __init__(self, message: str, *, node: str, user: str, address: str, reason: str,
                 auth: bool = False) -> None:
        super().__init__(message)
        self.node, self.user, self.address, self.reason, self.auth = node, user, address, reason, auth


class APIUnreachable(LabUnavailable):
    """The Kubernetes API server did not answer (connection refused, timed out)."""

    def __init__(self, message: str, *, server: str, reason: str) -> None:
        super().__init__(message)
        self.server, self.reason = server, reason


def shell_word(path: object) -> str:
    """A path inside a command a message tells the student to type, quoted when the shell
    would split it (`cd '/Users/me/My Labs/cilium-lab'`); a leading `~/` stays a home folder."""
    import shlex
    text = str(path)
    if text.startswith("~/"):
        return "~/" + shlex.quote(text[2:])
    return shlex.quote(text)
