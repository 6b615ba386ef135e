"""The Vagrant backend: the seed's three VMs, built by `vagrant up` from provisioning/, or
a lab the student already built from the write-up's own Vagrantfile (`--vagrant-dir`).

Provisioning happens once per run across xdist workers (`provision_once`, under a file
lock in the run's shared folder).  In order:

1. Vagrant's version is checked (`MIN_VAGRANT`, one line naming the version found);
2. `vagrant status`: the folder must define a `k8s-ctr` machine, and `--provider` must
   match the provider of machines already created;
3. a folder the suite provisions (`provisioning/`, or a copy: it holds `versions.env` and
   `lib/cilab_lab.rb`) gets `vagrant up` when a machine is not running; a foreign folder
   (the write-up's Vagrantfile) is never changed: no `up`, `provision` or `destroy`, and
   a machine that is not running stops the run with one line saying how to start it;
4. on the suite's own lab, every node's completion markers (`/var/lib/cilab/<script>.done`,
   written by the provisioning scripts when, and only when, they finished) are read over
   SSH, and a node with a marker missing is provisioned again (`vagrant provision NODE`),
   so a run killed in the middle of `vagrant up` is resumed, not half-used;
5. the kubeconfig is read from /etc/kubernetes/admin.conf with `sudo` on the control plane
   (both labs have it; the write-up's has no /home/vagrant/.kube/config) and written 0600
   with its server pointed at the control plane's private IP; it is never printed or
   attached.

Every Vagrant run is logged to a file under the log folder (reports/provisioning by
default) and reported as progress lines per machine (cilab.progress).  The first worker
writes `lab.json` (SSH endpoints from `vagrant ssh-config`, no key material); the others
read it.  A failure is written to `lab.failed` so the other workers stop with the same
message instead of trying again.
"""
from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout

from cilab.backends.base import helm_read_argv, helm_rollback_argv
from cilab.backends.kube import APIPrimitives, KubeAPI
from cilab.errors import ConfigError, LabError, LabUnavailable, shell_word
from cilab.model import CommandResult
from cilab.progress import MachineProgress, log_tail
from cilab.ssh import SSHHost, SSHPool
from cilab.vagrant_cli import MIN_VAGRANT, MachineStatus, VagrantCLI

PROVISIONING_DIR = Path(__file__).resolve().parents[2] / "provisioning"
UP_TIMEOUT = 35 * 60.0
PROVISION_TIMEOUT = 25 * 60.0
CONTROL_PLANE = "k8s-ctr"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
#: helm on the control plane (the write-up and k8s-ctr.sh install it there); read when called
HELM = "helm"
#: where the values documents of a helm upgrade are written on the control plane (0700)
HELM_VALUES_DIR = "/tmp/cilab-helm"
MARKER_DIR = "/var/lib/cilab"
NODE_LOGS = "/var/log/cilab"
#: the provisioning scripts each node runs, in order; each writes MARKER_DIR/<script>.done
CONTROL_PLANE_SCRIPTS = ("init_cfg.sh", "k8s-ctr.sh")
WORKER_SCRIPTS = ("init_cfg.sh", "k8s-w.sh")

Progress = Callable[[str], None]


def _point_kubeconfig_at(text: str, server: str) -> str:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ConfigError("kubeconfig fetched from the control plane has no clusters")
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = server
    return yaml.safe_dump(doc, sort_keys=False)


def is_suite_lab(root: Path) -> bool:
    """True for a folder the suite provisions (provisioning/ or a copy of it); False for
    a folder of the student's own, such as the write-up's Vagrantfile."""
    root = Path(root)
    return (root / "versions.env").is_file() and (root / "lib" / "cilab_lab.rb").is_file()


def scripts_for(node: str) -> tuple[str, ...]:
    return CONTROL_PLANE_SCRIPTS if node == CONTROL_PLANE else WORKER_SCRIPTS


def check_folder(root: Path) -> None:
    """--vagrant-dir must hold a Vagrantfile (checked without running Vagrant)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--vagrant-dir {root}: no such folder")
    if not (root / "Vagrantfile").is_file():
        raise ConfigError(f"--vagrant-dir {root}: no Vagrantfile there (point it at the folder "
                          "where you ran `vagrant up`)")


def check_machines(root: Path, states: list[MachineStatus], provider: str | None) -> None:
    """The folder defines k8s-ctr, and `provider` matches the machines already created."""
    names = [s.name for s in states]
    if CONTROL_PLANE not in names:
        raise ConfigError(f"--vagrant-dir {root}: its Vagrantfile defines no {CONTROL_PLANE} machine "
                          f"(machines: {', '.join(names) or 'none'}); the lab needs k8s-ctr, k8s-w1, k8s-w2")
    if provider:
        created = [s for s in states if s.state != "not_created" and s.provider and s.provider != provider]
        if created:
            listed = ", ".join(f"{s.name} ({s.provider})" for s in created)
            raise ConfigError(f"--provider {provider} does not match the machines already created in "
                              f"{root}: {listed}; drop --provider or use --provider {created[0].provider}")


def check_foreign_running(root: Path, states: list[MachineStatus]) -> None:
    """A folder the suite did not provision must already run every machine."""
    stopped = [s for s in states if s.state != "running"]
    if stopped and not is_suite_lab(root):
        listed = ", ".join(f"{s.name} ({s.state})" for s in stopped)
        raise ConfigError(f"machines not running in {root}: {listed}; bring them up there with "
                          f"`cd {shell_word(root)} && vagrant up` (the suite starts nothing in a folder it did not provision)")


def read_markers(pool: SSHPool, node: str, marker_dir: str = MARKER_DIR) -> dict[str, dict[str, str] | None]:
    """script -> the KEY=VALUE lines of its completion marker, or None when it is missing.
    `{node}` in `marker_dir` is replaced by the node's name (for labs whose nodes share a
    file system, as the loopback tests' do)."""
    parts = []
    for script in scripts_for(node):
        f = shlex.quote(f"{marker_dir.format(node=node)}/{script}.done")
        parts.append(f"if [ -f {f} ]; then echo '== {script}'; cat {f}; else echo '-- {script}'; fi")
    result = pool.run(node, "; ".join(parts), 30)
    if not result.ok:
        raise LabUnavailable(f"reading the provisioning markers on {node} failed (exit {result.rc}): "
                             f"{result.stderr.strip()[:200]}")
    markers: dict[str, dict[str, str] | None] = {}
    current: dict[str, str] | None = None
    for line in result.stdout.splitlines():
        if line.startswith("== "):
            current = {}
            markers[line[3:].strip()] = current
        elif line.startswith("-- "):
            markers[line[3:].strip()] = None
            current = None
        elif current is not None and "=" in line:
            key, _, val = line.partition("=")
            current[key.strip()] = val.strip()
    return markers


def incomplete(markers: dict[str, dict[str, dict[str, str] | None]]) -> dict[str, list[str]]:
    """node -> the scripts whose marker is missing (nodes complete are left out)."""
    return {node: [s for s in scripts_for(node) if found.get(s) is None]
            for node, found in markers.items() if any(found.get(s) is None for s in scripts_for(node))}


def _node_logs(pool: SSHPool, nodes: list[str], log_dir: Path, source: str) -> list[Path]:
    """Copy each node's provisioning logs (kubeadm init/join/reset) next to the Vagrant log."""
    saved = []
    for node in nodes:
        try:
            result = pool.run(node, "sudo -n sh -c " + shlex.quote(
                f"for f in {source}/*.log; do [ -f \"$f\" ] && echo \"==> $f <==\" && tail -n 500 \"$f\"; done; true"), 30)
        except LabError:
            continue
        if result.stdout.strip():
            path = log_dir / f"{node}-cilab.log"
            path.write_text(result.stdout, encoding="utf-8")
            saved.append(path)
    return saved


def provision_once(shared_dir: Path, *, provider: str | None, ctr_ip: str,
                   vagrant_root: Path = PROVISIONING_DIR, lock_timeout: float = UP_TIMEOUT + 600,
                   cli: VagrantCLI | None = None, remote_kubeconfig: str = ADMIN_KUBECONFIG,
                   log_dir: Path | None = None, progress: Progress | None = None,
                   marker_dir: str = MARKER_DIR, node_logs: str = NODE_LOGS,
                   min_vagrant: str = MIN_VAGRANT) -> Path:
    """Make sure the lab runs and is provisioned; return the path of lab.json (written by
    the first worker)."""
    shared_dir = Path(shared_dir)
    info_path = shared_dir / "lab.json"
    failed_path = shared_dir / "lab.failed"
    try:
        with FileLock(str(shared_dir / "lab.json.lock"), timeout=lock_timeout):
            if info_path.exists():
                return info_path
            if failed_path.exists():  # the first worker's error, as it was raised there
                raise failed_error(failed_path.read_text(encoding="utf-8"))
            try:
                return _provision(shared_dir, info_path, provider=provider, ctr_ip=ctr_ip,
                                  root=Path(vagrant_root), cli=cli or VagrantCLI(vagrant_root),
                                  remote_kubeconfig=remote_kubeconfig,
                                  log_dir=Path(log_dir) if log_dir else shared_dir,
                                  say=progress or (lambda line: None), marker_dir=marker_dir,
                                  node_logs=node_logs, min_vagrant=min_vagrant)
            except LabError as exc:
                failed_path.write_text(json.dumps({"kind": type(exc).__name__, "message": str(exc),
                                                   "fields": _error_fields(exc)}), encoding="utf-8")
                raise
    except Timeout:
        raise LabUnavailable(f"waited {lock_timeout:g}s for another worker to bring the lab up") from None


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """The keyword fields of a structured LabUnavailable (SSHUnreachable, APIUnreachable)."""
    from cilab.errors import APIUnreachable, SSHUnreachable
    if isinstance(exc, (SSHUnreachable, APIUnreachable)):
        return {k: v for k, v in vars(exc).items() if not k.startswith("_")}
    return {}


def failed_error(text: str) -> LabUnavailable:
    """The error another worker wrote to lab.failed, rebuilt with its kind and fields, so
    every worker reports an unreachable lab in the same words."""
    from cilab import errors
    try:
        data = json.loads(text)
        kind = getattr(errors, data["kind"], None)
        if kind in (errors.SSHUnreachable, errors.APIUnreachable) and data.get("fields"):
            return kind(data["message"], **data["fields"])
        return LabUnavailable(data["message"])  # to the other workers the lab is unavailable
    except (ValueError, KeyError, TypeError):
        return LabUnavailable(text.strip())


def _provision(shared_dir: Path, info_path: Path, *, provider: str | None, ctr_ip: str, root: Path,
               cli: VagrantCLI, remote_kubeconfig: str, log_dir: Path, say: Progress,
               marker_dir: str, node_logs: str, min_vagrant: str) -> Path:
    own = is_suite_lab(root)
    # The version floor belongs to the lab the suite builds; a lab of the student's own only
    # gets `status` and `ssh-config`, which every Vagrant answers: its version is shown.
    found_version = cli.check_version(min_vagrant) if own else (cli.version() or "(unknown version)")
    say(f"Vagrant {found_version} in {root} ({'the suite provisions this lab' if own else 'a lab of your own: nothing is started or provisioned, its Cilium release is changed only with --allow-helm-changes; the ' + min_vagrant + ' floor is for the lab the suite builds'})")
    states = cli.status()
    check_machines(root, states, provider)
    stopped = [s for s in states if s.state != "running"]
    provisioned: list[str] = []
    logs: list[Path] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    check_foreign_running(root, states)
    if stopped:
        up_log = log_dir / "vagrant-up.log"
        up_log.unlink(missing_ok=True)  # this run's output only
        logs.append(up_log)
        say(f"vagrant up: {', '.join(s.name for s in stopped)} not running; log {up_log}")
        try:
            _vagrant(lambda on_line: cli.up(provider=provider, timeout=UP_TIMEOUT, log=up_log, on_line=on_line),
                     [s.name for s in states], up_log, say)
        except LabError:
            _node_logs_after_failure(cli, log_dir, node_logs, say)
            raise
        provisioned = [s.name for s in stopped]
    hosts = cli.ssh_config()
    if CONTROL_PLANE not in hosts:
        raise ConfigError(f"vagrant ssh-config in {root} has no {CONTROL_PLANE} machine")
    markers: dict[str, Any] = {}
    with SSHPool(hosts) as pool:
        if own:
            markers = {node: read_markers(pool, node, marker_dir) for node in sorted(hosts)}
            todo = incomplete(markers)
            for node in sorted(todo, key=lambda n: (n != CONTROL_PLANE, n)):
                node_log = log_dir / f"vagrant-provision-{node}.log"
                node_log.unlink(missing_ok=True)
                logs.append(node_log)
                say(f"{node}: provisioning incomplete (no marker for {', '.join(todo[node])}); "
                    f"vagrant provision {node}, log {node_log}")
                try:
                    _vagrant(lambda on_line, node=node, node_log=node_log: cli.provision(
                        node, timeout=PROVISION_TIMEOUT, log=node_log, on_line=on_line), [node], node_log, say)
                except LabError:
                    logs_saved = _node_logs(pool, [node], log_dir, node_logs)
                    if logs_saved:
                        say(f"{node}: its provisioning logs are in {', '.join(map(str, logs_saved))}")
                    raise
                provisioned.append(node)
            if todo:
                markers = {node: read_markers(pool, node, marker_dir) for node in sorted(hosts)}
                still = incomplete(markers)
                if still:
                    raise LabUnavailable("provisioning finished but markers are still missing: " + "; ".join(
                        f"{n}: {', '.join(s)}" for n, s in sorted(still.items())) + f" (logs in {log_dir})")
            say("every node provisioned (" + ", ".join(
                f"{n}: {', '.join(scripts_for(n))} done" for n in sorted(markers)) + ")")
        if provisioned:
            logs += _node_logs(pool, sorted(hosts), log_dir, node_logs)
        result = pool.run(CONTROL_PLANE, "sudo -n cat " + shlex.quote(remote_kubeconfig), 30)
        if not result.ok:
            raise LabUnavailable(f"cannot read {remote_kubeconfig} on {CONTROL_PLANE} with sudo "
                                 f"(exit {result.rc}): {result.stderr.strip()[:200]}")
    kubeconfig = shared_dir / "kubeconfig"
    fd = os.open(kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(_point_kubeconfig_at(result.stdout, f"https://{ctr_ip}:6443"))
    info = {"kind": "vagrant", "root": str(root), "own": own, "provider": provider,
            "vagrant": found_version, "kubeconfig": str(kubeconfig), "written_by_pid": os.getpid(),
            "provisioned": provisioned, "logs": [str(p) for p in logs], "markers": markers,
            "hosts": {name: asdict(h) for name, h in hosts.items()}}
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(info_path)
    return info_path


def _node_logs_after_failure(cli: VagrantCLI, log_dir: Path, source: str, say: Progress) -> None:
    """After a failed `vagrant up`: copy the logs of the nodes that can be reached (best
    effort, bounded; a node that never booted has none)."""
    try:
        hosts = cli.ssh_config(timeout=60)
    except LabError:
        return
    with SSHPool(hosts, connect_timeout=5) as pool:
        saved = _node_logs(pool, sorted(hosts), log_dir, source)
    if saved:
        say("node provisioning logs: " + ", ".join(map(str, saved)))


def _vagrant(run: Callable[[Callable[[str], None]], None], machines: list[str], log: Path,
             say: Progress) -> None:
    """Run one Vagrant command with a progress line per machine; on failure the log's
    tail and path go to the progress lines and the error."""
    started = time.monotonic()
    with MachineProgress(machines, log, say) as tracker:
        try:
            run(tracker.feed)
        except LabError as exc:
            tail = log_tail(log, 20)
            say(f"FAILED after {int(time.monotonic() - started)}s; last lines of {log}:")
            for line in tail.splitlines():
                say("  " + line)
            raise type(exc)(f"{str(exc).splitlines()[0]} (log: {log})") from None
    say(f"done in {int(time.monotonic() - started)}s; log {log}")


def destroy(vagrant_root: Path = PROVISIONING_DIR, timeout: float = 900.0) -> None:
    if not is_suite_lab(vagrant_root):
        raise ConfigError(f"--destroy-lab refused: {vagrant_root} is not a lab the suite provisioned")
    VagrantCLI(vagrant_root).destroy(timeout=timeout)


def _helm_found(result: CommandResult) -> CommandResult:
    """A helm that sudo cannot find (``sudo: helm: command not found``) is one line naming
    the write-up step that installs it (cilab.node_tools), not a failed helm call."""
    from cilab import node_tools
    if node_tools.not_found(HELM, result.rc, result.stderr):
        raise ConfigError(node_tools.missing_line(CONTROL_PLANE, HELM))
    return result


class VagrantBackend(APIPrimitives):
    kind = "vagrant"

    def __init__(self, info_path: Path) -> None:
        info = json.loads(Path(info_path).read_text())
        hosts = {name: SSHHost(**{**h, "identity_files": tuple(h["identity_files"])})
                 for name, h in info["hosts"].items()}
        self.ssh = SSHPool(hosts)
        self.api = KubeAPI(info["kubeconfig"], cache_dir=Path(info_path).parent)
        self._nodes = sorted(hosts)
        #: False for a folder the student built (the write-up's Vagrantfile): its Cilium release
        #: is changed only with --allow-helm-changes (cilab.stages)
        self.suite_built = bool(info.get("own", True))
        self.allow_helm_changes = self.suite_built

    def node_names(self) -> list[str]:
        return list(self._nodes)

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        return self.ssh.run(node, f"sudo -n sh -c {shlex.quote(command)}", timeout)

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        if not self.allow_helm_changes:
            raise ConfigError(f"this step would upgrade the Helm release {release!r} of a lab the suite did "
                              "not build: pass --allow-helm-changes to let it (the release is restored "
                              "at the end of the run)")
        remote_dir = shlex.quote(HELM_VALUES_DIR)
        # the values may be the student's own (cilab.consent): a folder only its owner reads
        self.ssh.run(CONTROL_PLANE, f"rm -rf {remote_dir} && mkdir -m 700 {remote_dir}", 30)
        files: list[str] = []
        for i, doc in enumerate(values):
            path = f"{HELM_VALUES_DIR}/values-{i}.yaml"
            self.ssh.write_file(CONTROL_PLANE, path, doc.encode("utf-8"))
            files.append(path)
        argv = [HELM, "upgrade", "--install", release, chart, "--version", version,
                "--namespace", namespace, "--kubeconfig", ADMIN_KUBECONFIG,
                "--wait", "--timeout", f"{int(timeout)}s"]
        if repo:
            argv += ["--repo", repo]
        for f in files:
            argv += ["-f", f]
        try:
            return _helm_found(self.ssh.run(CONTROL_PLANE, "sudo -n " + shlex.join(argv), timeout + 60))
        finally:
            self.ssh.run(CONTROL_PLANE, f"rm -rf {remote_dir}", 30)

    def _helm(self, args: list[str], timeout: float) -> CommandResult:
        """helm on the control plane (where the lab was installed with it), as root."""
        argv = [HELM, *args, "--kubeconfig", ADMIN_KUBECONFIG]
        return _helm_found(self.ssh.run(CONTROL_PLANE, "sudo -n " + shlex.join(argv), timeout))

    def helm_read(self, release: str, namespace: str, what: str,
                  revision: int | None = None) -> CommandResult:
        return self._helm(helm_read_argv(release, namespace, what, revision), 60)

    def helm_rollback(self, release: str, namespace: str, revision: int, timeout: float) -> CommandResult:
        return self._helm(helm_rollback_argv(release, namespace, revision, timeout), timeout + 60)

    def close(self) -> None:
        self.ssh.close()
        self.api.close()
