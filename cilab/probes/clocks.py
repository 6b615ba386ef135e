"""The nodes' clocks: measured once per run, so flows are matched in the time of the node that stamped them.

A request's start is the client pod's clock (its node's); a flow's `time` is the clock of
the node whose agent saw it (`node_name`).  Once per run (`measure`) the suite reads every
node's clock over the node shell it already uses (SSH, or the debug pod), each read
bracketed by the runner's wall clock (`cilab.backends.base.measure_clock`): the node's
reading belongs to the midpoint of the runner's `before` and `after`, give or take half
the round trip (NTP's estimate).  Of `CLOCK_SAMPLES` reads the one with the shortest round
trip counts.  A node's `offset` is its clock less that of the cluster's median node (the
runner's own clock drops out: a student's laptop may be minutes off the VMs without
harming anything).

A node's offset is *corrected* when it was measured within `MAX_UNCERTAINTY` and lies
within `MAX_CORRECTION` of the median node.  Such a clock is synchronized but lags or
leads a little (a timesyncd that stepped late, a VM resumed a moment ago), and an offset
measured once holds for the run.  A clock further off is not under NTP's discipline at
all, and such a clock may be stepped at any moment of the run: the suite does not correct
it, names it in one line before the first check that matches flows by time (node, offset,
and `timedatectl`, which shows "System clock synchronized: no"), and matches the flows that
node stamps with the old fixed `UNCORRECTED_ALLOWANCE`.  So does a node whose clock could
not be read.

Matching (cilab.probes.flows.since): a flow stamped by node N belongs to a request started
at `s` (the client's clock) when

* N is corrected: ``time >= s + offset(N) - max(offset of the corrected nodes) - margin(N)``,
  where the maximum stands for the client's node (the matcher does not know it: the
  window opens for the worst case, a client on the node furthest ahead), and
  ``margin(N) = MARGIN + uncertainty(N) + the largest uncertainty of the corrected nodes``;
* otherwise: ``time >= s - UNCORRECTED_ALLOWANCE``.

A flow left out only by its time is "set aside" and every failure message about a
request's flows names them with their node and how far before the window they were.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cilab.errors import LabError
from cilab.lab import Lab

#: what a corrected window still allows: the start line is printed just before curl runs,
#: and a synchronized clock drifts by far less over a run
MARGIN = 0.5
#: a read whose round trip took longer than twice this cannot place the node's clock closely enough
MAX_UNCERTAINTY = 0.5
#: a clock further than this from the median node is not synchronized: reported, not corrected
MAX_CORRECTION = 2.0
#: the allowance for a node whose offset is not corrected (unmeasured, or too far off)
UNCORRECTED_ALLOWANCE = timedelta(seconds=2)
TIMEDATECTL = "timedatectl"


@dataclass(frozen=True)
class NodeClock:
    node: str
    #: node clock less runner clock at the best read (seconds), None when unreadable
    vs_runner: float | None = None
    #: half the round trip of that read (seconds)
    uncertainty: float | None = None
    #: node clock less the median node's (seconds)
    offset: float | None = None
    problem: str = ""

    @property
    def corrected(self) -> bool:
        return (self.offset is not None and not self.problem and self.uncertainty is not None
                and self.uncertainty <= MAX_UNCERTAINTY and abs(self.offset) <= MAX_CORRECTION)

    def why_not(self) -> str:
        """Why this node's offset is not corrected ('' when it is)."""
        if self.corrected:
            return ""
        if self.offset is None or self.uncertainty is None:
            return f"its clock could not be read ({self.problem or 'no answer'})"
        if self.uncertainty > MAX_UNCERTAINTY:
            return (f"the read took {2 * self.uncertainty:.2f} s there and back, too long to place its clock "
                    f"within {MAX_UNCERTAINTY:g} s")
        return f"more than {MAX_CORRECTION:g} s off: its clock is not synchronized"


def _describe_offset(seconds: float) -> str:
    if abs(seconds) < 0.0005:
        return "in step with the other nodes"
    return f"{abs(seconds):.3f} s {'behind' if seconds < 0 else 'ahead of'} the other nodes"


@dataclass
class Clocks:
    nodes: dict[str, NodeClock] = field(default_factory=dict)
    problem: str = ""

    def of(self, node: str | None) -> NodeClock | None:
        return self.nodes.get(node or "")

    def _corrected(self) -> list[NodeClock]:
        return [c for c in self.nodes.values() if c.corrected]

    def not_before_shift(self, node: str | None) -> timedelta:
        """How far before the client's start line a flow stamped by `node` may be."""
        clock = self.of(node)
        good = self._corrected()
        if clock is None or not clock.corrected or not good:
            return UNCORRECTED_ALLOWANCE
        lead = max(c.offset for c in good)  # type: ignore[type-var]
        margin = MARGIN + (clock.uncertainty or 0.0) + max(c.uncertainty or 0.0 for c in good)
        return timedelta(seconds=lead - (clock.offset or 0.0) + margin)

    def note(self, node: str | None) -> str:
        """One sentence on a node's clock (for set-aside flows and the run's notes)."""
        clock = self.of(node)
        if clock is None:
            return f"{node or 'an unnamed node'}'s clock was not measured" + (f" ({self.problem})" if self.problem else "")
        if clock.offset is None:
            return f"{clock.node}'s clock was not measured ({clock.why_not()})"
        state = "corrected" if clock.corrected else f"not corrected: {clock.why_not()}"
        return (f"{clock.node}'s clock is {_describe_offset(clock.offset)} (measured ±{clock.uncertainty:.3f} s; "
                f"{state})")

    def warnings(self) -> list[str]:
        """One line per node whose offset is not corrected: node, offset and the command that shows it."""
        if not self.nodes:
            return [f"clock: the nodes' clocks were not measured ({self.problem or 'no nodes'}): flows are matched "
                    f"with a fixed {UNCORRECTED_ALLOWANCE.total_seconds():g} s allowance"]
        out = []
        for c in sorted(self.nodes.values(), key=lambda c: c.node):
            if c.corrected:
                continue
            off = _describe_offset(c.offset) if c.offset is not None else "unknown"
            out.append(f"clock: {c.node} is {off}, not corrected ({c.why_not()}); flows it stamps are matched with "
                       f"a fixed {UNCORRECTED_ALLOWANCE.total_seconds():g} s allowance; `{TIMEDATECTL}` on {c.node} "
                       "shows its clock and whether it is synchronized")
        return out

    def properties(self) -> dict[str, str]:
        """For the report's environment.properties."""
        if not self.nodes:
            return {"clock.measured": f"no ({self.problem or 'no nodes'})"}
        out = {}
        for c in sorted(self.nodes.values(), key=lambda c: c.node):
            if c.offset is None:
                out[f"clock.{c.node}"] = f"not measured ({c.problem})"
                continue
            out[f"clock.{c.node}"] = (f"{c.offset:+.3f} s vs the median node (±{c.uncertainty:.3f} s; node - runner "
                                      f"{c.vs_runner:+.3f} s); {'corrected' if c.corrected else 'NOT corrected: ' + c.why_not()}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem, "nodes": {n: vars(c) for n, c in self.nodes.items()}}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Clocks":
        return cls({n: NodeClock(**c) for n, c in doc.get("nodes", {}).items()}, doc.get("problem", ""))


def reading(answer: Any) -> tuple[float | None, float | None, str]:
    """(node less runner, uncertainty, problem) of one `node_clock` answer: the read with the
    shortest round trip, its node time against the midpoint of the runner's bracket."""
    best: tuple[float, float] | None = None
    problem = ""
    samples = answer.get("samples") if isinstance(answer, dict) else None
    if not isinstance(samples, list) or not samples:
        return None, None, f"no clock reads in the answer {str(answer)[:100]!r}"
    for s in samples:
        try:
            before, after, node = float(s["before"]), float(s["after"]), float(str(s["node"]).strip())
        except (KeyError, TypeError, ValueError):
            problem = f"`date -u +%s.%N` printed {str(s.get('node') if isinstance(s, dict) else s)[:60]!r}"
            continue
        if after < before or (isinstance(s, dict) and s.get("rc", 0) != 0):
            problem = f"a read failed (exit {s.get('rc')})"
            continue
        half = (after - before) / 2
        offset = node - (before + half)
        if best is None or half < best[1]:
            best = (offset, half)
    if best is None:
        return None, None, problem or "no usable read"
    return best[0], best[1], ""


def from_answers(answers: dict[str, Any]) -> Clocks:
    """Offsets relative to the median node from each node's `node_clock` answer (or exception)."""
    raw: dict[str, tuple[float | None, float | None, str]] = {}
    for node, answer in answers.items():
        if isinstance(answer, BaseException):
            raw[node] = (None, None, f"{type(answer).__name__}: {str(answer)[:160]}")
        else:
            raw[node] = reading(answer)
    measured = [v[0] for v in raw.values() if v[0] is not None]
    median = statistics.median_low(measured) if measured else None
    nodes = {}
    for node, (vs_runner, unc, problem) in raw.items():
        offset = None if vs_runner is None or median is None else round(vs_runner - median, 6)
        nodes[node] = NodeClock(node, None if vs_runner is None else round(vs_runner, 6),
                                None if unc is None else round(unc, 6), offset, problem)
    return Clocks(nodes)


def measure(lab: Lab, nodes: list[str]) -> Clocks:
    """Read every node's clock once (`node_clock`); a node that does not answer is unmeasured."""
    answers: dict[str, Any] = {}
    for node in nodes:
        try:
            answers[node] = lab.node_clock(node)
        except LabError as exc:
            answers[node] = exc
    return from_answers(answers)
