"""First contact (issue 15, points 1, 2, 3 and 8): a student's own machine and lab.

* every path option works as `--opt VALUE` and as `--opt=VALUE` (pytest's rootdir stays the
  project's, so collection finds the feature files);
* `--help`, `--collect-only`, `--markers`, `--fixtures`, `--version` and `-k`/`-m` dry runs
  never run `vagrant` or read a kubeconfig, with Debian's Vagrant 2.3.4 on PATH as with a
  stand-in whose provisioning/ check would fail;
* a write-up lab (`--vagrant-dir`, a folder the suite did not provision) is not held to the
  suite's Vagrant floor: the version found is shown and the run goes on;
* a lab that cannot be reached (machines gone, SSH login refused, API server refusing)
  ends in one line of words with the next command to try, and no traceback.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cilab.errors import shell_word
from tests.selftest.suite_runner import PORT_FORWARD_PID, half_created
from tests.standin_vagrant import standin
from tests.unit.sshd_server import free_port, loopback_sshd, write_key

ROOT = Path(__file__).resolve().parents[2]
WRITEUP_LAB = Path(__file__).resolve().parent / "data" / "writeup-lab"
DEBIAN_VAGRANT = Path("/usr/bin/vagrant")


def run(tmp: Path, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
        timeout: float = 180) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    base.pop("VAGRANT_EXE", None)
    base.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "--basetemp", str(tmp / "bt"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=base)
    return proc.returncode, proc.stdout + proc.stderr


def logging_vagrant(folder: Path, real: Path) -> Path:
    """A `vagrant` on PATH that logs each call and hands it to `real`."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "vagrant"
    exe.write_text(f'#!/bin/sh\necho "$*" >>"{folder}/calls.log"\nexec "{real}" "$@"\n')
    exe.chmod(0o755)
    return exe


def writeup_lab(home: Path) -> Path:
    lab = home / "cilium-lab"
    lab.mkdir(parents=True)
    shutil.copy(WRITEUP_LAB / "Vagrantfile", lab / "Vagrantfile")
    return lab


def no_traceback(out: str) -> None:
    assert "Traceback" not in out and "\nE   " not in out and "site-packages" not in out \
        and "cilab/ssh.py" not in out, out


# --- point 1: both forms of every path option --------------------------------------------

def test_every_path_option_keeps_the_project_rootdir_in_both_forms(tmp_path: Path) -> None:
    """A value given as a word of its own names an existing folder outside the project:
    pytest used to take it for a test path and move its rootdir there.  Each form collects
    the suite's own scenarios, as many as a plain `pytest --collect-only` from the project."""
    rc, out = run(tmp_path, "--lab", "replay", "--collect-only", "-q")
    found = re.search(r"^(\d+) tests collected", out, re.M)
    assert rc == 0 and found, out
    SCENARIOS = int(found[1])
    assert SCENARIOS == len(re.findall(r"^tests/scenarios/test_\w+\.py::", out, re.M)) > 80, out
    elsewhere = tmp_path / "elsewhere"  # exists, outside the project
    shutil.copytree(ROOT / "fixtures" / "transcripts" / "reference", elsewhere / "transcript")
    kubeconfig = elsewhere / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    lab = writeup_lab(tmp_path / "home")
    groups = [  # the options of one lab go in one command: (option, value) pairs
        ["--lab", "replay"], [("--transcript", str(elsewhere / "transcript")), ("--call-log", str(elsewhere)),
                              ("--alluredir", str(elsewhere / "allure"))],
        ["--lab", "vagrant"], [("--vagrant-dir", str(lab)), ("--provisioning-logs", str(elsewhere)),
                               ("--record", str(elsewhere))],
        ["--lab", "kubeconfig"], [("--kubeconfig", str(kubeconfig)), ("--ssh-config", str(kubeconfig))],
    ]
    (elsewhere / "allure").mkdir()
    for lab_args, options in zip(groups[::2], groups[1::2]):
        for spaced in (True, False):
            args = [*lab_args, "--collect-only", "-q"]
            for option, value in options:
                args += [option, value] if spaced else [f"{option}={value}"]
            rc, out = run(tmp_path, *args)
            assert rc == 0, f"{' '.join(args)}: exit {rc}\n{out}"
            assert f"{SCENARIOS} tests collected" in out, f"{' '.join(args)}:\n{out}"
            assert "FileNotFoundError" not in out and "error" not in out.lower(), f"{' '.join(args)}:\n{out}"


def test_a_new_folder_outside_the_project_works_with_workers(tmp_path: Path) -> None:
    """`pytest -n 2 --alluredir /elsewhere/new` (and the same in PYTEST_ADDOPTS): the folder
    does not exist when pytest starts, so the controller keeps the project's rootdir, but it
    does by the time the xdist workers choose theirs from the same words.  The workers used
    to take it for their rootdir, refuse, and leave "no tests ran".  Both forms run the
    scenarios and write their results there."""
    for how in ("argument", "PYTEST_ADDOPTS"):
        results = tmp_path / how / "new" / "allure-results"
        option = ["--alluredir", str(results)]
        rc, out = run(tmp_path, "--lab", "replay", "-n", "2", "-q", "-k", "nodes",
                      *(option if how == "argument" else []),
                      env={"PYTEST_ADDOPTS": " ".join(option)} if how == "PYTEST_ADDOPTS" else None)
        assert rc == 0 and re.search(r"^8 passed", out, re.M), f"{how}: exit {rc}\n{out[-3000:]}"
        assert "rootdir" not in out and "no tests ran" not in out, out[-3000:]
        assert len(list(results.glob("*-result.json"))) == 8, f"{how}: {sorted(p.name for p in results.iterdir())}"


def test_a_tilde_after_the_equals_sign_is_the_home_folder(tmp_path: Path) -> None:
    """`--transcript=~/runs/first`: neither bash nor zsh expands `~` after `=` in an option,
    so the suite got a literal `~`: the replay said "no such file or folder" for a folder that
    is there, and `--alluredir=~/x`, `--call-log=~/x` (and a recording) went into a folder
    named `~` made in the checkout.  With workers, each path option's `~` is the home folder."""
    home = tmp_path / "home"
    shutil.copytree(ROOT / "fixtures" / "transcripts" / "reference", home / "runs" / "first")
    stray = ROOT / "~"
    assert not stray.exists(), f"{stray} is there before the test: remove it"
    try:
        rc, out = run(tmp_path, "--lab", "replay", "-n", "2", "-q", "-m", "ports", "--transcript=~/runs/first",
                      "--alluredir=~/results", "--call-log=~/calls.log", env={"HOME": str(home)})
        assert not stray.exists(), f"a folder named ~ was made in the checkout: {sorted(stray.rglob('*'))[:5]}"
    finally:
        shutil.rmtree(stray, ignore_errors=True)
    assert rc == 0 and re.search(r"^4 passed", out, re.M), out[-3000:]
    assert len(list((home / "results").glob("*-result.json"))) == 4, out[-3000:]
    assert sorted(p.name for p in home.glob("calls.log.*")) == ["calls.log.gw0", "calls.log.gw1"], out[-3000:]
    rc, out = run(tmp_path, "--lab", "vagrant", "--collect-only", "--record=~/runs/second",
                  "--vagrant-dir=~/cilium-lab", env={"HOME": str(home)})
    assert rc == 0, out[-3000:]
    assert f"cilium lab: vagrant in {home / 'cilium-lab'} (recording to {home / 'runs' / 'second'})" in out, out[-3000:]


def test_a_clone_holds_no_link_to_this_machine() -> None:
    """A fresh clone got `node_modules`, a symbolic link committed by a merge, pointing at the
    developer's own checkout (and there at itself: a loop): `scripts/suite` then found no
    `node_modules/.bin/allure` through it.  The repository tracks no link that leads out of it."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s"], capture_output=True, text=True, check=True)
    links = {line.split("\t", 1)[1]: line.split()[1] for line in listed.stdout.splitlines()
             if line.startswith("120000 ")}
    targets = {link: subprocess.run(["git", "-C", str(ROOT), "cat-file", "blob", blob], capture_output=True,
                                    text=True, check=True).stdout for link, blob in links.items()}
    outside = [f"{link} -> {target}" for link, target in targets.items()
               if not os.path.normpath(ROOT / link / ".." / target).startswith(str(ROOT) + os.sep)]
    assert not outside, f"tracked links leading out of the repository: {outside}"
    assert "node_modules" not in links, links


# --- point 2: dry runs look at no lab ----------------------------------------------------

DRY_RUNS = [["--help"], ["--version"], ["--collect-only", "-q"], ["--markers"], ["--fixtures"],
            ["--collect-only", "-q", "-k", "redaction"], ["--collect-only", "-q", "-m", "hubble and ports"]]


@pytest.mark.parametrize("vagrant", ["debian-2.3.4", "standin-without-k8s-ctr"])
def test_dry_runs_never_run_vagrant(vagrant: str, tmp_path: Path) -> None:
    if vagrant == "debian-2.3.4":
        if not DEBIAN_VAGRANT.exists():
            pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant (scripts/test does)", pytrace=False)
        bindir = tmp_path / "bin"
        logging_vagrant(bindir, DEBIAN_VAGRANT)
        log = bindir / "calls.log"
    else:  # 2.4.9, but the folder would fail the Vagrantfile check (no k8s-ctr machine)
        bindir = tmp_path / "standin"
        standin(bindir, machines={"default": ("running", "virtualbox")})
        log = bindir / "calls.log"
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "VAGRANT_HOME": str(tmp_path / "vagrant.d")}
    for args in DRY_RUNS if vagrant == "debian-2.3.4" else DRY_RUNS[:3]:
        rc, out = run(tmp_path, *args, env=env)
        assert rc == 0, f"pytest {' '.join(args)}: exit {rc}\n{out}"
        assert "ERROR" not in out, f"pytest {' '.join(args)}:\n{out}"
        assert not log.exists(), f"pytest {' '.join(args)} ran vagrant: {log.read_text()}"
    # and the same bare command without a dry-run option does reach vagrant (the check is live)
    rc, out = run(tmp_path, "-q", env=env)
    assert rc != 0 and log.exists(), out


# --- point 3: a write-up lab and its own Vagrant ------------------------------------------

def test_writeup_lab_with_debian_vagrant_is_not_held_to_the_floor(tmp_path: Path) -> None:
    """Debian's 2.3.4 runs `status` on the write-up's Vagrantfile; the machines are not
    created here, which is the one line the run ends with (not the version floor)."""
    if not DEBIAN_VAGRANT.exists():
        pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant (scripts/test does)", pytrace=False)
    lab = writeup_lab(tmp_path / "home")
    rc, out = run(tmp_path, "--lab", "vagrant", "--vagrant-dir", str(lab),
                  env={"VAGRANT_EXE": str(DEBIAN_VAGRANT), "VAGRANT_HOME": str(tmp_path / "vagrant.d")})
    assert rc != 0
    assert "2.4.9" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR: machines not running in {lab}: k8s-ctr (not_created), k8s-w1 (not_created), "
                      f"k8s-w2 (not_created); bring them up there with `cd {lab} && vagrant up` (the suite "
                      "starts nothing in a folder it did not provision)"], out
    no_traceback(out)


def test_suite_lab_keeps_the_floor(tmp_path: Path) -> None:
    """provisioning/ (the lab the suite builds) still needs 2.4.9: a stand-in 2.4.3 is refused."""
    exe = standin(tmp_path / "standin", version="2.4.3")
    rc, out = run(tmp_path, "--lab", "vagrant", env={"VAGRANT_EXE": str(exe)})
    assert rc != 0
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: Vagrant 2.4.3 found at {exe}; the lab needs Vagrant 2.4.9 or newer (VirtualBox 7.2 needs it): "
        "get it from https://developer.hashicorp.com/vagrant/install; or run offline with --lab replay"], out
    assert (tmp_path / "standin" / "calls.log").read_text().split("\n")[0] == "--version"


# --- point 8: a lab that cannot be reached, in one line -----------------------------------

def OUTPUTS(tmp: Path) -> tuple[Path, Path]:  # noqa: N802
    """A recording and a call log asked for by a run the lab refuses: neither may be left."""
    return tmp / "out" / "record", tmp / "out" / "calls.log"


def OUTPUT_OPTIONS(tmp: Path) -> list[str]:  # noqa: N802
    record, calls = OUTPUTS(tmp)
    return ["--record", str(record), "--call-log", str(calls)]


def lab_unavailable_lines(out: str) -> list[str]:
    """The lines that tell the student the lab is unavailable, not counting pytest's own
    short summary (``FAILED <test id> - <message>``: cut to the terminal's width on a
    terminal, printed whole where CI is set)."""
    return [line for line in out.splitlines() if "lab unavailable" in line and not line.startswith("FAILED ")]


def test_machines_gone_is_one_line_with_vagrant_status(tmp_path: Path) -> None:
    """The write-up lab's machines are gone: Vagrant still lists them as running (its state
    is stale), but nothing answers on their SSH port.  Built with Vagrant 2.4.3: shown, not refused."""
    lab = writeup_lab(tmp_path / "home")
    port = free_port()  # nothing listens there
    write_key(tmp_path / "standin" / "key")
    exe = standin(tmp_path / "standin", version="2.4.3", port=port)
    started = time.monotonic()
    rc, out = run(tmp_path, "--lab", "vagrant", "--vagrant-dir", str(lab), *OUTPUT_OPTIONS(tmp_path),
                  env={"VAGRANT_EXE": str(exe)})
    assert rc != 0
    assert time.monotonic() - started < 60, out
    assert not half_created(OUTPUTS(tmp_path)), half_created(OUTPUTS(tmp_path))
    assert (f"[cilab] Vagrant 2.4.3 in {lab} (a lab of your own: nothing is started or provisioned, its "
            "Cilium release is changed only with --allow-helm-changes; the 2.4.9 floor is for the lab the "
            "suite builds)") in out.splitlines(), out
    line = (f"lab unavailable: k8s-ctr does not answer on SSH at 127.0.0.1:{port} (connection refused): the "
            f"lab's machines are stopped or gone; try `cd {lab} && vagrant status`")
    assert lab_unavailable_lines(out) == [line, f"! Interrupted: {line} !"], out
    no_traceback(out)
    calls = (tmp_path / "standin" / "calls.log").read_text().split()
    assert not {"up", "provision", "destroy", "halt", "reload"} & set(calls), calls


def test_ssh_login_refused_is_one_line_with_vagrant_ssh(tmp_path: Path) -> None:
    lab = writeup_lab(tmp_path / "home")
    with loopback_sshd(tmp_path / "sshd") as server:
        exe = standin(tmp_path / "standin", port=server.port, user=server.user, key=server.wrong_key)
        pid_before = PORT_FORWARD_PID.exists()
        rc, out = run(tmp_path, "--lab", "vagrant", "--vagrant-dir", str(lab), *OUTPUT_OPTIONS(tmp_path),
                      env={"VAGRANT_EXE": str(exe)})
    assert rc != 0
    assert not half_created(OUTPUTS(tmp_path), pid_file_before=pid_before)
    line = (f"lab unavailable: k8s-ctr refused the SSH login of {server.user} at 127.0.0.1:{server.port} "
            f"(authentication failed); the key `vagrant ssh-config` names is not accepted: try "
            f"`cd {lab} && vagrant ssh k8s-ctr`")
    assert lab_unavailable_lines(out) == [line, f"! Interrupted: {line} !"], out
    no_traceback(out)


def test_api_server_refusing_is_one_line_with_kubectl(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")
    rc, out = run(tmp_path, "--lab", "kubeconfig", "--kubeconfig", str(kubeconfig), *OUTPUT_OPTIONS(tmp_path))
    assert rc != 0
    assert not half_created(OUTPUTS(tmp_path)), half_created(OUTPUTS(tmp_path))
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: the API server https://127.0.0.1:{port} does not answer (connection refused); "
        f"try `kubectl --kubeconfig {kubeconfig} get nodes`"], out
    no_traceback(out)


def test_api_server_of_the_context_given_refusing_names_that_context(tmp_path: Path) -> None:
    """`--context lab` of a kubeconfig whose current context is another cluster: the command
    to try must look at the same cluster (`kubectl get nodes` without it asks the other one)."""
    port, other = free_port(), free_port()  # nothing listens on either
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}, "
        f"{{name: o, cluster: {{server: 'https://127.0.0.1:{other}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: lab, context: {cluster: c, user: u}}, {name: work, context: {cluster: o, user: u}}]\n"
        "current-context: work\n")
    rc, out = run(tmp_path, "--lab", "kubeconfig", "--kubeconfig", str(kubeconfig), "--context", "lab")
    assert rc != 0
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: the API server https://127.0.0.1:{port} does not answer (connection refused); "
        f"try `kubectl --kubeconfig {kubeconfig} --context lab get nodes`"], out
    no_traceback(out)


# --- another working directory -------------------------------------------------------------

def test_started_in_another_folder_is_one_line_naming_the_suites_folder(tmp_path: Path) -> None:
    """`cd ~/cilium-lab && vagrant status`, then `pytest --lab ...` there: no scenario would be
    found ("no tests ran"); one line says where to run it.  Naming the scenarios works from anywhere."""
    lab = writeup_lab(tmp_path / "home")
    rc, out = run(tmp_path, "--lab", "replay", "-q", cwd=lab)
    assert rc == 4, out
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: pytest was started in {lab}, where none of the suite's scenarios are: run it from the suite's "
        f"folder (`cd {shell_word(ROOT)}`), or name them (`pytest {shell_word(ROOT / 'tests' / 'scenarios')} ...`)"], out
    no_traceback(out)
    rc, out = run(tmp_path, "--lab", "replay", "-q", "-m", "ports", str(ROOT / "tests" / "scenarios"), cwd=lab)
    assert rc == 0 and " passed" in out, out[-2000:]


def test_started_in_the_projects_provisioning_folder_is_the_same_one_line(tmp_path: Path) -> None:
    """docs/real-lab.md's block `cd provisioning`, `vagrant up`, then `pytest -n auto --lab
    vagrant` in the same shell: pytest found the project's pyproject.toml above, collected the
    provisioning folder and ended "no tests ran" without a word."""
    rc, out = run(tmp_path, "--lab", "replay", "-n", "2", "-q", cwd=ROOT / "provisioning")
    assert rc == 4, out
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: pytest was started in {ROOT / 'provisioning'}, where none of the suite's scenarios are: run it "
        f"from the suite's folder (`cd {shell_word(ROOT)}`), or name them (`pytest {shell_word(ROOT / 'tests' / 'scenarios')} ...`)"], out
    rc, out = run(tmp_path, "--lab", "replay", "-q", "-m", "ports", cwd=ROOT / "tests" / "scenarios")
    assert rc == 0 and " passed" in out, out[-2000:]


def test_started_in_another_folder_with_the_lab_in_pytest_addopts(tmp_path: Path) -> None:
    """`PYTEST_ADDOPTS="--lab replay -n 2" pytest` in the lab's folder ended "no tests ran"
    and exit 0 without a word: `--lab` was looked for on the command line only."""
    lab = writeup_lab(tmp_path / "home")
    rc, out = run(tmp_path, "-q", cwd=lab, env={"PYTEST_ADDOPTS": "--lab replay -n 2"})
    assert rc == 4, out
    assert [line for line in out.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: pytest was started in {lab}, where none of the suite's scenarios are: run it from the suite's "
        f"folder (`cd {shell_word(ROOT)}`), or name them (`pytest {shell_word(ROOT / 'tests' / 'scenarios')} ...`)"], out
    rc, out = run(tmp_path, "-q", "-m", "ports", str(ROOT / "tests" / "scenarios"), cwd=lab,
                  env={"PYTEST_ADDOPTS": "--lab=replay"})
    assert rc == 0 and " passed" in out, out[-2000:]


def _typed(line: str, after: str) -> str:
    """The command a one-line message tells the student to type: in backticks after `after`."""
    found = re.search(re.escape(after) + r"[^`]*`([^`]+)`", line)
    assert found, line
    return found[1]


def test_commands_in_messages_survive_a_space_in_a_path(tmp_path: Path) -> None:
    """A checkout or a lab in a folder whose name has a space (`~/My Labs/...`, common on a
    Mac): the command a message names must run when pasted into a shell.  `cd /x/My Labs/suite`
    said "too many arguments"; such paths are quoted."""
    suite = tmp_path / "my suite"  # the plugin's own folder is the suite's folder it names
    shutil.copytree(ROOT / "cilab", suite / "cilab", ignore=shutil.ignore_patterns("__pycache__"))
    (suite / "tests" / "scenarios").mkdir(parents=True)
    lab = tmp_path / "home" / "cilium lab"
    lab.mkdir(parents=True)
    shutil.copy(WRITEUP_LAB / "Vagrantfile", lab / "Vagrantfile")
    rc, out = run(tmp_path, "--lab", "replay", "-q", cwd=lab, env={"PYTHONPATH": str(suite)})
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert rc == 4 and len(errors) == 1, out
    cd = _typed(errors[0], "run it from the suite's folder")
    moved = subprocess.run(["bash", "-c", f"{cd} && pwd"], cwd=tmp_path, capture_output=True, text=True)
    assert moved.returncode == 0 and moved.stdout.strip() == str(suite), (errors[0], moved.stderr)
    named = _typed(errors[0], "or name them")
    assert shlex.split(named) == ["pytest", str(suite / "tests" / "scenarios"), "..."], errors[0]
    if not DEBIAN_VAGRANT.exists():
        pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant (scripts/test does)", pytrace=False)
    rc, out = run(tmp_path, "--lab", "vagrant", "--vagrant-dir", str(lab),
                  env={"VAGRANT_EXE": str(DEBIAN_VAGRANT), "VAGRANT_HOME": str(tmp_path / "vagrant.d")})
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert rc != 0 and len(errors) == 1 and errors[0].startswith(f"ERROR: machines not running in {lab}: "), out
    assert shlex.split(_typed(errors[0], "bring them up there with")) == ["cd", str(lab), "&&", "vagrant", "up"], errors


def linked_checkout(checkout: Path) -> Path:
    """A checkout of links to this one, with a reports/ of its own (scripts/suite writes there)."""
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("reports", ".git", ".pytest_cache"):
            (checkout / entry.name).symlink_to(entry)
    return checkout


def test_scripts_suite_typed_in_another_folder_reads_relative_paths_from_there(tmp_path: Path) -> None:
    """`cd ~/cilium-lab-runs && ~/src/cilium-lab-conformance/scripts/suite --transcript first`:
    the script runs pytest from the project's folder, so `first` was looked for there ("no such
    file or folder" for a folder beside the student).  Relative paths mean what they meant where
    the command was typed."""
    checkout = linked_checkout(tmp_path / "checkout")
    runs = tmp_path / "cilium-lab-runs"
    shutil.copytree(ROOT / "fixtures" / "transcripts" / "reference", runs / "first")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    proc = subprocess.run([str(checkout / "scripts" / "suite"), "--transcript", "first", "-m", "ports",
                           "--call-log=calls.log"], cwd=runs, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and re.search(r"\b4 passed\b", out), out[-3000:]
    assert f"transcript={runs / 'first'}\n" in (checkout / "reports" / "allure-results" / "environment.properties").read_text()
    assert sorted(p.name for p in runs.glob("calls.log.*")) == ["calls.log.gw0", "calls.log.gw1"], out[-3000:]
    assert not list(checkout.glob("calls.log*")), out[-3000:]


def test_scripts_suite_builds_the_report_from_the_students_alluredir(tmp_path: Path) -> None:
    """`scripts/suite -m ports --alluredir=~/lab-results`: pytest takes the last --alluredir, so
    the results went to the student's folder while the report was built from the script's own,
    empty one.  The report is built from the folder given (a leading ~ and a relative path
    read as the student meant them), which the script never empties."""
    checkout = linked_checkout(tmp_path / "checkout")
    home = tmp_path / "home"
    mine = home / "lab-results"
    mine.mkdir(parents=True)
    (mine / "kept.txt").write_text("the student's\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    env["HOME"] = str(home)
    proc = subprocess.run([str(checkout / "scripts" / "suite"), "-m", "ports", "--alluredir=~/lab-results"],
                          cwd=home, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and re.search(r"\b4 passed\b", out), out[-3000:]
    assert len(list(mine.glob("*-result.json"))) == 4 and (mine / "kept.txt").exists(), sorted(mine.iterdir())
    report = re.search(r"^HTML report: (.+)$", out, re.M)
    assert report and Path(report.group(1)).is_file(), out[-3000:]
    html = Path(report.group(1)).read_text(encoding="utf-8", errors="replace")
    import base64
    import json
    stats = re.search(r'd\("widgets/statistic\.json","([^"]+)"', html)   # the single file's embedded data
    assert stats and json.loads(base64.b64decode(stats.group(1))) == {"total": 4, "passed": 4}, \
        stats and base64.b64decode(stats.group(1))
    assert not (checkout / "reports" / "allure-results").exists() or \
        not list((checkout / "reports" / "allure-results").iterdir())


#: what Python 3.11+ added to the standard library that a module could import by name
#: (pyproject.toml: requires-python >= 3.10; Ubuntu 22.04's python3 is 3.10)
NEWER_THAN_310 = {
    "typing": {"Self", "LiteralString", "Never", "assert_never", "assert_type", "reveal_type", "Required",
               "NotRequired", "TypeVarTuple", "Unpack", "dataclass_transform", "get_overloads", "clear_overloads"},
    "datetime": {"UTC"}, "enum": {"StrEnum", "ReprEnum", "verify", "EnumCheck"}, "contextlib": {"chdir"},
    "hashlib": {"file_digest"}, "operator": {"call"}, "itertools": {"batched"},
}
NEW_MODULES_AFTER_310 = {"tomllib", "wsgiref.types"}


def test_every_module_imports_on_python_3_10() -> None:
    """README: `scripts/test` works on a fresh machine with python3 3.10+.  On 3.10 eight test
    modules stopped at collection (`from typing import Self` in tests/unit/fake_apiserver.py).
    No module of the project imports what the standard library gained in 3.11 or later, outside
    an `if TYPE_CHECKING:` block."""
    import ast
    found = []
    for path in sorted([*ROOT.glob("cilab/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("tools/**/*.py"),
                        ROOT / "conftest.py"]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hidden = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                  and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.ImportFrom) and node.module in NEWER_THAN_310:
                names = {a.name for a in node.names} & NEWER_THAN_310[node.module]
                if names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {sorted(names)}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: import {m}" for m in modules
                          if m in NEW_MODULES_AFTER_310]
    assert not found, "needs Python 3.11+: " + "; ".join(found)
