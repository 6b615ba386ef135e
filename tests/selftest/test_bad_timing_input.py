"""Bad input of `--replay-timing recorded` / `--replay-speed`: one line, non-zero exit, fast,
nothing created (issue "Real-lab time, measured"; same checks as test_bad_input.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.selftest.test_bad_input import REFERENCE, _one_line, _pytest

UNTIMED = """transcript: {name: untimed}
calls:
  - op: k8s_get
    args: {api_version: v1, kind: Namespace, name: x}
    state: []
    results: [{value: null}]
"""

PARTLY_TIMED = """transcript: {name: partly-timed}
calls:
  - op: k8s_get
    args: {api_version: v1, kind: Namespace, name: x}
    state: []
    results: [{value: null, duration: 0.05}]
  - op: k8s_get
    args: {api_version: v1, kind: Namespace, name: y}
    state: []
    results: [{value: null}]
"""

NEGATIVE = """transcript: {name: negative}
calls:
  - op: k8s_get
    args: {api_version: v1, kind: Namespace, name: x}
    state: []
    results: [{value: null, duration: -1}]
"""


def _cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    untimed = tmp / "untimed.yaml"
    untimed.write_text(UNTIMED)
    partly = tmp / "partly.yaml"
    partly.write_text(PARTLY_TIMED)
    negative = tmp / "negative.yaml"
    negative.write_text(NEGATIVE)
    return {
        "recorded timing of a transcript without durations":
            (["--lab", "replay", f"--transcript={untimed}", "--replay-timing", "recorded"],
             f"transcript {untimed}: holds no call durations"),
        "recorded timing of a transcript with a result without duration":
            (["--lab", "replay", f"--transcript={partly}", "--replay-timing", "recorded"],
             f"transcript {partly}:7: a result has no 'duration'"),
        "negative duration":
            (["--lab", "replay", f"--transcript={negative}"], "results[0].duration must be a number of seconds >= 0"),
        "speed zero": (["--lab", "replay", "--replay-timing", "recorded", "--replay-speed", "0"],
                       "--replay-speed 0: must be a finite number > 0"),
        "speed negative": (["--lab", "replay", "--replay-timing", "recorded", "--replay-speed=-2"],
                           "--replay-speed -2: must be a finite number > 0"),
        "speed not a number": (["--lab", "replay", "--replay-timing", "recorded", "--replay-speed", "fast"],
                               "--replay-speed 'fast': not a number"),
        "speed without recorded timing": (["--lab", "replay", "--replay-speed", "4"],
                                          "--replay-speed only goes with --replay-timing recorded"),
        "recorded timing on a real lab": (["--lab", "kubeconfig", "--replay-timing", "recorded"],
                                          "--replay-timing only goes with --lab replay"),
        "unknown timing": (["--lab", "replay", "--replay-timing", "fast"], "invalid choice: 'fast'"),
    }


CASES = ["recorded timing of a transcript without durations",
         "recorded timing of a transcript with a result without duration", "negative duration",
         "speed zero", "speed negative", "speed not a number", "speed without recorded timing",
         "recorded timing on a real lab", "unknown timing"]


@pytest.mark.parametrize("case", CASES)
def test_bad_timing_input_is_one_line_and_nonzero(case: str, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args, expected = _cases(inputs)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, out, took = _pytest(tmp_path, *args)
    line = _one_line(out)
    assert rc != 0, out
    assert expected in line, f"{case}: expected the line to say {expected!r}; it says {line!r}"
    assert took < 30, f"{case}: took {took:.1f}s"
    assert sorted(p.name for p in tmp_path.iterdir()) == before + ["bt"] or \
        not (set(p.name for p in tmp_path.iterdir()) - set(before) - {"bt"})


def test_reference_transcript_replays_at_recorded_timing_without_error(tmp_path: Path) -> None:
    """The reference carries the timing model's durations: recorded timing accepts it."""
    rc, out, _ = _pytest(tmp_path, "--lab", "replay", f"--transcript={REFERENCE.parent}", "--replay-timing",
                         "recorded", "--replay-speed", "1000", "--collect-only")
    assert rc == 0, out
