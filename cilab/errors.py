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
    """A transport (API server, SSH, vagrant) did not answer."""


class CallFailed(LabError):
    """A primitive call reached the lab but failed (non-zero exit is NOT this; it is data)."""


class ReplayMiss(LabError):
    """The replay transcript holds no recording for a call in the current lab state."""


class TranscriptError(LabError):
    """A transcript file is unreadable or malformed (file, line and field are named)."""


class ConfigError(LabError):
    """Bad input: options, versions, kubeconfig, missing tools."""
