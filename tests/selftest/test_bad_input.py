"""Bad input gets one clear line and a non-zero exit, fast, with no traceback and nothing
half-created (issue: "The suite proves itself", item 2)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.selftest.suite_runner import PORT_FORWARD_PID, half_created

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "transcripts" / "reference" / "hubble.yaml"


def _pytest(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            path_without_vagrant: bool = False) -> tuple[int, str, float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    base.pop("VAGRANT_EXE", None)
    if path_without_vagrant:
        base["PATH"] = os.pathsep.join(p for p in base.get("PATH", "").split(os.pathsep)
                                       if not (Path(p) / "vagrant").exists())
    base.update(env or {})
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--basetemp", str(tmp_path / "bt"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=base)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def _one_line(out: str) -> str:
    # pytest's own option parser prints "ERROR: usage: ..." then "pytest: error: <the line>"
    errors = [line for line in out.splitlines()
              if (line.startswith("ERROR:") and not line.startswith("ERROR: usage:")) or " error: " in line]
    assert len(errors) == 1, f"expected one error line, got:\n{out}"
    assert "Traceback" not in out, out
    return errors[0]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


KUBECONFIG_NOWHERE = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""

STANDIN_NO_PROVIDER = """#!/bin/sh
if [ "$1" = --version ]; then echo "Vagrant 2.4.9"; exit 0; fi
echo "No usable default provider could be found for your system." >&2
exit 1
"""
DEBIAN_VAGRANT = "/usr/bin/vagrant"  # Debian's package, 2.3.4 (scripts/test installs it)


def _cases(tmp: Path) -> list[tuple[str, list[str], dict[str, str], bool, str]]:
    bad_yaml = _write(tmp / "bad.yaml", "transcript: {name: x}\ncalls:\n  - op: node_shell\n    args: [unclosed\n")
    unknown_op = _write(tmp / "unknown-op.yaml", "transcript: {name: x}\ncalls:\n  - op: teleport\n    args: {}\n    results: [{value: 1}]\n")
    no_results = _write(tmp / "no-results.yaml", "transcript: {name: x}\ncalls:\n  - op: k8s_get\n    args: {kind: Pod}\n    state: []\n")
    empty_kc = _write(tmp / "empty-kubeconfig", "")
    nowhere_kc = _write(tmp / "nowhere-kubeconfig", KUBECONFIG_NOWHERE)
    standin = _write(tmp / "vagrant", STANDIN_NO_PROVIDER)
    standin.chmod(0o755)
    from tests.standin_vagrant import standin as write_standin
    good = write_standin(tmp / "good")  # three running VirtualBox machines
    only_default = write_standin(tmp / "other", machines={"default": ("running", "virtualbox")})
    one_down = write_standin(tmp / "down", machines={"k8s-ctr": ("running", "virtualbox"),
                                                     "k8s-w1": ("running", "virtualbox"),
                                                     "k8s-w2": ("poweroff", "virtualbox")})
    empty_dir = tmp / "empty"
    empty_dir.mkdir()
    writeup = tmp / "writeup"
    writeup.mkdir()
    earlier = tmp / "earlier-run"  # a recording of a run without -n: replayed with a new one, it would mix
    earlier.mkdir()
    _write(earlier / "main.yaml", "transcript: {name: recorded-vagrant}\ncalls: []\n")
    _write(writeup / "Vagrantfile", "# the write-up's Vagrantfile\n")
    return [
        ("unknown --lab", ["--lab", "moon"], {}, False, "invalid choice: 'moon'"),
        ("missing transcript", ["--lab", "replay", f"--transcript={tmp}/absent.yaml"], {}, False, "no such file or folder"),
        ("malformed transcript", ["--lab", "replay", f"--transcript={bad_yaml}"], {}, False, "bad.yaml:5: not valid YAML"),
        ("unknown probe in transcript", ["--lab", "replay", f"--transcript={unknown_op}"], {}, False,
         "unknown probe call 'teleport'"),
        ("transcript entry without results", ["--lab", "replay", f"--transcript={no_results}"], {}, False,
         "no-results.yaml:3: calls[0].results must be a non-empty list"),
        ("--record to an unwritable path", ["--lab", "kubeconfig", f"--kubeconfig={nowhere_kc}",
                                            "--record=/dev/null/transcript"], {}, False, "cannot write there"),
        ("missing vagrant binary", [], {}, True, "vagrant not found on PATH"),
        ("no usable provider", ["--lab", "vagrant"], {"VAGRANT_EXE": str(standin)}, False,
         "No usable default provider"),
        ("unreadable kubeconfig", ["--lab", "kubeconfig", f"--kubeconfig={tmp}/absent-kubeconfig"], {}, False,
         "cannot read"),
        ("empty kubeconfig", ["--lab", "kubeconfig", f"--kubeconfig={empty_kc}"], {}, False, "file is empty"),
        ("kubeconfig that points nowhere", ["--lab", "kubeconfig", f"--kubeconfig={nowhere_kc}"], {}, False,
         "the API server https://127.0.0.1:1 does not answer (connection refused); try `kubectl --kubeconfig"),
        ("malformed version override", ["--lab", "replay"], {"KUBERNETES_VERSION": "latest"}, False,
         "KUBERNETES_VERSION='latest'"),
        ("unknown Cilium version override", ["--lab", "replay"], {"CILIUM_VERSION": "1.17"}, False, "CILIUM_VERSION"),
        ("--transcript without replay", ["--lab", "kubeconfig", f"--transcript={REFERENCE}"], {}, False,
         "--transcript only goes with --lab replay"),
        ("--record into an earlier recording", ["--lab", "kubeconfig", f"--kubeconfig={nowhere_kc}",
                                                f"--record={earlier}"], {}, False,
         f"--record {earlier}: it already holds a recording (main.yaml), and a replay of the folder would mix"),
        ("--record with replay", ["--lab", "replay", f"--record={tmp}/rec"], {}, False,
         "cannot be combined with --lab replay"),
        ("--destroy-lab without vagrant", ["--lab", "replay", "--destroy-lab"], {}, False,
         "only go with --lab vagrant"),
        ("--allow-monitoring-example with replay", ["--lab", "replay", "--allow-monitoring-example"], {}, False,
         "--allow-monitoring-example goes with a real lab the suite did not build"),
        ("--vagrant-dir without a Vagrantfile", ["--lab", "vagrant", f"--vagrant-dir={empty_dir}"],
         {"VAGRANT_EXE": str(good)}, False, f"--vagrant-dir {empty_dir}: no Vagrantfile there"),
        ("--vagrant-dir without k8s-ctr", ["--lab", "vagrant", f"--vagrant-dir={writeup}"],
         {"VAGRANT_EXE": str(only_default)}, False, "its Vagrantfile defines no k8s-ctr machine (machines: default)"),
        ("Vagrant too old", ["--lab", "vagrant"], {"VAGRANT_EXE": DEBIAN_VAGRANT, "VAGRANT_HOME": str(tmp / "vagrant.d")}, False,
         f"Vagrant 2.3.4 found at {DEBIAN_VAGRANT}; the lab needs Vagrant 2.4.9 or newer (VirtualBox 7.2 "
         "needs it): get it from https://developer.hashicorp.com/vagrant/install"),
        ("--destroy-lab on a foreign folder", ["--lab", "vagrant", f"--vagrant-dir={writeup}", "--destroy-lab"],
         {"VAGRANT_EXE": str(good)}, False, f"--destroy-lab refused: {writeup} is a lab the suite did not provision"),
        ("foreign folder with a machine down", ["--lab", "vagrant", f"--vagrant-dir={writeup}"],
         {"VAGRANT_EXE": str(one_down)}, False,
         f"machines not running in {writeup}: k8s-w2 (poweroff); bring them up there with `cd {writeup} && vagrant up`"),
        ("provider not matching the machines", ["--lab", "vagrant", f"--vagrant-dir={writeup}", "--provider=libvirt"],
         {"VAGRANT_EXE": str(good)}, False, "--provider libvirt does not match the machines already created"),
    ]


CASE_NAMES = [
    "unknown --lab", "missing transcript", "malformed transcript", "unknown probe in transcript",
    "transcript entry without results", "--record to an unwritable path", "missing vagrant binary",
    "no usable provider", "unreadable kubeconfig", "empty kubeconfig", "kubeconfig that points nowhere",
    "malformed version override", "unknown Cilium version override", "--transcript without replay",
    "--record into an earlier recording", "--record with replay", "--destroy-lab without vagrant", "--allow-monitoring-example with replay", "--vagrant-dir without a Vagrantfile",
    "--vagrant-dir without k8s-ctr", "Vagrant too old", "--destroy-lab on a foreign folder",
    "foreign folder with a machine down",
    "provider not matching the machines"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_is_one_line_and_nonzero(case: str, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    spec = {c[0]: c for c in _cases(inputs)}[case]
    _, args, env, no_vagrant, expected = spec
    if env.get("VAGRANT_EXE") == DEBIAN_VAGRANT and not Path(DEBIAN_VAGRANT).exists():
        pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant vagrant-libvirt (scripts/test does)",
                    pytrace=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    pid_before = PORT_FORWARD_PID.exists()
    # every case also asks for a call log and Allure results (the allure plugin makes that
    # folder in its own configure), and a real lab's cases for a recording: none may exist
    # after a refused run
    outputs = (tmp_path / "out" / "calls.log", tmp_path / "out" / "allure") + (
        () if "--lab=replay" in "=".join(args) or any(a.startswith("--record") for a in args)
        else (tmp_path / "out" / "record",))
    extra = [f"--call-log={outputs[0]}", f"--alluredir={outputs[1]}"] + (
        [f"--record={outputs[2]}"] if len(outputs) > 2 else [])
    rc, out, took = _pytest(tmp_path, *args, *extra, env=env, path_without_vagrant=no_vagrant)
    line = _one_line(out)
    assert rc != 0, out
    assert expected in line, f"{case}: expected the line to say {expected!r}; it says {line!r}"
    assert took < 30, f"{case}: took {took:.1f}s"
    created = sorted(set(p.name for p in tmp_path.iterdir()) - set(before) - {"bt", "out"})
    assert not created, f"{case}: left {created} behind"
    assert not half_created(outputs, pid_file_before=pid_before), f"{case}: left {half_created(outputs)} behind"
    changing = [line for log in inputs.rglob("calls.log") for line in log.read_text().splitlines()
                if line.split()[0] in ("up", "provision", "destroy")]
    assert not changing, f"{case}: ran vagrant {changing}"
    assert not (inputs / "rec").exists()
    assert sorted(p.name for p in (inputs / "earlier-run").iterdir()) == ["main.yaml"]


def test_scripts_suite_refusing_its_input_builds_no_report(tmp_path: Path) -> None:
    """`scripts/suite --transcript <a file that is not there>`: pytest refuses in one line,
    and the script used to go on building an HTML report of nothing (about 20 s), print
    "HTML report: ..." and leave that in place of the last real report.  It stops with
    pytest's exit status; the last report stays."""
    checkout = tmp_path / "checkout"  # a checkout of links to this one, with reports/ of its own
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("reports", ".git", ".pytest_cache"):
            (checkout / entry.name).symlink_to(entry)
    last = checkout / "reports" / "html" / "index.html"
    last.parent.mkdir(parents=True)
    last.write_text("the last report\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    started = time.monotonic()
    proc = subprocess.run([str(checkout / "scripts" / "suite"), f"--transcript={tmp_path}/absent.yaml"],
                          cwd=checkout, capture_output=True, text=True, timeout=300, env=env)
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert _one_line(out) == f"ERROR: transcript {tmp_path}/absent.yaml: no such file or folder", out
    assert "HTML report" not in out and "no tests ran" not in out, out
    assert last.read_text() == "the last report\n", sorted(p.name for p in last.parent.iterdir())
    assert not (checkout / "reports" / "allure-results").exists(), out
    assert took < 30, f"took {took:.1f}s"
    # a -k that selects no scenario: pytest's exit 5, no report of nothing either
    proc = subprocess.run([str(checkout / "scripts" / "suite"), "-k", "redactoin"],
                          cwd=checkout, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5 and "no tests ran" in out, out
    assert "HTML report" not in out and last.read_text() == "the last report\n", out
