"""Benchmark of the suite on this machine: prints figures measured in one run.

  python tools/benchmark.py

Figures: replay wall time of every scenario at -n 0 and -n 2, their ratio to
`pytest --collect-only`, the time a dead lab takes to end the session, and lab calls per
scenario (from --call-log); plus SSH connections per scenario of the paramiko pool against
a real loopback sshd when /usr/sbin/sshd exists (one connection per node per worker).
Aims (issue "The suite proves itself"): all scenarios <= 10 s and <= 3x collect-only on a
2-core machine; -n 2 no slower than 1.3x -n 0.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
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


def main() -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())
