"""Progress lines a person can follow: provisioning and stage switches.

Whoever does the work (the xdist worker that got the provisioning lock, or the only
process without xdist) appends one line per event to `progress.log` in the run's shared
folder (`ProgressFile`); the process that owns the terminal (the xdist controller, or the
only process) tails that file and prints each new line (`Tail`).  So the lines reach the
terminal whichever process does the work, with pytest's output capture in between.

`MachineProgress` turns the output of `vagrant up`/`vagrant provision` into a line per
machine and phase (box, boot, base packages, kubeadm, Cilium) with the elapsed time and
the log's path, and repeats every machine's line while a phase lasts, so a 20-minute
build is never silent.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

PROGRESS_FILE = "progress.log"
PREFIX = "[cilab] "
HEARTBEAT_SECONDS = 30.0


class ProgressFile:
    """Append-only progress lines (one `write` per line; O_APPEND keeps lines whole)."""

    def __init__(self, shared_dir: Path) -> None:
        self.path = Path(shared_dir) / PROGRESS_FILE

    def __call__(self, line: str) -> None:
        text = (PREFIX + line.replace("\n", " ")).rstrip() + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode("utf-8", "replace"))
        finally:
            os.close(fd)


class Tail:
    """Prints the lines appended to a progress file, from a background thread, until
    `stop()` (which prints whatever is left)."""

    def __init__(self, path: Path, write: Callable[[str], None], interval: float = 0.5) -> None:
        self.path = Path(path)
        self.write = write
        self.interval = interval
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="cilab-progress", daemon=True)

    def start(self) -> "Tail":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        with self._lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return
            self._offset += len(data)
            data = self._partial + data
            *lines, self._partial = data.split(b"\n")
            for raw in lines:
                try:
                    self.write(raw.decode("utf-8", "replace"))
                except Exception:  # a closed terminal must not kill the run
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.poll()


# --- machines being built ---------------------------------------------------------------

PHASES = ("box", "boot", "base packages", "kubeadm", "Cilium", "done")
#: (phase, pattern) tried in order on the text after "==> NAME: " / "    NAME: "
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("box", re.compile(r"Importing base box|Box '.*' could not be found|Adding box|Downloading:|"
                       r"Successfully added box|Cloning VM|Creating image \(snapshot of base box|"
                       r"Uploading base box image|Checking if box", re.I)),
    ("boot", re.compile(r"Booting VM|Starting domain|Creating domain|Waiting for machine to boot|"
                        r"Waiting for domain to get an IP|Machine booted and ready|Setting hostname|"
                        r"Configuring and enabling network", re.I)),
    ("base packages", re.compile(r"Running provisioner: init_cfg\.sh", re.I)),
    ("kubeadm", re.compile(r"Running provisioner: k8s-(ctr|w)\.sh|kubeadm (init|join)", re.I)),
    ("Cilium", re.compile(r"installing Cilium|Helm release cilium|cilium status|rollout status ds/cilium", re.I)),
    ("done", re.compile(r"control plane ready:|joined and Ready", re.I)),
]
_MACHINE_LINE = re.compile(r"^(?:==> )?\s*([A-Za-z0-9][A-Za-z0-9_.-]*): (.*)$")


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class MachineProgress:
    """Feed it the lines of `vagrant up`; it emits a line when a machine enters a phase,
    and `heartbeat()` repeats each machine's line when nothing was said for a while."""

    def __init__(self, machines: list[str], log_path: Path, emit: Callable[[str], None],
                 now: Callable[[], float] = time.monotonic, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.machines = list(machines)
        self.log_path = log_path
        self.emit = emit
        self.now = now
        self.every = heartbeat
        self.start = now()
        self.phase: dict[str, str] = {}
        self.last_said: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line_for(self, machine: str) -> str:
        phase = self.phase.get(machine, "waiting")
        return f"{machine}: {phase}, {_elapsed(self.now() - self.start)}, log {self.log_path}"

    def feed(self, line: str) -> None:
        m = _MACHINE_LINE.match(line)
        if not m or m.group(1) not in self.machines:
            return
        machine, text = m.group(1), m.group(2)
        for phase, pattern in _RULES:
            if pattern.search(text):
                with self._lock:
                    if PHASES.index(phase) > PHASES.index(self.phase.get(machine, "box")) \
                            or machine not in self.phase:
                        self.phase[machine] = phase
                        self.last_said[machine] = self.now()
                        self.emit(self.line_for(machine))
                return

    def heartbeat(self) -> None:
        with self._lock:
            for machine in self.machines:
                if self.phase.get(machine) == "done":
                    continue
                if self.now() - self.last_said.get(machine, self.start) >= self.every:
                    self.last_said[machine] = self.now()
                    self.emit(self.line_for(machine))

    def __enter__(self) -> "MachineProgress":
        def loop() -> None:
            while not self._stop.wait(min(self.every, 5.0)):
                self.heartbeat()
        self._thread = threading.Thread(target=loop, name="cilab-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = Path(path).read_bytes()[-65536:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
