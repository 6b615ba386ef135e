"""Benchmark of the suite: what a user waits for on a real lab, and this machine's figures.

  python tools/benchmark.py                      # real-lab prediction (reference timing model)
  python tools/benchmark.py --transcript DIR     # ... from a recorded transcript (a measurement)
  python tools/benchmark.py --replay-figures     # the replay lab's own figures on this machine

Real-lab prediction (issue "Real-lab time, measured"), from ONE run of the suite at
`--replay-timing recorded --replay-speed S` (default 200, so it takes seconds here):
each scenario's lab time, its marks (stages, cluster lock) and each step's lab time are
measured by tools/benchmark_timing.py; tools/schedule.py then schedules those scenarios as
pytest-xdist's load scheduler would on 1, 2, 4 and 8 workers, with the once-per-run stages
the cluster readers-writer lock and the resource locks (the Hubble port-forward), for a warm lab (stages already in place) and a cold
one (stages applied by the run, provisioning excluded).  Eight real workers are not run
here: on 2 cores they would measure this machine, not the lab.  `--check-n N` also runs
the suite with N real workers at the same speed and prints measured against predicted.

Replay figures (`--replay-figures`): replay wall time of every scenario at -n 0 and -n 2,
their ratio to `pytest --collect-only`, the time a dead lab takes to end the session, and
lab calls per scenario (from --call-log); plus SSH connections per scenario of the paramiko
pool against a real loopback sshd when /usr/sbin/sshd exists.
"""
from __future__ import annotations

import os
import platform
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env_extra: dict[str, str] | None = None) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    env.update(env_extra or {})
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    return time.monotonic() - start, proc.stdout + proc.stderr


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ssh_connections_per_scenario(calls: int) -> str:
    """Open a pool against a loopback sshd and make `calls` node shells (3 nodes)."""
    sshd = Path("/usr/sbin/sshd")
    if not sshd.exists():
        return "n/a (no /usr/sbin/sshd here)"
    sys.path.insert(0, str(ROOT))
    from tests.unit.sshd_server import loopback_sshd
    from cilab.ssh import SSHHost, SSHPool
    with tempfile.TemporaryDirectory() as tmp, loopback_sshd(Path(tmp)) as server:
        hosts = {n: SSHHost(n, "127.0.0.1", server.port, server.user, (str(server.key),)) for n in ("k8s-ctr", "k8s-w1", "k8s-w2")}
        with SSHPool(hosts) as pool:
            for i in range(calls):
                pool.run(("k8s-ctr", "k8s-w1", "k8s-w2")[i % 3], "true", 10)
            return f"{pool.connections_opened} connection(s) for {calls} node shell(s)"


def kind_of(line: str) -> str:
    """The primitive behind a --call-log line (see cilab.lab.describe_call)."""
    if line.startswith("["):
        return "node shell (SSH)"
    if line.startswith("kubectl") and " exec " in line:
        return "pod exec"
    for prefix, kind in (("kubectl get", "API read"), ("kubectl apply", "API apply"),
                         ("kubectl delete", "API delete"), ("curl", "HTTP GET"), ("helm", "helm upgrade")):
        if line.startswith(prefix):
            return kind
    return "other"


def replay_figures() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.log"
        t_collect, _ = run("--lab", "replay", "--collect-only")
        t_serial, out_serial = run("--lab", "replay", "-n", "0", f"--call-log={log}")
        t_parallel, out_parallel = run("--lab", "replay", "-n", "2")
        t_dead, out_dead = run("--lab", "replay", "--transcript",
                               str(ROOT / "fixtures/transcripts/faults/dead-lab.yaml"))
        passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", out_serial)) else 0
        lines = log.read_text().splitlines() if log.exists() else []
    kinds = Counter(kind_of(line) for line in lines)
    node_shells = sum(1 for line in lines if line.startswith("["))
    scenarios = max(passed, 1)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"scenarios (passed at -n 0): {passed}")
    print(f"collect-only:         {t_collect:6.2f} s")
    print(f"replay, -n 0:         {t_serial:6.2f} s   ratio to collect-only {t_serial / t_collect:.2f}x")
    print(f"replay, -n 2:         {t_parallel:6.2f} s   ratio to -n 0 {t_parallel / t_serial:.2f}x")
    print(f"dead lab, first error:{t_dead:6.2f} s   (session stopped: {'yes' if '1 failed' in out_dead else 'no'})")
    print(f"lab calls per scenario: {len(lines) / scenarios:.1f} ({len(lines)} calls; node shells {node_shells})")
    for kind, n in kinds.most_common(6):
        print(f"  {kind:<22} {n / scenarios:5.1f} per scenario")
    print(f"SSH (paramiko pool, loopback sshd): {ssh_connections_per_scenario(max(node_shells, 3))}")
    return 0


# --- real-lab prediction ----------------------------------------------------------------------

WORKERS = (1, 2, 4, 8)


def measure(transcript: str | None, speed: float, workers: int = 0) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timing.json"
        args = ["--lab", "replay", "--replay-timing", "recorded", "--replay-speed", f"{speed:g}",
                "-p", "tools.benchmark_timing", "-n", str(workers)]
        if transcript:
            args += ["--transcript", transcript]
        wall, text = run(*args, env_extra={"CILAB_BENCH_TIMING_OUT": str(out)})
        if not out.exists():
            raise SystemExit("benchmark: the timed run wrote no figures:\n" + text[-2000:])
        data = json.loads(out.read_text())
        data["output_tail"] = text.strip().splitlines()[-1:] if text.strip() else []
        return wall, data


def fmt(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def short(name: str, width: int = 60) -> str:
    name = name.removeprefix("test_")
    return name if len(name) <= width else name[:width - 1] + "…"


def prediction(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from tools.schedule import ops_of, simulate
    wall, data = measure(args.transcript, args.speed)
    tests = data["tests"]
    label = ("measurement (durations recorded on a real lab: " + args.transcript + ")"
             if args.transcript and _recorded(args.transcript)
             else "model (reference transcript, durations from tools/reference/timing.py)")
    serial = sum(t["duration"] for t in tests)
    print(f"source: {label}")
    print(f"one run: {len(tests)} scenarios ({data['passed']} passed, {data['failed']} failed), "
          f"-n 0 at --replay-speed {data['speed']:g}: {wall:.1f} s wall here, {serial:.0f} s of lab time")
    results = {(warm, n): simulate(tests, n, warm=warm) for warm in (True, False) for n in WORKERS}
    print()
    print("| lab | " + " | ".join(f"-n {n}" for n in WORKERS) + " | speed-up -n 4 vs -n 1 |")
    print("|---|" + "---|" * (len(WORKERS) + 1))
    for warm in (True, False):
        row = [results[(warm, n)].makespan for n in WORKERS]
        print(f"| {'warm' if warm else 'cold'} | " + " | ".join(fmt(x) for x in row)
              + f" | {row[0] / row[WORKERS.index(4)]:.2f}x |")
    print()
    print("| exclusive cluster lock | " + " | ".join(f"-n {n}" for n in WORKERS) + " |")
    print("|---|" + "---|" * len(WORKERS))
    for what, attr in (("held (redaction)", "exclusive_held"),
                       ("redaction waited for running scenarios", "exclusive_writer_wait"),
                       ("other workers waited for it (worker-seconds)", "blocked_by_exclusive"),
                       ("workers waited for a stage (worker-seconds)", "stage_wait")):
        print(f"| {what}, warm | " + " | ".join(fmt(getattr(results[(True, n)], attr)) for n in WORKERS) + " |")
    for name in sorted({r for res in results.values() for r in res.resource_wait}):
        print(f"| workers waited for the {name} lock (worker-seconds), warm | "
              + " | ".join(fmt(results[(True, n)].resource_wait.get(name, 0.0)) for n in WORKERS) + " |")
    print()
    for warm in (True, False):
        r = results[(warm, 4)]
        print(f"critical path, {'warm' if warm else 'cold'} lab, -n 4 ({fmt(r.makespan)}):")
        for seg in r.critical_path:
            wait = f", after waiting {seg.waited:.0f} s for {seg.waited_for}" if seg.waited > 1 else ""
            print(f"  {seg.start:7.0f} - {seg.end:7.0f} s  worker {seg.worker}  {short(seg.test)}{wait}")
    print()
    chapters: dict[str, float] = {}
    for t in tests:  # a warm lab: the stages' application is not part of a scenario's time
        chapter = t["nodeid"].split("::")[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
        own = sum(op[1] if op[0] == "work" else (op[2] or 0.0) if op[0] == "stage" else 0.0
                  for op in ops_of(t, True))
        chapters[chapter] = chapters.get(chapter, 0.0) + own
    print("lab time per chapter, warm lab, one after the other: " + ", ".join(
        f"{name} {secs:.0f} s" for name, secs in sorted(chapters.items(), key=lambda kv: -kv[1])))
    print()
    print("ten slowest steps (lab time, one run):")
    for st in sorted(data["steps"], key=lambda s: -s["seconds"])[:10]:
        print(f"  {st['seconds']:7.1f} s  {short(st['step'], 70)}  ({short(st['test'], 50)})")
    print()
    for warm in (True, False):
        for n in WORKERS:
            print(f"{'warm' if warm else 'cold'} lab, -n {n}: {results[(warm, n)].makespan:.0f} s")
    if args.check_n:
        n = args.check_n
        wall_n, data_n = measure(args.transcript, args.speed, workers=n)
        print()
        print(f"check: -n {n} run for real at --replay-speed {args.speed:g} (cold lab): {wall_n:.1f} s wall here, "
              f"{wall_n * args.speed:.0f} lab seconds including this machine's start-up and overhead "
              f"x{args.speed:g}; simulated: {results[(False, n)].makespan:.0f} s")
    return 0


def _recorded(path: str) -> bool:
    from cilab.transcript import load_transcript
    return load_transcript(path).header.get("source") == "recorded"


def main() -> int:
    ap = argparse.ArgumentParser(description="Benchmark of the suite (see the module docstring).")
    ap.add_argument("--transcript", help="replay this transcript (e.g. a nightly's recording) instead of "
                                         "the reference lab")
    ap.add_argument("--speed", type=float, default=200.0, help="--replay-speed of the timed run (default 200)")
    ap.add_argument("--check-n", type=int, default=0, metavar="N",
                    help="also run with N real xdist workers and compare with the simulation")
    ap.add_argument("--replay-figures", action="store_true",
                    help="print the replay lab's own figures on this machine instead")
    args = ap.parse_args()
    if args.replay_figures:
        return replay_figures()
    if not args.speed > 0:
        ap.error("--speed must be > 0")
    return prediction(args)


if __name__ == "__main__":
    raise SystemExit(main())
