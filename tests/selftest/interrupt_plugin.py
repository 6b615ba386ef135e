"""Test-only pytest plugin: signal our own process just before a chosen step runs.

CILAB_INTERRUPT_AT: a substring of the step text; CILAB_INTERRUPT_SIGNAL: SIGINT or SIGTERM.
"""
from __future__ import annotations

import os
import signal
from typing import Any


def pytest_bdd_before_step(request: Any, feature: Any, scenario: Any, step: Any, step_func: Any) -> None:
    at = os.environ.get("CILAB_INTERRUPT_AT")
    if at and at in step.name:
        os.kill(os.getpid(), getattr(signal, os.environ.get("CILAB_INTERRUPT_SIGNAL", "SIGINT")))
