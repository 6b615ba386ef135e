"""VagrantCLI against a stand-in `vagrant` executable that prints Vagrant 2.4's formats.

The stand-in is a Python script written into tmp_path; `STANDIN_MODE` (passed through
VagrantCLI's `env`) picks what it does.  Output shapes follow Vagrant's sources:
`lib/vagrant/ui.rb` (MachineReadable), `plugins/commands/status/command.rb`,
`lib/vagrant/machine.rb` (the `metadata` line) and
`templates/commands/ssh_config/config.erb` (note the blank line the ERB `each` tag leaves
before every IdentityFile).
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cilab.errors import CallFailed, ConfigError, LabUnavailable
from cilab.ssh import SSHHost
from cilab.vagrant_cli import MISSING_VAGRANT, MachineStatus, VagrantCLI

NODES = ("k8s-ctr", "k8s-w1", "k8s-w2")

STANDIN = r'''#!{python}
import json, os, subprocess, sys, time

MODE = os.environ.get("STANDIN_MODE", "virtualbox")
NODES = ("k8s-ctr", "k8s-w1", "k8s-w2")
PORTS = {{"k8s-ctr": 2222, "k8s-w1": 2200, "k8s-w2": 2201}}
TS = "1767225600"

with open(os.environ["STANDIN_RECORD"], "a") as rec:
    rec.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(),
                          "checkpoint": os.environ.get("VAGRANT_CHECKPOINT_DISABLE"),
                          "has_path": "PATH" in os.environ}}) + "\n")

def esc(text):
    return text.replace(",", "%!(VAGRANT_COMMA)").replace("\n", "\\n").replace("\r", "\\r")

def line(target, kind, *data):
    print(",".join([TS, target, kind] + [esc(d) for d in data]))

args = sys.argv[1:]
if MODE == "hang":
    child = subprocess.Popen(["sleep", "60"])
    with open(os.environ["STANDIN_PIDS"], "w") as f:
        json.dump([os.getpid(), child.pid], f)
    time.sleep(60)
    sys.exit(0)
if MODE == "fail":
    print("Bringing machine 'k8s-ctr' up with 'virtualbox' provider...")
    for i in range(40):
        print(f"noise line {{i}}", file=sys.stderr)
    print("The provider 'virtualbox' that was requested to back the machine\n"
          "'k8s-ctr' is reporting that it isn't usable on this system.", file=sys.stderr)
    sys.exit(1)

if args == ["--version"]:
    print("Vagrant 2.4.9")
elif args == ["status", "--machine-readable"]:
    provider = "libvirt" if MODE == "libvirt" else "virtualbox"
    if provider == "libvirt":
        state, short = "shutoff", "shutoff"
        long = "The Libvirt domain is not running. Run `vagrant up` to start it."
    else:
        state, short = "running", "running"
        long = ("The VM is running. To stop this VM, you can run `vagrant halt` to\n"
                "shut it down forcefully, or you can run `vagrant suspend` to simply\n"
                "suspend the virtual machine. In either case, to restart it again,\n"
                "simply run `vagrant up`.")
    for n in NODES:
        line(n, "metadata", "provider", provider)
    for n in NODES:
        line(n, "provider-name", provider)
        line(n, "state", state)
        line(n, "state-human-short", short)
        line(n, "state-human-long", long)
    listing = "\n".join(f"{{n:<25}} {{short}} ({{provider}})" for n in NODES)
    line("", "ui", "info", "Current machine states:\n\n" + listing + "\n\n"
         "This environment represents multiple VMs. The VMs are all listed\n"
         "above with their current state. For more information about a specific\n"
         "VM, run `vagrant status NAME`.")
elif args == ["ssh-config"]:
    root = os.getcwd()
    for n in NODES:
        key = f"{{root}}/.vagrant/machines/{{n}}/virtualbox/private_key"
        print(f"""Host {{n}}
  HostName 127.0.0.1
  User vagrant
  Port {{PORTS[n]}}
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no

  IdentityFile "{{key}}"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa""")
        print()
elif args[:1] in (["up"], ["destroy"]):
    for n in NODES:
        print(f"==> {{n}}: {{args[0]}} {{' '.join(args[1:])}}".rstrip())
        print(f"==> {{n}}: warning on stderr", file=sys.stderr)
else:
    print(f"unexpected arguments: {{args}}", file=sys.stderr)
    sys.exit(2)
'''


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    root = tmp_path / "my lab"  # Vagrant quotes IdentityFile paths with a space
    root.mkdir()
    (root / "Vagrantfile").write_text("# stand-in\n")
    return root


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    exe = tmp_path / "bin" / "vagrant"
    exe.parent.mkdir()
    # a shebang cannot hold a path with a space (a checkout in "My Labs"): a shell wrapper runs it
    script = tmp_path / "bin" / "vagrant.py"
    script.write_text(STANDIN.format(python=sys.executable))
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} "$@"\n')
    exe.chmod(0o755)
    return exe


def make_cli(lab: Path, standin: Path, tmp_path: Path, mode: str = "virtualbox",
             use_env_var: bool = False) -> VagrantCLI:
    env = {"STANDIN_MODE": mode, "STANDIN_RECORD": str(tmp_path / "record.jsonl"),
           "STANDIN_PIDS": str(tmp_path / "pids.json")}
    if use_env_var:
        return VagrantCLI(lab, env={**env, "VAGRANT_EXE": str(standin)})
    return VagrantCLI(lab, executable=str(standin), env=env)


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (tmp_path / "record.jsonl").read_text().splitlines()]


def test_status_virtualbox(lab: Path, standin: Path, tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path)
    assert cli.status() == [MachineStatus(n, "running", "virtualbox") for n in NODES]
    [rec] = records(tmp_path)
    assert rec["argv"] == ["status", "--machine-readable"]
    assert Path(rec["cwd"]) == lab
    assert rec["has_path"] and rec["checkpoint"] == "1"  # os.environ merged with env


def test_status_libvirt_shutoff_is_poweroff(lab: Path, standin: Path,
                                            tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path, mode="libvirt", use_env_var=True)
    assert cli.status() == [MachineStatus(n, "poweroff", "libvirt") for n in NODES]


def test_ssh_config(lab: Path, standin: Path, tmp_path: Path) -> None:
    hosts = make_cli(lab, standin, tmp_path).ssh_config()
    assert list(hosts) == list(NODES)
    for name, port in zip(NODES, (2222, 2200, 2201)):
        key = f"{lab}/.vagrant/machines/{name}/virtualbox/private_key"
        assert hosts[name] == SSHHost(name=name, hostname="127.0.0.1", port=port,
                                      user="vagrant", identity_files=(key,),
                                      strict_host_key_checking=False)


def test_version_up_destroy(lab: Path, standin: Path, tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path)
    assert cli.version() == "2.4.9"
    log = tmp_path / "logs" / "vagrant-up.log"
    cli.up("libvirt", timeout=30, log=log)
    text = log.read_text()
    assert "$ vagrant up --provider=libvirt" in text
    assert "==> k8s-w2: up --provider=libvirt" in text
    assert "==> k8s-ctr: warning on stderr" in text  # stderr goes to the log too
    cli.destroy(timeout=30)
    assert [r["argv"] for r in records(tmp_path)] == [
        ["--version"], ["up", "--provider=libvirt"], ["destroy", "--force"]]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # zombies count as dead
    except FileNotFoundError:
        return False


def test_hang_is_killed_within_the_timeout(lab: Path, standin: Path, tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path, mode="hang")
    started = time.monotonic()
    with pytest.raises(LabUnavailable) as info:
        cli.status(timeout=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 2
    assert "vagrant status --machine-readable" in str(info.value)
    assert "1.5s" in str(info.value)
    pids = json.loads((tmp_path / "pids.json").read_text())
    deadline = time.monotonic() + 2
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "vagrant or its child survived the timeout"


def test_missing_binary(lab: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VAGRANT_EXE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cli = VagrantCLI(lab)
    with pytest.raises(ConfigError) as info:
        cli.check()
    assert str(info.value) == MISSING_VAGRANT
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("vagrant not found on PATH: install Vagrant")
    with pytest.raises(ConfigError):
        cli.status()  # first use raises the same


def test_non_zero_exit(lab: Path, standin: Path, tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path, mode="fail")
    with pytest.raises(CallFailed) as info:
        cli.up("virtualbox", timeout=30)
    message = str(info.value)
    assert "`vagrant up --provider=virtualbox` exited with 1" in message
    assert "isn't usable on this system" in message
    assert "noise line 39" in message and "noise line 0\n" not in message  # only the tail
    assert "Bringing machine" not in message  # stdout is not stderr


def test_non_zero_exit_with_log(lab: Path, standin: Path, tmp_path: Path) -> None:
    cli = make_cli(lab, standin, tmp_path, mode="fail")
    log = tmp_path / "up.log"
    with pytest.raises(CallFailed) as info:
        cli.up(None, timeout=30, log=log)
    assert "isn't usable on this system" in str(info.value)
    assert str(log) in str(info.value)


def test_machine_readable_unescaping() -> None:
    from cilab.vagrant_cli import parse_machine_readable
    text = ("1767225600,k8s-ctr,state-human-long,To stop this VM%!(VAGRANT_COMMA) run"
            " `vagrant halt` to\\nshut it down\n"
            "Vagrant is upgrading some internal state (not machine-readable)\n"
            "1767225600,,ui,info,Current machine states:\\n\\nk8s-ctr running\n")
    assert parse_machine_readable(text) == [
        ("k8s-ctr", "state-human-long",
         ["To stop this VM, run `vagrant halt` to\nshut it down"]),
        ("", "ui", ["info", "Current machine states:\n\nk8s-ctr running"]),
    ]


def test_version_order_is_numeric() -> None:
    from cilab.vagrant_cli import MIN_VAGRANT, version_tuple
    assert version_tuple("2.4.10") > version_tuple(MIN_VAGRANT) > version_tuple("2.4.8")
    assert version_tuple("2.3.4+dfsg") == (2, 3, 4) < version_tuple(MIN_VAGRANT)
    assert version_tuple("2.4.9.dev") == version_tuple("2.4.9")
    assert version_tuple("") == (0,) and version_tuple("garbage") == (0,)
