"""The nodes' clocks in the reference, and labs where one node's clock is off.

The seed prints no clock reading.  The reference's nodes are a few milliseconds apart (the
lab's Ubuntu VMs run systemd-timesyncd), consistent with its flows, and the runner's own
clock is 0.35 s ahead of them all (a student's laptop: only the nodes' differences
matter).  Each `node_clock` answer is three `date -u +%s.%N` reads, 0.2 s apart, each
bracketed by the runner's clock with a round trip of 20-30 ms (SSH exec on a host-only
network).

`skewed(node, seconds)` rewrites every reference call as a lab whose `node` clock is
`seconds` off would answer it: that node's clock reading, the `time` of every flow the
node stamped (`node_name`), and the start line of every request whose client pod runs on
it (its address is in the node's pod CIDR).  The mutant (4 s behind: too far to correct)
and the healthy fault variant (1.2 s behind: corrected) are built from it.
"""
from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from cilab.transcript import call_key
from tools.reference.lab import HUBBLE, NODES, call

#: node clock less the median node's, as measured (reconstructed: timesyncd keeps them within ms)
OFFSETS = {"k8s-ctr": 0.0021, "k8s-w1": -0.0013, "k8s-w2": 0.0004}
RUNNER_AHEAD = 0.35
#: the runner's wall clock at the measurement: 2025-07-25T17:10:00Z, right after the Hubble stage
AT = 1753463400.0
SEED = ("reconstructed (the seed prints no clock: three `date -u +%s.%N` reads bracketed by the runner's clock; "
        "the nodes within milliseconds of each other, the runner 0.35 s ahead; source: the suite's own node_clock "
        "probe, cilab/probes/clocks.py)")
_START = re.compile(r"^cilab-start (\S+)((?: \S+)*)$", re.M)


def answer(offset: float, *, rtt: float = 0.024, at: float = AT) -> dict[str, Any]:
    samples = []
    for i in range(3):
        before = at + 0.2 * i
        trip = rtt + 0.003 * i
        node = before + trip / 2 + offset - RUNNER_AHEAD
        samples.append({"before": round(before, 6), "node": f"{node:.9f}", "rc": 0, "after": round(before + trip, 6)})
    return {"value": {"command": "date -u +%s.%N", "samples": samples}}


def clock_calls(offsets: dict[str, float] | None = None, seed: str = SEED) -> list[dict[str, Any]]:
    """The one measurement of the run (after the Hubble stage, state [hubble])."""
    return [call("node_clock", seed, [answer((offsets or OFFSETS)[n])], HUBBLE, node=n) for n in sorted(NODES)]


def _stamp(text: str, seconds: float) -> str:
    """An RFC 3339 UTC time `seconds` later, with as many fraction digits as it had."""
    base = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    frac = text[20:].rstrip("Z") if text[19:20] == "." else ""
    ns = int(frac.ljust(9, "0") or 0) + round(seconds * 1e9)
    whole, rest = divmod(ns, 1_000_000_000)
    out = (base + timedelta(seconds=whole)).strftime("%Y-%m-%dT%H:%M:%S")
    return out + (f".{rest:09d}"[:len(frac) + 1] if frac else "") + "Z"


def _on_node(ip: str, node: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(NODES[node]["cilium"])
    except ValueError:
        return False


def _shift_text(text: str, node: str, seconds: float) -> str:
    lines = text.split("\n")
    changed = False
    for i, line in enumerate(lines):
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        flow = doc.get("flow") if isinstance(doc, dict) else None
        if not isinstance(flow, dict) or str(flow.get("node_name", "")).rsplit("/", 1)[-1] != node:
            continue
        for holder in (flow, doc):
            if isinstance(holder.get("time"), str):
                holder["time"] = _stamp(holder["time"], seconds)
        lines[i] = json.dumps(doc, separators=(",", ":"))
        changed = True

    def start(m: re.Match[str]) -> str:
        ips = m.group(2).split()
        if ips and _on_node(ips[0], node):
            return f"cilab-start {_stamp(m.group(1), seconds)}{m.group(2)}"
        return m.group(0)
    out = "\n".join(lines) if changed else text
    return _START.sub(start, out)


def skewed(calls: list[dict[str, Any]], node: str, seconds: float, why: str) -> list[dict[str, Any]]:
    """The calls that answer differently when `node`'s clock is `seconds` off (marked `why`)."""
    out = []
    for c in calls:
        if c["op"] == "node_clock":
            if c["args"]["node"] == node:
                out.append({**c, "seed": f"{why} ({c['seed']})",
                            "results": [answer(OFFSETS[node] + seconds)]})
            continue
        if c["op"] not in ("node_shell", "pod_exec"):
            continue
        results = []
        for r in c["results"]:
            if isinstance(r.get("stdout"), str):
                r = {**r, "stdout": _shift_text(r["stdout"], node, seconds)}
            results.append(r)
        if results != c["results"]:
            out.append({**c, "seed": f"{why} ({c['seed']})", "results": results})
    return out


def all_reference_calls() -> list[dict[str, Any]]:
    from tools.reference_lab import chapter_modules
    seen: set[str] = set()
    out = []
    for mod in chapter_modules().values():
        for c in mod.calls():
            key = call_key(c["op"], c["args"], c["state"])
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out
