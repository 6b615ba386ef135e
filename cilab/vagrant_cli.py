"""A small adapter around the `vagrant` executable.

This replaces python-vagrant (the first choice), which is unmaintained since 2022 and
runs every command without a timeout, so a hung `vagrant status` would hang the whole
test run (docs/decisions.md, "Vagrant adapter instead of python-vagrant").  Here every
call:

* runs `vagrant` in the lab folder (the one holding the Vagrantfile) with `os.environ`
  plus the caller's `env`;
* has an explicit timeout; on expiry the whole process group (vagrant and whatever it
  started: VBoxManage, virsh, ssh) gets SIGTERM, then SIGKILL one second later, and
  `LabUnavailable` names the command and the timeout;
* raises `CallFailed` with the last lines of stderr on a non-zero exit;
* raises `ConfigError` with one clear line when there is no `vagrant` to run.

`status` parses `--machine-readable` output; `ssh_config` parses the OpenSSH-style text
with `paramiko.SSHConfig`.  Neither needs python-vagrant.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Mapping

import paramiko

from cilab.errors import CallFailed, ConfigError, LabUnavailable
from cilab.ssh import SSHHost

MISSING_VAGRANT = ("vagrant not found on PATH: install Vagrant or run with --lab replay "
                   "(offline) or --lab kubeconfig (existing cluster)")

#: The oldest Vagrant the lab runs with: VirtualBox 7.1 needs Vagrant >= 2.4.2 and 7.2
#: needs >= 2.4.9 (Vagrant's CHANGELOG).  provisioning/Vagrantfile requires the same
#: (tests/unit/test_provisioning.py checks they agree).
MIN_VAGRANT = "2.4.9"
VAGRANT_DOWNLOAD = "https://developer.hashicorp.com/vagrant/install"

#: provider-specific state ids mapped onto VirtualBox's names, as python-vagrant does
#: for libvirt (`paused` is left alone: VirtualBox has a `paused` state of its own)
STATE_ALIASES: dict[tuple[str, str], str] = {("libvirt", "shutoff"): "poweroff"}

_KILL_GRACE_SECONDS = 1.0
_STDERR_TAIL_LINES = 15
_HOST_LINE = re.compile(r"^\s*Host\s+(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class MachineStatus:
    name: str
    #: Vagrant's state id (`running`, `poweroff`, `not_created`, ...); libvirt's
    #: `shutoff` is reported as `poweroff`
    state: str
    provider: str


def parse_machine_readable(text: str) -> list[tuple[str, str, list[str]]]:
    """`<ts>,<target>,<type>,<data…>` lines as (target, type, data fields), unescaped."""
    rows = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < 3 or not parts[0].strip().isdigit():
            continue  # not a machine-readable line (a warning printed by a plugin, say)
        data = [field.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n")
                .replace("\\r", "\r") for field in parts[3:]]
        rows.append((parts[1], parts[2], data))
    return rows


def parse_status(text: str) -> list[MachineStatus]:
    """Machines in the order `vagrant status --machine-readable` lists them."""
    states: dict[str, str] = {}
    providers: dict[str, str] = {}
    for target, kind, data in parse_machine_readable(text):
        if not target or not data:
            continue  # `ui` lines have an empty target; `metadata` lines are ignored
        if kind == "state":
            states[target] = data[0]
        elif kind == "provider-name":
            providers[target] = data[0]
    result = []
    for name, state in states.items():
        provider = providers.get(name, "")
        result.append(MachineStatus(name, STATE_ALIASES.get((provider, state), state),
                                    provider))
    return result


def parse_ssh_config(text: str) -> dict[str, SSHHost]:
    """One `SSHHost` per `Host` block of `vagrant ssh-config` output."""
    config = paramiko.SSHConfig.from_text(text)
    hosts: dict[str, SSHHost] = {}
    for match in _HOST_LINE.finditer(text):
        name = match.group(1)
        entry = config.lookup(name)
        strict = str(entry.get("stricthostkeychecking", "ask")).lower() not in ("no", "off")
        hosts[name] = SSHHost(
            name=name,
            hostname=entry.get("hostname", name),
            port=int(entry.get("port", 22)),
            user=entry.get("user", ""),
            identity_files=tuple(entry.get("identityfile", ())),
            strict_host_key_checking=strict,
        )
    return hosts


class VagrantCLI:
    """Runs `vagrant <subcommand>` in `root` with a timeout on every call."""

    def __init__(self, root: Path, executable: str | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        self.env = dict(env or {})
        self._executable = executable
        self._resolved: str | None = None

    def check(self) -> str:
        """The path of the `vagrant` to run; `ConfigError` when there is none."""
        if self._resolved is None:
            env = self._environ()
            wanted = self._executable or env.get("VAGRANT_EXE") or "vagrant"
            found = shutil.which(wanted, path=env.get("PATH"))
            if found is None:
                if wanted == "vagrant":
                    raise ConfigError(MISSING_VAGRANT)
                raise ConfigError(MISSING_VAGRANT.replace("on PATH", f"at {wanted}", 1))
            self._resolved = found
        return self._resolved

    # -- subcommands ------------------------------------------------------------------

    def version(self, timeout: float = 20) -> str:
        """The installed version, e.g. `2.4.9` (from `vagrant --version`; no network)."""
        out = self._run(["--version"], timeout)
        return out.strip().splitlines()[-1].removeprefix("Vagrant").strip() if out.strip() else ""

    def check_version(self, minimum: str = MIN_VAGRANT, timeout: float = 20) -> str:
        """The installed version; `ConfigError` with one line when it is older than `minimum`
        (checked before anything else: an old Vagrant fails later with a message about the
        Vagrantfile's requirement that names neither version)."""
        found = self.version(timeout)
        if version_tuple(found) < version_tuple(minimum):
            raise ConfigError(f"Vagrant {found or '(unknown version)'} found at {self.check()}; the lab needs "
                              f"Vagrant {minimum} or newer (VirtualBox 7.2 needs it): get it from "
                              f"{VAGRANT_DOWNLOAD}")
        return found

    def validate(self, timeout: float = 120) -> str:
        return self._run(["validate"], timeout)

    def status(self, timeout: float = 60) -> list[MachineStatus]:
        return parse_status(self._run(["status", "--machine-readable"], timeout))

    def ssh_config(self, timeout: float = 60) -> dict[str, SSHHost]:
        return parse_ssh_config(self._run(["ssh-config"], timeout))

    def up(self, provider: str | None, timeout: float, log: Path | None = None,
           machines: list[str] | None = None, provision: bool = False,
           on_line: Callable[[str], None] | None = None) -> None:
        """`vagrant up [--provision] [MACHINE...]`; with `log`, stdout and stderr are appended
        to it as they come, and each line is handed to `on_line`."""
        args = ["up"] + ([f"--provider={provider}"] if provider else []) \
            + (["--provision"] if provision else []) + list(machines or [])
        self._run(args, timeout, log, on_line)

    def provision(self, machine: str, timeout: float, log: Path | None = None,
                  on_line: Callable[[str], None] | None = None) -> None:
        """`vagrant provision MACHINE`: run its provisioners again on the running machine."""
        self._run(["provision", machine], timeout, log, on_line)

    def destroy(self, timeout: float) -> None:
        self._run(["destroy", "--force"], timeout)

    # -- plumbing ---------------------------------------------------------------------

    def _environ(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        # No HashiCorp version check from CI runners; the caller can still override it.
        env.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")
        return env

    def _run(self, args: list[str], timeout: float, log: Path | None = None,
             on_line: Callable[[str], None] | None = None) -> str:
        command = [self.check(), *args]
        shown = "vagrant " + " ".join(args)
        if not self.root.is_dir():
            raise ConfigError(f"Vagrant folder {self.root} does not exist")
        log_file: IO[bytes] | None = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log, "ab")
            log_file.write(f"$ {shown}\n".encode())
            log_file.flush()
        streamed = log_file is not None and on_line is not None
        try:
            try:
                proc = subprocess.Popen(
                    command, cwd=self.root, env=self._environ(), stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE if streamed or log_file is None else log_file,
                    stderr=subprocess.STDOUT if log_file else subprocess.PIPE,
                    start_new_session=True)  # its own process group, so we can kill it all
            except OSError as exc:
                raise ConfigError(f"cannot run {command[0]}: {exc.strerror or exc}") from exc
            pump = None
            if streamed:
                assert log_file is not None and on_line is not None and proc.stdout is not None
                pump = threading.Thread(target=_pump, args=(proc.stdout, log_file, on_line),
                                        name="vagrant-output", daemon=True)
                pump.start()
            try:
                if pump is not None:
                    proc.wait(timeout=timeout)
                    pump.join(timeout=5)
                    out, err = b"", b""
                else:
                    out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise LabUnavailable(f"`{shown}` did not finish within {timeout:g}s "
                                     f"(in {self.root}); its processes were killed") from None
        finally:
            if log_file is not None:
                log_file.close()
        if proc.returncode != 0:
            text = (err or out or b"").decode("utf-8", "replace") if log is None \
                else log.read_bytes()[-65536:].decode("utf-8", "replace")
            tail = "\n".join(text.rstrip().splitlines()[-_STDERR_TAIL_LINES:])
            where = f" (full output in {log})" if log else ""
            raise CallFailed(f"`{shown}` exited with {proc.returncode}{where}:\n{tail}")
        return (out or b"").decode("utf-8", "replace")


def version_tuple(text: str) -> tuple[int, ...]:
    """`2.4.9` -> (2, 4, 9); a suffix such as `.dev` or `+dfsg` is ignored, junk is (0,)."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def _pump(stream: IO[bytes], log_file: IO[bytes], on_line: Callable[[str], None]) -> None:
    """Copy a child's output to its log line by line, handing each line to `on_line`."""
    try:
        for raw in iter(stream.readline, b""):
            log_file.write(raw)
            log_file.flush()
            try:
                on_line(raw.decode("utf-8", "replace").rstrip("\n"))
            except Exception:  # progress display must never break provisioning
                pass
    except (OSError, ValueError):
        pass  # the process was killed on timeout and its pipe or our log closed under us


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after a short grace, reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.communicate(timeout=_KILL_GRACE_SECONDS)
            if sig == signal.SIGTERM:
                # the leader is gone; make sure nothing it started lingers
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
    # A grandchild that left the group may still hold our pipes; stop waiting for them.
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    try:
        proc.wait(timeout=_KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass  # unkillable (uninterruptible sleep); nothing more we can do
