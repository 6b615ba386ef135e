"""Documented commands are tests (issue 15): every shell command that README.md and
docs/*.md print in a code block and that starts with `pytest`, `.venv/bin/pytest`,
`python -m pytest` or `scripts/` is run as printed, and must reach what the docs promise.

How a student's machine is stood in for:

* `~` is a temporary home holding a write-up-style lab folder (`~/cilium-lab` with a
  Vagrantfile like the write-up's, tests/selftest/data/writeup-lab) and `~/.kube/config`;
* `vagrant` on PATH is the stand-in (tests/standin_vagrant.py): three running machines whose
  SSH port nothing listens on, so a real-lab run reaches the lab through the stand-in
  (`vagrant --version`, `status`, `ssh-config`) and stops with the one-line "lab
  unavailable" message; the suite's own lab gets the same;
* `~/.kube/config` names a fake API server on loopback (tests/unit/fake_apiserver.py), an
  empty cluster: the run reaches it and stops with one line (no Cilium there);
* `pytest` is the project's (`.venv/bin` first on PATH, as after `source .venv/bin/activate`);
* the checkout is a folder of symbolic links to this one with a `reports/` of its own, so
  what a command writes there (recordings, logs, the HTML report) stays in the test's folder;
  a command runs from the repository root unless its block `cd`s elsewhere first;
* a replay of "what was recorded" replays the reference transcript copied to that place
  (no real lab records here; recording itself is tested in
  tests/unit/test_vagrant_backend_loopback.py).

Identical commands (the same words, without their comments) run once.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cilab.errors import shell_word
from tests.standin_vagrant import standin
from tests.unit.fake_apiserver import FakeAPIServer
from tests.unit.sshd_server import free_port, write_key

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PREFIXES = ("pytest ", ".venv/bin/pytest ", "python -m pytest ", ".venv/bin/python -m pytest ", "scripts/")
WRITEUP_LAB = Path(__file__).resolve().parent / "data" / "writeup-lab"
REFERENCE = ROOT / "fixtures" / "transcripts" / "reference"

#: commands that cannot run here, with the reason (matched on the command without comments)
CANNOT_RUN = {
    "scripts/test": "the suite's own tests, this test among them (it would run itself); CI runs it",
    "pytest --lab replay --transcript nightly-transcript --replay-timing recorded":
        "replays a nightly real-lab recording at its recorded durations: as long as the lab took",
    "pytest --lab replay --transcript nightly-transcript --replay-timing recorded --replay-speed 20 -n 4":
        "needs a nightly real-lab recording with durations (the reference transcript has none to scale)",
}


#: arguments added to a command where a selection proves what the doc promises, to keep this
#: test's time modest (the whole reference run is the README's first command, run as printed,
#: and tests/selftest/test_report.py builds the report of a whole run)
NARROWED = {
    ".venv/bin/pytest --lab replay -n auto": "-m hubble",     # parallel: one chapter on two workers
    ".venv/bin/pytest --lab replay --transcript fixtures/transcripts/mutants/hubble-4244-missing-on-w2.yaml":
        "-m ports",                                             # the tag of the scenario the mutant breaks
    "pytest --lab replay --transcript reports/transcript": "-m ports",        # a replay of a recording,
    "pytest --lab replay --transcript ~/cilium-lab-runs/first": "-m ports",   # found where it was written
    "scripts/suite": "-m ports",                                # the script's run and report, one tag
}


@dataclass(frozen=True)
class Command:
    text: str        # as printed, without its trailing comment
    cwd: str         # "root", "provisioning" or "~/..." as the block says
    where: str       # file:line


def _strip_comment(line: str) -> str:
    """The command without a trailing `# comment` (shlex knows quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return line.strip()
    # keep the line's own spelling (quotes) up to where the comment begins
    cut = line.find(" #")
    return (line[:cut] if cut >= 0 else line).strip() if words else ""


def documented_commands() -> list[Command]:
    found: dict[tuple[str, str], Command] = {}
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        in_block, cwd, i = False, "root", 0
        while i < len(lines):
            line, number = lines[i], i + 1
            i += 1
            if line.lstrip().startswith("```"):
                in_block, cwd = not in_block, "root"
                continue
            if not in_block:
                continue
            while line.rstrip().endswith("\\") and i < len(lines):
                line = line.rstrip()[:-1] + " " + lines[i].strip()
                i += 1
            text = _strip_comment(line)
            # `cd X` and `cd X && ...` move the student's shell to X for the block's next lines
            # (a subshell, `(cd X && ...)`, does not)
            cd = re.fullmatch(r"cd (\S+)(?: && .*)?", text)
            if cd:
                target = cd.group(1)
                cwd = "root" if target == "/path/to/cilium-lab-conformance" else target
                continue
            if text.startswith(PREFIXES) or text in ("scripts/suite", "scripts/test"):
                key = (" ".join(text.split()), cwd)
                found.setdefault(key, Command(key[0], cwd, f"{doc.relative_to(ROOT)}:{number}"))
    return list(found.values())


COMMANDS = documented_commands()


def test_the_docs_print_the_commands_the_issue_names() -> None:
    texts = [c.text for c in COMMANDS]
    assert any(re.search(r"--vagrant-dir ~/cilium-lab(\s|$)", t) for t in texts), texts
    assert any(re.search(r"--transcript ~/\S+", t) for t in texts), texts  # outside the checkout
    assert any(t.startswith("scripts/suite") and "--lab vagrant" in t for t in texts), texts
    assert len(texts) >= 15, texts
    for listed in [*CANNOT_RUN, *NARROWED]:
        assert listed in texts, f"{listed!r} is listed here but no doc prints it"


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The student's machine: home, checkout, stand-in vagrant, fake API server."""
    base = tmp_path_factory.mktemp("machine")
    home = base / "home"
    lab = home / "cilium-lab"
    lab.mkdir(parents=True)
    shutil.copy(WRITEUP_LAB / "Vagrantfile", lab / "Vagrantfile")
    checkout = base / "checkout"
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("reports", ".git", ".pytest_cache"):
            (checkout / entry.name).symlink_to(entry)
    (checkout / "reports").mkdir()
    with FakeAPIServer() as api:
        api.write_kubeconfig(home / ".kube" / "config")
        yield {"base": base, "home": home, "lab": lab, "checkout": checkout, "api": api}


def _run(machine: dict, command: Command, provider: str) -> tuple[int, str, Path]:  # type: ignore[type-arg]
    base, home, checkout = machine["base"], machine["home"], machine["checkout"]
    slot = base / re.sub(r"[^A-Za-z0-9]+", "-", command.text)[:80]
    port = free_port()  # nothing listens there: the machines' SSH is gone
    write_key(slot / "key")
    standin(slot, machines={n: ("running", provider) for n in ("k8s-ctr", "k8s-w1", "k8s-w2")},
            port=port, key=slot / "key")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CILAB_")) and k not in ("VAGRANT_EXE", "KUBECONFIG", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PATH=os.pathsep.join([str(slot), str(checkout / ".venv" / "bin"), env["PATH"]]))
    cwd = checkout if command.cwd == "root" else \
        home / command.cwd[2:] if command.cwd.startswith("~/") else checkout / command.cwd
    text = command.text + (f" {NARROWED[command.text]}" if command.text in NARROWED else "")
    proc = subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr, slot


DEBIAN_VAGRANT = Path("/usr/bin/vagrant")  # Debian 12's package: 2.3.4, older than the suite's floor
VAGRANT_COMMANDS = [c for c in COMMANDS if "--lab vagrant" in c.text and c.text not in CANNOT_RUN]


@pytest.mark.parametrize("command", VAGRANT_COMMANDS, ids=[f"{c.where} {c.text}" for c in VAGRANT_COMMANDS])
def test_documented_command_with_debian_vagrant(command: Command, machine: dict) -> None:  # type: ignore[type-arg]
    """The same commands with Debian's own `vagrant` 2.3.4 first on PATH (what `apt install
    vagrant` gives a student on Debian 12): on the write-up's lab folder it is used as found
    (the machines are not created here, which is the one line the run ends with); on the
    suite's own lab the floor is named in one line.  Nothing is started, provisioned or
    destroyed, and there is no traceback."""
    if not DEBIAN_VAGRANT.exists():
        pytest.fail(f"{DEBIAN_VAGRANT} is missing: apt-get install vagrant (scripts/test does)", pytrace=False)
    slot = machine["base"] / ("debian-" + re.sub(r"[^A-Za-z0-9]+", "-", command.text)[:80])
    slot.mkdir()
    wrapper = slot / "vagrant"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >>"{slot}/calls.log"\nexec "{DEBIAN_VAGRANT}" "$@"\n')
    wrapper.chmod(0o755)
    rc, out = _run_as_student(machine, command, slot)
    said = f"{command.where}: `{command.text}` with Debian's vagrant (exit {rc}):\n{out[-6000:]}"
    assert rc != 0 and "Traceback" not in out and "FileNotFoundError" not in out, said
    errors = [line for line in out.splitlines() if line.startswith("ERROR:")]
    if "--vagrant-dir ~/cilium-lab" in command.text:
        lab = machine["lab"]
        assert errors == [f"ERROR: machines not running in {lab}: k8s-ctr (not_created), k8s-w1 (not_created), "
                          f"k8s-w2 (not_created); bring them up there with `cd {lab} && vagrant up` (the suite "
                          "starts nothing in a folder it did not provision)"], said
        assert "2.4.9" not in out, said
    else:
        assert errors == [f"ERROR: Vagrant 2.3.4 found at {wrapper}; the lab needs Vagrant 2.4.9 or newer "
                          "(VirtualBox 7.2 needs it): get it from https://developer.hashicorp.com/vagrant/install; "
                          "or run offline with --lab replay"], said
    calls = (slot / "calls.log").read_text().splitlines()
    assert not [c for c in calls if c.split()[0] in ("up", "provision", "destroy", "halt", "reload")], calls


def _run_as_student(machine: dict, command: Command, bindir: Path) -> tuple[int, str]:  # type: ignore[type-arg]
    """`command` as printed, from the directory its block says, with `bindir` first on PATH."""
    home, checkout = machine["home"], machine["checkout"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CILAB_")) and k not in ("VAGRANT_EXE", "KUBECONFIG", "VIRTUAL_ENV")}
    env.update(HOME=str(home), PATH=os.pathsep.join([str(bindir), str(checkout / ".venv" / "bin"), env["PATH"]]))
    cwd = checkout if command.cwd == "root" else \
        home / command.cwd[2:] if command.cwd.startswith("~/") else checkout / command.cwd
    proc = subprocess.run(["bash", "-c", command.text], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def _seed_recording(machine: dict, text: str) -> None:  # type: ignore[type-arg]
    """`--lab replay --transcript X` of what a real run recorded: the reference stands in."""
    m = re.search(r"--transcript[ =](\S+)", text)
    if not m or m.group(1).startswith("fixtures/"):
        return
    target = Path(m.group(1).replace("~", str(machine["home"]), 1))
    if not target.is_absolute():
        target = machine["checkout"] / target
    if not target.exists():
        shutil.copytree(REFERENCE, target)


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where} {c.text}" for c in COMMANDS])
def test_documented_command(command: Command, machine: dict) -> None:  # type: ignore[type-arg]
    if command.text in CANNOT_RUN:
        pytest.skip(f"cannot run here: {CANNOT_RUN[command.text]}")
    text = command.text
    real = "--lab replay" not in text and not (text == "scripts/suite" or text.startswith("scripts/suite -k"))
    if not real:
        _seed_recording(machine, text)
    provider = "libvirt" if "--provider libvirt" in text else "virtualbox"
    api: FakeAPIServer = machine["api"]
    api.clear_requests()
    rc, out, slot = _run(machine, command, provider)
    said = f"{command.where}: `{text}` (exit {rc}):\n{out[-6000:]}"
    assert "FileNotFoundError" not in out and "INTERNALERROR" not in out and "Traceback" not in out, said
    assert "errors during collection" not in out, said
    if "-p no:cilab.plugin" in text:  # the suite's own tests (a maintainer's command): they pass
        assert rc == 0 and re.search(r"^\d+ passed", out, re.M) and " failed" not in out, said
        return
    if not text.startswith("scripts/"):  # pytest's header: the project's rootdir and config file
        assert f"rootdir: {machine['checkout']}\nconfigfile: pyproject.toml" in out, said
    if text.startswith("scripts/suite"):
        report = re.search(r"^HTML report: (.+)$", out, re.M)
        assert report and Path(report.group(1)).is_file(), said
        assert Path(report.group(1)).resolve().is_relative_to(machine["checkout"].resolve()) or \
            str(machine["checkout"]) in report.group(1), said
    if not real:
        if "fixtures/transcripts/mutants/" in text:  # a mutant: the scenario it breaks fails, named
            assert rc == 1 and "1 failed" in out and "4244" in out, said
        else:
            assert rc == 0 and " passed" in out and " failed" not in out, said
        return
    assert rc != 0, said
    lab_lines = [line for line in out.splitlines() if line.startswith("lab unavailable: ")]
    if "--lab kubeconfig" in text:  # the fake API server: reached, and no Cilium there
        # reached: the version check (`GET /version/`; the API discovery asks `GET /version`
        # too unless a cache answers: the cache lived in /tmp, outliving the run, until the
        # runs' own folders held it), the Node list, cilium-config
        assert [r for r in api.requests_to("GET") if r.path.rstrip("/") == "/version"], said
        assert api.requests_to("GET", "/api/v1/nodes"), said
        assert lab_lines and lab_lines[0] == ("lab unavailable: ConfigMap kube-system/cilium-config not "
                                              "found: is Cilium installed on this lab?"), said
        return
    folder = machine["lab"] if "--vagrant-dir ~/cilium-lab" in text else ROOT / "provisioning"
    port = re.search(r"Port (\d+)", (slot / "ssh-config.txt").read_text()).group(1)  # type: ignore[union-attr]
    assert lab_lines and lab_lines[0] == (
        f"lab unavailable: k8s-ctr does not answer on SSH at 127.0.0.1:{port} (connection refused): the lab's "
        f"machines are stopped or gone; try `cd {shell_word(folder)} && vagrant status`"), said
    calls = (slot / "calls.log").read_text().splitlines()
    assert {"status --machine-readable", "ssh-config"} <= set(calls), calls
    assert not [c for c in calls if c.split()[0] in ("up", "provision", "halt", "reload")], calls
    if "--destroy-lab" in text:  # destroyed at the end, as the doc says
        assert calls[-1].startswith("destroy"), calls
    else:
        assert not [c for c in calls if c.startswith("destroy")], calls
