"""The pytest plugin: options, the session lab, stages, scenario hooks and reporting.

Loaded as an entry point (and by the top-level conftest.py).  Options (see `pytest --help`,
the group headed "cilium-lab-conformance: which lab answers the probes"):

  --lab vagrant|kubeconfig|replay   which lab answers the probes (default: vagrant)
  --transcript PATH                  replay source (default: the shipped reference lab)
  --replay-timing virtual|recorded   replay instantly (default) or at the recorded durations
  --replay-speed N                   with recorded timing: N times faster than recorded
  --record DIR                       write every probe result of a real lab as a transcript
  --kubeconfig / --context / --ssh-config   the existing-cluster lab
  --vagrant-dir / --provider / --destroy-lab / --provisioning-logs   the Vagrant lab
  --allow-helm-changes / --allow-monitoring-example   consent to change a lab the suite did
                                     not build (undone at the end of the run)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from cilab.errors import ConfigError, LabError, LabUnavailable, shell_word
from cilab.lab import Lab
from cilab.retry import Clock, ScaledClock, VirtualClock

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TRANSCRIPT = REPO_ROOT / "fixtures" / "transcripts" / "reference"
LABS = ("vagrant", "kubeconfig", "replay")


# --- options ---------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("cilium lab", "cilium-lab-conformance: which lab answers the probes")
    g.addoption("--lab", choices=LABS, default=os.environ.get("CILAB_LAB", "vagrant"),
                help="vagrant: build/reuse the three-VM lab of provisioning/ (default); "
                     "kubeconfig: an existing Cilium cluster; replay: answer from a transcript, "
                     "offline")
    g.addoption("--transcript", metavar="PATH", default=None,
                help="replay source: a transcript file or folder "
                     f"(default: {REFERENCE_TRANSCRIPT.relative_to(REPO_ROOT)}, the reference lab "
                     "reconstructed from the documented outputs)")
    g.addoption("--replay-timing", choices=("virtual", "recorded"), default="virtual",
                help="--lab replay: virtual (default) answers at once and runs retries on virtual "
                     "time; recorded makes every answer take its recorded duration and runs every "
                     "wait (retries, cluster lock, stage locks) on real time, divided by --replay-speed")
    g.addoption("--replay-speed", metavar="N", default=None,
                help="--replay-timing recorded: run the lab N times faster than recorded (default 1)")
    g.addoption("--record", metavar="DIR", default=None,
                help="record every probe result of a real lab into DIR/<worker>.yaml "
                     "(replayable with --lab replay --transcript DIR); DIR must not hold a recording yet")
    g.addoption("--kubeconfig", metavar="PATH", default=None,
                help="kubeconfig of an existing cluster (with --lab kubeconfig; default $KUBECONFIG "
                     "or ~/.kube/config)")
    g.addoption("--context", metavar="NAME", default=None, help="kubeconfig context (--lab kubeconfig)")
    g.addoption("--ssh-config", metavar="PATH", default=None,
                help="OpenSSH config with one Host per node name for node probes (--lab kubeconfig); "
                     "without it node probes use a privileged host-network debug pod")
    g.addoption("--allow-helm-changes", action="store_true", default=False,
                help="a lab the suite did not build (--lab kubeconfig, or --vagrant-dir on a folder of "
                     "your own): let the suite switch its Cilium release to the stages some scenarios "
                     "need (before Hubble, Hubble, redaction), layering provisioning/helm/*.yaml over the "
                     "values found; the release found is recorded and rolled back at the end of the run "
                     "(also after Ctrl-C).  Without it the lab is checked as found and the scenarios "
                     "needing another stage are skipped, each with the reason")
    g.addoption("--allow-monitoring-example", action="store_true", default=False,
                help="a lab the suite did not build, found without Cilium's monitoring example (namespace "
                     "cilium-monitoring): let the suite apply it for the metrics chapter (kubectl apply of the "
                     "write-up's URL on the control plane, then the NodePort patches) and delete it again at the "
                     "end of the run (also after Ctrl-C).  Without it the metrics scenarios are skipped, each "
                     "with the reason; an example found is checked as found either way")
    g.addoption("--vagrant-dir", metavar="DIR", default=None,
                help="--lab vagrant: the folder holding the lab's Vagrantfile (default: provisioning/, "
                     "which the suite builds and provisions).  A folder of your own, e.g. the one where "
                     "you ran the write-up's Vagrantfile: nothing is started, provisioned or destroyed "
                     "there, and its Cilium release and monitoring example are checked as found unless "
                     "--allow-helm-changes / --allow-monitoring-example")
    g.addoption("--provisioning-logs", metavar="DIR", default=None,
                help="--lab vagrant: where the Vagrant and node provisioning logs go "
                     "(default: reports/provisioning)")
    g.addoption("--provider", choices=("virtualbox", "libvirt"), default=None,
                help="Vagrant provider for --lab vagrant (default: Vagrant's own choice)")
    g.addoption("--destroy-lab", action="store_true", default=False,
                help="destroy the Vagrant lab at the end of the session (nightly CI)")
    g.addoption("--call-log", metavar="PATH", default=None,
                help="append one line per lab call (the command and its outcome, secrets scrubbed) "
                     "to PATH; each xdist worker writes PATH.<worker>")


# --- the project's rootdir, whatever form an option's value takes -------------------------

REEXEC_ENV = "CILAB_ROOTDIR_REEXEC"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Iterator[None]:
    """`--vagrant-dir ~/cilium-lab` (a plugin option's value as a word of its own) must mean
    what `--vagrant-dir=~/cilium-lab` means.  pytest chooses its rootdir and config file
    before any plugin's options are known, from every argument that names an existing path,
    so such a value moved the rootdir out of the project: no pyproject.toml, no testpaths,
    no feature folder (`FileNotFoundError: .../tests/scenarios/cluster.feature`).  Here,
    with the options known, pytest's own rule is applied again to the real file arguments;
    when it gives another rootdir, the command line is run again with each such value
    joined to its option (`--opt=VALUE`), before anything was collected, created or printed
    (this wrapper runs outside output capturing).  In-process runs get one line instead."""
    _keep_project_rootdir(early_config, parser)
    return (yield)


def _keep_project_rootdir(config: pytest.Config, parser: pytest.Parser) -> None:
    from _pytest.config.findpaths import determine_setup
    ns = config.known_args_namespace
    try:
        rootpath, inipath, _, _ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
            rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir)
    except pytest.UsageError:
        return  # pytest itself reports a bad --rootdir / -c
    argv = list(config.invocation_params.args)
    fixed = join_option_values(argv, parser)
    env_addopts = os.environ.get("PYTEST_ADDOPTS", "")
    fixed_env = shlex_join(join_option_values(shlex_split(env_addopts), parser)) if env_addopts else ""
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        _hand_workers_joined(config, fixed, env_addopts, fixed_env)
        return
    joined = [a for a in fixed if a not in argv] + ([fixed_env] if fixed_env != env_addopts else [])
    import sys
    cli = list(sys.argv[1:]) == argv and len(sys.orig_argv) >= len(sys.argv)
    if not joined or os.environ.get(REEXEC_ENV) or not cli:
        raise _usage(f"pytest took {config.rootpath} as its rootdir (not {rootpath}) because an "
                     "option's value is a path written as a word of its own: write it as "
                     "--option=VALUE" + (f" ({', '.join(joined)})" if joined else ""))
    # the interpreter and how it was asked to run pytest (a script, or -m pytest), then the args
    head = sys.orig_argv[:len(sys.orig_argv) - len(argv)]
    env = dict(os.environ, **{REEXEC_ENV: "1"})
    if env_addopts:
        env["PYTEST_ADDOPTS"] = fixed_env
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *head[1:], *fixed], env)


def _hand_workers_joined(config: pytest.Config, fixed: list[str], env_addopts: str, fixed_env: str) -> None:
    """The rootdir is the project's here, but pytest-xdist's workers choose theirs again from
    the same command line (`config.invocation_params.args`, and PYTEST_ADDOPTS they inherit),
    later: a value that names no path yet (`--alluredir /tmp/new`) may name one by then,
    made by this process, and move every worker's rootdir.  So the workers get each value
    joined to its option (`--alluredir=/tmp/new`), which means the same to every option."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import dataclasses
    if fixed != list(config.invocation_params.args):
        config.invocation_params = dataclasses.replace(config.invocation_params, args=tuple(fixed))
    if env_addopts and fixed_env != env_addopts:
        os.environ["PYTEST_ADDOPTS"] = fixed_env


#: options whose value is a path (`dest` names), ours and the report's `--alluredir`
PATH_OPTIONS = ("transcript", "record", "kubeconfig", "ssh_config", "vagrant_dir", "provisioning_logs",
                "call_log", "allure_report_dir")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`--record=~/runs/first`: a shell expands `~` only at the start of a word, so after `=`
    (bash, and zsh by default) the option gets a literal `~`, and a folder named `~` was
    made in the checkout (the recording, `--alluredir`'s results, `--call-log`).  Every path
    option means the same in both forms: a leading `~` is the home folder.  Runs in every
    process (xdist workers parse the command line again), before any plugin's configure.
    `scripts/suite` runs pytest from the project's folder and names the folder it was typed
    in (CILAB_CALLER_DIR): a relative path means what it meant there."""
    caller = os.environ.get("CILAB_CALLER_DIR")
    for dest in PATH_OPTIONS:
        value = getattr(config.option, dest, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(config.option, dest, os.path.expanduser(value))
        elif isinstance(value, str) and value and caller and not os.path.isabs(value):
            setattr(config.option, dest, os.path.join(caller, value))


def join_option_values(args: list[str], parser: pytest.Parser) -> list[str]:
    """`--opt VALUE` -> `--opt=VALUE` for every long option that takes one value; the words
    after `--` and everything else stay as they are."""
    actions = parser.optparser._option_string_actions
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            out += args[i:]
            break
        action = actions.get(word) if word.startswith("--") and "=" not in word else None
        if action is not None and action.nargs is None and i + 1 < len(args):
            out.append(f"{word}={args[i + 1]}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def shlex_split(text: str) -> list[str]:
    import shlex
    return shlex.split(text)


def shlex_join(words: list[str]) -> str:
    import shlex
    return shlex.join(words)


def _usage(msg: str) -> pytest.UsageError:
    return pytest.UsageError(msg)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _validate(config: pytest.Config) -> None:
    """Bad input answers with one line and a non-zero exit, before anything is created."""
    opt = config.option
    lab = opt.lab
    if opt.transcript and lab != "replay":
        raise _usage(f"--transcript only goes with --lab replay (got --lab {lab})")
    if opt.replay_timing != "virtual" and lab != "replay":
        raise _usage(f"--replay-timing only goes with --lab replay (got --lab {lab})")
    if opt.replay_speed is not None:
        if opt.replay_timing != "recorded":
            raise _usage("--replay-speed only goes with --replay-timing recorded")
        replay_speed(opt.replay_speed)
    if opt.record and lab == "replay":
        raise _usage("--record records a real lab; it cannot be combined with --lab replay")
    if (opt.kubeconfig or opt.context or opt.ssh_config) and lab != "kubeconfig":
        raise _usage("--kubeconfig/--context/--ssh-config only go with --lab kubeconfig "
                     f"(got --lab {lab})")
    if opt.allow_helm_changes and lab == "replay":
        raise _usage("--allow-helm-changes goes with a real lab the suite did not build (--lab kubeconfig, "
                     "or --lab vagrant --vagrant-dir on a folder of your own), not with --lab replay")
    if opt.allow_monitoring_example and lab == "replay":
        raise _usage("--allow-monitoring-example goes with a real lab the suite did not build (--lab kubeconfig, "
                     "or --lab vagrant --vagrant-dir on a folder of your own), not with --lab replay")
    if (opt.provider or opt.destroy_lab or opt.vagrant_dir or opt.provisioning_logs) and lab != "vagrant":
        raise _usage("--vagrant-dir/--provider/--destroy-lab/--provisioning-logs only go with --lab vagrant "
                     f"(got --lab {lab})")
    _check_started_from_the_project(config)
    if dry_run(config):
        return  # help, collection, markers, fixtures: the options are checked, no lab is looked at
    try:
        from cilab.versions import load_versions
        load_versions()
    except ConfigError as exc:
        raise _usage(str(exc)) from None
    if opt.record:
        _check_writable(Path(opt.record))
        _check_record_folder_fresh(Path(opt.record))
    if opt.call_log:
        _check_writable(Path(opt.call_log).parent, what="--call-log")
    if lab == "replay":
        from cilab.transcript import load_transcript
        try:
            loaded = load_transcript(opt.transcript or REFERENCE_TRANSCRIPT)
            if opt.replay_timing == "recorded":
                loaded.require_durations()
        except LabError as exc:
            raise _usage(str(exc)) from None
    elif lab == "vagrant":
        exe = os.environ.get("VAGRANT_EXE") or shutil.which("vagrant")
        if not exe:
            raise _usage("vagrant not found on PATH: install Vagrant to build the lab, or run "
                         "offline with --lab replay (or --lab kubeconfig for an existing cluster)")
        from cilab.backends.vagrant import (check_folder, check_foreign_running, check_machines,
                                            is_suite_lab)
        from cilab.vagrant_cli import VagrantCLI
        root = vagrant_dir(config)
        cli = VagrantCLI(root, executable=exe)
        try:
            check_folder(root)
            # The floor is the lab the suite builds (its Vagrantfile needs it); in a lab of the
            # student's own only `--version`, `status` and `ssh-config` run, with any Vagrant.
            if is_suite_lab(root):  # first: an old Vagrant fails later with a message naming no version
                try:
                    cli.check_version()
                except ConfigError as exc:  # what a student with that Vagrant can run at once
                    raise ConfigError(f"{exc}; or run offline with --lab replay") from None
        except ConfigError as exc:
            raise _usage(str(exc)) from None
        except LabError as exc:
            raise _usage(f"vagrant --version failed: {str(exc).strip().splitlines()[-1]}") from None
        if opt.destroy_lab and not is_suite_lab(root):
            raise _usage(f"--destroy-lab refused: {root} is a lab the suite did not provision (no "
                         "versions.env of the suite there); destroy it yourself with `vagrant destroy`")
        try:  # proves the binary runs, the Vagrantfile loads and a provider is usable
            states = cli.status(timeout=120)
        except LabError as exc:
            raise _usage(f"vagrant cannot drive the lab in {root}: "
                         f"{str(exc).strip().splitlines()[-1]}") from None
        try:
            check_machines(root, states, opt.provider)
            check_foreign_running(root, states)
        except ConfigError as exc:
            raise _usage(str(exc)) from None
        if opt.provisioning_logs:
            _check_writable(Path(opt.provisioning_logs), what="--provisioning-logs")
    elif lab == "kubeconfig":
        path = Path(opt.kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _usage(f"kubeconfig {path}: cannot read ({exc.strerror or exc})") from None
        if not text.strip():
            raise _usage(f"kubeconfig {path}: file is empty")
        opt.kubeconfig = str(path)
        _check_api(path, opt.context, config)
        if opt.ssh_config and not Path(opt.ssh_config).expanduser().is_file():
            raise _usage(f"--ssh-config {opt.ssh_config}: no such file")


def _check_started_from_the_project(config: pytest.Config) -> None:
    """`pytest --lab ...` typed in another folder (the lab's own, after `cd ~/cilium-lab &&
    vagrant status`) finds no pyproject.toml and so none of the suite's scenarios: it would
    end "no tests ran".  One line says where to run it instead.  The same in a folder of the
    project holding no scenarios (`cd provisioning && vagrant up`, then `pytest --lab vagrant`
    there).  `--lab` may also come from PYTEST_ADDOPTS (pytest reads it as part of the command line)."""
    words = [*config.invocation_params.args, *shlex_split(os.environ.get("PYTEST_ADDOPTS", ""))]
    if not any(w == "--lab" or w.startswith("--lab=") for w in words):
        return
    here = config.invocation_params.dir
    if [Path(a) for a in config.args] != [here]:
        return  # test files named on the command line (or the project's testpaths): run them
    scenarios = config.rootpath / "tests" / "scenarios"
    if scenarios.is_dir() and (here == scenarios or here in scenarios.parents or scenarios in here.parents):
        return  # a folder holding scenarios: they are collected from there
    raise _usage(f"pytest was started in {config.invocation_params.dir}, where none of the suite's scenarios are: "
                 f"run it from the suite's folder (`cd {shell_word(REPO_ROOT)}`), or name them "
                 f"(`pytest {shell_word(REPO_ROOT / 'tests' / 'scenarios')} ...`)")


DRY_RUN_OPTIONS = ("help", "version", "collectonly", "markers", "showfixtures",
                   "show_fixtures_per_test", "setuponly", "setupplan")


def dry_run(config: pytest.Config) -> bool:
    """`--help`, `--version`, `--collect-only`, `--markers`, `--fixtures`,
    `--fixtures-per-test`, `--setup-plan`/`--setup-only` (also with `-k`/`-m`): nothing
    of these reaches a lab, so none of them looks for one (no Vagrant, no kubeconfig)."""
    return any(getattr(config.option, name, False) for name in DRY_RUN_OPTIONS)


def vagrant_dir(config: pytest.Config) -> Path:
    from cilab.backends.vagrant import PROVISIONING_DIR
    return Path(config.option.vagrant_dir).expanduser().resolve() if config.option.vagrant_dir \
        else PROVISIONING_DIR


def provisioning_logs(config: pytest.Config) -> Path:
    return Path(config.option.provisioning_logs or Path(config.rootpath) / "reports" / "provisioning")


def replay_speed(text: str | None) -> float:
    """--replay-speed: a number > 0 (one line otherwise)."""
    if text is None:
        return 1.0
    try:
        speed = float(text)
    except ValueError:
        raise _usage(f"--replay-speed {text!r}: not a number (give a factor > 0, e.g. 50)") from None
    if not speed > 0 or speed == float("inf"):
        raise _usage(f"--replay-speed {text}: must be a finite number > 0 (e.g. 1 for real time, 50 for 50x)")
    return speed


def _check_writable(target: Path, what: str = "--record") -> None:
    """--record DIR (or a log's folder) must be creatable; checked without creating anything."""
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise _usage(f"{what} {target}: cannot write there ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _usage(f"{what} {target}: cannot write there ({probe} is not writable)")


def _check_record_folder_fresh(target: Path) -> None:
    """--record DIR writes `DIR/<worker>.yaml`, and a replay of DIR merges every .yaml there
    in name order: an earlier run's files (`main.yaml` of a run without -n, or `gw3.yaml` of
    one with more workers) would be replayed mixed into this run's, and win where they come
    later.  A folder already holding a transcript is refused before anything is created."""
    if not target.is_dir():
        return
    held = sorted(p.name for p in target.iterdir() if p.suffix in (".yaml", ".yml"))
    if held:
        raise _usage(f"--record {target}: it already holds a recording ({', '.join(held[:4])}"
                     f"{', ...' if len(held) > 4 else ''}), and a replay of the folder would mix both runs: "
                     "record into a new folder, or move those files away first")


def _check_api(kubeconfig: Path, context: str | None, api_config: pytest.Config) -> None:
    """An unusable or unreachable kubeconfig is bad input: one line, before any test."""
    import tempfile

    from kubernetes import client

    from cilab.backends.kube import KubeAPI
    # its API discovery is cached in a folder of its own, gone with the check
    with tempfile.TemporaryDirectory(prefix="cilab-api-check-") as scratch:
        try:
            api = KubeAPI(kubeconfig, context, request_timeout=(3.0, 5.0), cache_dir=scratch)
            api._wrap("a version check", lambda: client.VersionApi(api.api_client).get_code(
                _request_timeout=(3.0, 5.0)))
            nodes = api.k8s_list("v1", "Node")
            api.close()
        except LabError as exc:
            raise _usage(lab_unavailable_line(api_config, exc)) from None
        except Exception as exc:  # an answer that is not a Kubernetes version (not an API server?)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _usage(f"kubeconfig {kubeconfig}: its server's answer to GET /version is not a "
                         f"Kubernetes version ({first[:160]})") from None
    from cilab.roles import from_nodes
    try:  # the nodes by role (cilab.roles): a cluster without them is not the write-up's lab
        from_nodes(nodes, f"the cluster of {kubeconfig}")
    except ConfigError as exc:
        raise _usage(str(exc)) from None


def lab_unavailable_line(config: pytest.Config, exc: BaseException) -> str:
    """A lab the suite cannot reach, in one line of words with the next command to try
    (no traceback): a node's SSH not answering or refusing the login, the API server not
    answering.  Anything else: the error's first line."""
    from cilab.errors import APIUnreachable, SSHUnreachable
    opt = config.option
    if opt.lab == "vagrant":
        root = vagrant_dir(config)
        where = f"`cd {shell_word(root)} && vagrant status`"
    if isinstance(exc, SSHUnreachable):
        if opt.lab == "vagrant":
            if exc.auth:
                return (f"{exc.node} refused the SSH login of {exc.user} at {exc.address} ({exc.reason}); "
                        f"the key `vagrant ssh-config` names is not accepted: try `cd {shell_word(root)} && vagrant ssh {exc.node}`")
            return (f"{exc.node} does not answer on SSH at {exc.address} ({exc.reason}): the lab's machines "
                    f"are stopped or gone; try {where}")
        how = f"`ssh -F {shell_word(opt.ssh_config)} {exc.node}`" if opt.ssh_config else f"`ssh {exc.user}@{exc.node}`"
        if exc.auth:
            return f"{exc.node} refused the SSH login of {exc.user} at {exc.address} ({exc.reason}); try {how}"
        return f"{exc.node} does not answer on SSH at {exc.address} ({exc.reason}); try {how}"
    if isinstance(exc, APIUnreachable):
        if opt.lab == "vagrant":
            return (f"the API server {exc.server} does not answer ({exc.reason}): is k8s-ctr running, with "
                    f"its kube-apiserver up? try {where}, then `vagrant ssh k8s-ctr -c 'kubectl get nodes'` there")
        kubeconfig = opt.kubeconfig or "~/.kube/config"
        context = f" --context {shell_word(opt.context)}" if opt.context else ""
        return (f"the API server {exc.server} does not answer ({exc.reason}); "
                f"try `kubectl --kubeconfig {shell_word(kubeconfig)}{context} get nodes`")
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # first: bad input is refused before another plugin's configure makes anything (the allure
    # plugin makes the --alluredir folder there; without this, in an order that depends on how
    # pytest was started, e.g. `python -m pytest`)
    import signal
    # SIGTERM (CI cancelling a job) ends the run like Ctrl-C: pytest then still runs the
    # teardown of every fixture in use, so scenario namespaces and stages are cleaned up.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    config.addinivalue_line("markers", "cilab_cluster_change: the scenario changes the cluster for "
                                       "everyone and runs under the exclusive cluster lock")
    from cilab import report_plugin
    if not config.pluginmanager.is_registered(report_plugin):
        config.pluginmanager.register(report_plugin, "cilab.report")
    if not _is_worker(config):
        _validate(config)
        _write_allure_extras(config)
        config.pluginmanager.register(ReleaseRestore(config), "cilab-release-restore")


# --- a student's Cilium release back as found (cilab.consent) ------------------------------

class ReleaseRestore:
    """Leaves a lab the suite did not build as found, once per run: removes the monitoring
    example when this run applied it (--allow-monitoring-example, cilab.monitoring), then
    restores the Cilium release when a stage switch changed it (--allow-helm-changes).  Registered in the process that owns
    the session (the xdist controller, or the only process); it runs after every other
    `pytest_sessionfinish` (a hook wrapper), so after xdist has shut its workers down and
    after the session fixtures' teardown: also after Ctrl-C or SIGTERM, which end the
    session like an interrupted run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(hookwrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Iterator[None]:
        yield
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is None or self.config.option.lab == "replay":
            return
        shared = factory.getbasetemp()
        from cilab.consent import FOUND_FILE, restore_release
        from cilab.monitoring import APPLIED_FILE, remove_example
        if not (shared / FOUND_FILE).exists() and not (shared / APPLIED_FILE).exists():
            return
        import signal
        from cilab.progress import ProgressFile
        out = ProgressFile(shared)
        tr = self.config.pluginmanager.get_plugin("terminalreporter")

        def say(line: str) -> None:
            out(line)
            if tr is not None:
                tr.write_line("[cilab] " + line)
        # a second Ctrl-C (or SIGTERM) must not cut the restore short: it is bounded by helm's
        # own timeout, and a SIGKILL leaves the marker for the next run
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            the_lab = _restore_lab(self.config, shared)
            try:
                for undo, failed in ((remove_example, "removing the monitoring example this run applied failed: "
                                      "{}; the marker ConfigMap kube-system/cilab-remove-monitoring stays and the "
                                      "next run removes it first"),
                                     (restore_release, "restoring the Cilium release failed: {}; the marker "
                                      "ConfigMap kube-system/cilab-restore stays and the next run restores it first")):
                    try:
                        undo(the_lab, shared, say)
                    except (LabError, OSError, ValueError, AssertionError) as exc:
                        say(("stage: " if undo is restore_release else "monitoring: ")
                            + failed.format((str(exc).splitlines() or [repr(exc)])[0]))
                        session.exitstatus = pytest.ExitCode.TESTS_FAILED if exitstatus == 0 else exitstatus
            finally:
                the_lab.close()
        except (LabError, OSError, ValueError) as exc:
            say(f"stage: restoring the lab as found failed: {(str(exc).splitlines() or [repr(exc)])[0]}; the markers "
                "in kube-system (cilab-restore, cilab-remove-monitoring) stay and the next run acts on them first")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if exitstatus == 0 else exitstatus
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _restore_lab(config: pytest.Config, shared: Path) -> Lab:
    """A lab for the restore, on the backend the workers used (no recording, no report)."""
    opt = config.option
    if opt.lab == "vagrant":
        from cilab.backends import vagrant
        backend: Any = vagrant.VagrantBackend(shared / "lab.json")
        backend.allow_helm_changes = backend.suite_built or bool(opt.allow_helm_changes)
    else:
        from cilab.backends.kube import KubeconfigBackend
        backend = KubeconfigBackend(opt.kubeconfig, opt.context, opt.ssh_config,
                                    allow_helm_changes=opt.allow_helm_changes, cache_dir=shared)
    backend.allow_monitoring_example = bool(getattr(backend, "suite_built", True) or opt.allow_monitoring_example)
    return Lab(backend, clock=Clock())


# --- reporting extras --------------------------------------------------------------------

def _categories() -> list[dict[str, Any]]:
    """The report categories, one set of rules for both report generators: Allure 3 reads
    allurerc.json itself; Allure 2 reads categories.json from the results."""
    return json.loads((REPO_ROOT / "allurerc.json").read_text(encoding="utf-8"))["categories"]


def _write_allure_extras(config: pytest.Config) -> None:
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir:
        return
    out = Path(alluredir)
    out.mkdir(parents=True, exist_ok=True)
    from cilab.versions import load_versions
    props = {"lab": config.option.lab}
    if config.option.lab == "replay":
        props["transcript"] = str(config.option.transcript or REFERENCE_TRANSCRIPT.relative_to(REPO_ROOT))
    props.update(load_versions().as_properties())
    (out / "environment.properties").write_text(
        "".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
    (out / "categories.json").write_text(json.dumps(_categories(), indent=2), encoding="utf-8")


def _allure_attach(name: str, body: str) -> None:
    import allure
    allure.attach(body, name=name[:120], attachment_type=allure.attachment_type.TEXT)


# --- the session lab -------------------------------------------------------------------

def shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def _build_lab(config: pytest.Config, shared: Path) -> Lab:
    opt = config.option
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    recorder = None
    if opt.lab == "replay":
        from cilab.backends.replay import ReplayBackend
        from cilab.transcript import load_transcript
        transcript = load_transcript(opt.transcript or REFERENCE_TRANSCRIPT)
        info = {"transcript": transcript.name, "header": transcript.header,
                "run_id": str(transcript.header.get("run_id", "reference"))}
        if isinstance(transcript.header.get("roles"), dict):  # recorded on a lab with other names
            info["roles"] = transcript.header["roles"]
        if opt.replay_timing == "recorded":
            scaled = ScaledClock(replay_speed(opt.replay_speed))
            return Lab(ReplayBackend(transcript, clock=scaled), clock=scaled, wait_clock=scaled,
                       attach=_allure_attach, info=info)
        return Lab(ReplayBackend(transcript), clock=VirtualClock(), attach=_allure_attach, info=info)
    from cilab.versions import load_versions
    versions = load_versions()
    if opt.lab == "vagrant":
        from cilab.backends import vagrant
        from cilab.progress import ProgressFile
        log_dir = provisioning_logs(config)
        started = time.time()
        try:  # the node paths are read from the module when called (the loopback self-test moves them)
            info_path = vagrant.provision_once(
                shared, provider=opt.provider, ctr_ip=versions.ctr_ip, vagrant_root=vagrant_dir(config),
                log_dir=log_dir, progress=ProgressFile(shared), marker_dir=vagrant.MARKER_DIR,
                remote_kubeconfig=vagrant.ADMIN_KUBECONFIG, node_logs=vagrant.NODE_LOGS)
        except LabError:  # the logs this run wrote before it failed
            _attach_logs(sorted(p for p in log_dir.glob("*.log") if p.stat().st_mtime >= started - 1)
                         if log_dir.is_dir() else [])
            raise
        info = json.loads(info_path.read_text())
        if info.get("written_by_pid") == os.getpid():  # the worker that provisioned attaches its logs
            _attach_logs([Path(p) for p in info.get("logs", [])])
        backend: Any = vagrant.VagrantBackend(info_path)
        backend.allow_helm_changes = backend.suite_built or bool(opt.allow_helm_changes)
    else:
        from cilab.backends.kube import KubeconfigBackend
        backend = KubeconfigBackend(opt.kubeconfig, opt.context, opt.ssh_config,
                                    allow_helm_changes=opt.allow_helm_changes, cache_dir=shared)
    backend.allow_monitoring_example = bool(getattr(backend, "suite_built", True) or opt.allow_monitoring_example)
    roles = _node_roles(config, backend)
    run_id = _run_id(shared)
    if opt.record:
        from cilab.transcript import Recorder
        recorder = Recorder(Path(opt.record) / f"{worker}.yaml", name=f"recorded-{opt.lab}",
                            description=f"Recorded from a real {opt.lab} lab by cilium-lab-conformance",
                            lab={"kind": opt.lab, **versions.as_properties(),
                                 "suite_built": bool(getattr(backend, "suite_built", True)),
                                 "allow_helm_changes": bool(getattr(backend, "allow_helm_changes", True)),
                                 "allow_monitoring_example": bool(getattr(backend, "allow_monitoring_example",
                                                                          True))})
        recorder.header["run_id"] = run_id
        recorder.header["roles"] = roles.to_json()
    return Lab(backend, recorder=recorder, clock=Clock(), attach=_allure_attach,
               info={"run_id": run_id, "roles": roles})


def _node_roles(config: pytest.Config, backend: Any) -> Any:
    """The lab's nodes by role (cilab.roles), found once per worker: on a cluster the suite
    did not build (--lab kubeconfig) from its Node objects; the vagrant lab is the
    write-up's, with its names."""
    from cilab import roles
    if config.option.lab != "kubeconfig":
        return roles.WRITE_UP
    kubeconfig = config.option.kubeconfig or "~/.kube/config"
    return roles.from_nodes(backend.api.k8s_list("v1", "Node"), f"the cluster of {kubeconfig}")


def _attach_logs(paths: list[Path]) -> None:
    """Provisioning logs (Vagrant's output, each node's kubeadm logs) into the report, by
    the worker that ran the provisioning; they stay under reports/ for CI to upload."""
    from cilab.transcript import scrub
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        _allure_attach(f"provisioning log {path.name}", scrub(text[-400_000:]))


def _run_id(shared: Path) -> str:
    """One id per run, shared by every worker: it makes request markers unique per run."""
    import secrets
    from filelock import FileLock
    path = shared / "run-id"
    with FileLock(str(path) + ".lock", timeout=60):
        if not path.exists():
            path.write_text(secrets.token_hex(4))
        return path.read_text().strip()


@pytest.fixture(scope="session")
def lab_shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    return shared_dir(tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, lab_shared_dir: Path) -> Iterator[Lab]:
    """The lab, once per worker; a lab that cannot be reached stops the session once."""
    try:
        the_lab = _build_lab(request.config, lab_shared_dir)
    except LabError as exc:
        request.session.shouldstop = f"lab unavailable: {lab_unavailable_line(request.config, exc)}"
        raise
    request.config.stash[LAB_KEY] = the_lab
    from cilab.roles import of_lab
    if the_lab.kind != "replay" or of_lab(the_lab).renamed:
        _add_environment(request.config, lab_shared_dir, of_lab(the_lab).properties())
    log_file = None
    if request.config.option.call_log:
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        path = Path(request.config.option.call_log + (f".{worker}" if worker else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        log_file = path.open("a", encoding="utf-8")
        the_lab.call_log = log_file
    try:
        yield the_lab
    finally:
        if the_lab.recorder is not None:
            the_lab.recorder.save()
        the_lab.close()
        if log_file is not None:
            log_file.close()


LAB_KEY = pytest.StashKey[Lab]()


@pytest.fixture(scope="session")
def hubble_stage(request: pytest.FixtureRequest, lab: Lab, lab_shared_dir: Path) -> dict[str, Any]:
    """The lab with Hubble enabled (seed lines 1009-1025), applied once per run."""
    from cilab.progress import ProgressFile
    from cilab.stages import ensure_hubble
    from cilab.versions import load_versions
    try:
        record = ensure_hubble(lab, lab_shared_dir, load_versions().cilium_version,
                               progress=ProgressFile(lab_shared_dir))
    except LabError as exc:
        request.session.shouldstop = f"lab unavailable: {lab_unavailable_line(request.config, exc)}"
        raise
    _add_environment(request.config, lab_shared_dir, {
        "stage.found": record.get("found", "unknown"),
        "stage.checked_as_found": "no" if record.get("may_change", True) else
        "yes (a lab the suite did not build, no --allow-helm-changes)",
        "stage.found.evidence": "; ".join(record.get("found_evidence", [])),
        "stage.switches": ", ".join(record.get("switches", [])) or "none"})
    _node_clocks(request.config, lab, lab_shared_dir)
    return record


def _node_clocks(config: pytest.Config, lab: Lab, shared: Path) -> None:
    """Measure the nodes' clock offsets once per run (the first worker; the others read its
    file), write them into the report's environment, say in one line each node whose offset
    is not corrected, and match flows with them from now on (cilab.probes.clocks)."""
    from filelock import FileLock
    from cilab.probes import clocks, flows, k8s
    from cilab.progress import ProgressFile
    path = shared / "node-clocks.json"
    with FileLock(str(shared / "node-clocks.lock"), timeout=300):
        if path.exists():
            measured = clocks.Clocks.from_json(json.loads(path.read_text(encoding="utf-8")))
        else:
            try:
                names = sorted(k8s.nodes(lab))
            except LabError as exc:
                measured = clocks.Clocks(problem=f"the nodes could not be listed: {exc}")
            else:
                measured = clocks.measure(lab, names)
            path.write_text(json.dumps(measured.to_json()), encoding="utf-8")
            say = ProgressFile(shared)
            for line in measured.warnings():
                say(line)
            _add_environment(config, shared, measured.properties())
    flows.use_clocks(measured)


def _add_environment(config: pytest.Config, shared: Path, props: dict[str, str]) -> None:
    """Add entries to the report's environment.properties (any worker, once per key)."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir:
        return
    from filelock import FileLock
    path = Path(alluredir) / "environment.properties"
    with FileLock(str(shared / "environment.lock"), timeout=60):
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        have = {line.split("=", 1)[0] for line in lines if "=" in line}
        lines += [f"{k}={v}" for k, v in props.items() if k not in have]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def cluster_shared_lock(lab_shared_dir: Path, lab: Lab) -> Iterator[None]:
    """Held by every ordinary scenario: cluster-wide changes wait for it to be released."""
    from cilab.locks import cluster_lock
    with cluster_lock(lab_shared_dir, exclusive=False, clock=lab.wait_clock):
        yield


def scenario_namespace(name: str) -> str:
    """A stable, DNS-1123 namespace name derived from a scenario name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    import hashlib
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    return f"cilab-{slug[:44].rstrip('-')}-{digest}"


# --- scenario hooks ----------------------------------------------------------------------

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Scenarios that change the cluster for everyone (tag @cluster_change: redaction, two
    agent restarts under the exclusive cluster lock) run last: xdist hands tests out in
    this order, so the exclusive lock is asked for when the other workers are finishing
    their last scenarios, not in the middle of the run where every worker would idle
    behind it (docs/decisions.md, "Cluster-wide changes run last").  Runs after any
    reordering plugin (pytest-randomly), keeping its order otherwise."""
    changes = [item for item in items if item.get_closest_marker("cluster_change")]
    if changes:
        items[:] = [item for item in items if not item.get_closest_marker("cluster_change")] + changes


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    """Runs after allure-pytest-bdd has opened the scenario's result (hence trylast), and
    gives it the feature's and the scenario's descriptions as Markdown, so the report
    shows the commands a student types as code blocks, one per line (cilab.report_text)."""
    if request.config.pluginmanager.hasplugin("allure_pytest_bdd"):
        import allure

        from cilab.report_text import description_markdown
        allure.dynamic.description(description_markdown(feature.description, scenario.description))
    from cilab.probes.traffic import reset_counters
    reset_counters()
    the_lab = request.config.stash.get(LAB_KEY, None)
    if the_lab is not None:
        the_lab.begin_scenario(f"{feature.name}: {scenario.name}")


PROGRESS_KEY = pytest.StashKey[Any]()
PROGRESS_FD_KEY = pytest.StashKey["int | None"]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """The process that owns the terminal (the xdist controller, or the only process)
    prints the progress lines whichever process writes them (cilab.progress)."""
    config = session.config
    if _is_worker(config):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    factory = getattr(config, "_tmp_path_factory", None)
    if tr is None or factory is None:
        return
    from cilab.progress import PROGRESS_FILE, Tail
    import sys
    # The lines are written from a thread, also while a test runs; without xdist that test's
    # output capture (fd level) would swallow them.  So they go to a copy of the terminal's
    # file descriptor taken now, while capture is suspended, past any capture.
    try:
        out_fd: int | None = os.dup(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (pytest run in-process)
        out_fd = None
    seen_row: list[str | None] = [None]

    def write(line: str) -> None:
        if out_fd is None:
            tr.write_line(line)
            return
        row = getattr(tr._tw, "_current_line", "")
        # after a row of progress dots, start a line of our own (once per row)
        prefix = "\n" if getattr(tr._tw, "width_of_current_line", 0) and row != seen_row[0] else ""
        seen_row[0] = row
        os.write(out_fd, (prefix + line + "\n").encode("utf-8", "replace"))
    config.stash[PROGRESS_KEY] = Tail(factory.getbasetemp() / PROGRESS_FILE, write).start()
    config.stash[PROGRESS_FD_KEY] = out_fd


# --- failures as the student reads them ---------------------------------------------------

FAILED_STEP_KEY = pytest.StashKey[tuple[str, str]]()


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                          step_func: Any, step_func_args: Any, exception: BaseException) -> None:
    """Remember which Gherkin step failed, for the short failure report."""
    request.node.stash[FAILED_STEP_KEY] = (scenario.name, f"{step.keyword} {step.name}".strip())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A scenario whose step found the lab not as documented fails with three things: the
    scenario, the step, and the step's message (what was expected, what was seen), not
    with the frames of the retry helper, the probes and pytest-bdd.  `--tb=long` (or
    `--full-trace`) keeps pytest's full traceback; `--tb=line`/`no`/`native` are left
    alone too.  Errors that are not a failed expectation (a broken lab) keep theirs."""
    outcome = yield
    report = outcome.get_result()
    if (report.failed and call.excinfo is not None and call.excinfo.errisinstance(LabUnavailable)
            and item.config.getoption("tbstyle", "auto") in ("auto", "short")
            and not item.config.getoption("fulltrace", False)):
        # a lab that cannot be reached: one line in words and the command to try, not the
        # frames of pytest-bdd, the fixtures and the transport
        report.longrepr = f"lab unavailable: {lab_unavailable_line(item.config, call.excinfo.value)}"
        return
    failed = item.stash.get(FAILED_STEP_KEY, None)
    if (call.when != "call" or not report.failed or failed is None or call.excinfo is None
            or not call.excinfo.errisinstance(AssertionError)
            or item.config.getoption("tbstyle", "auto") not in ("auto", "short")
            or item.config.getoption("fulltrace", False)):
        return
    message = str(call.excinfo.value).split("\nassert ")[0].strip() or "assertion failed"
    title, step = failed
    from cilab.report_plugin import hand_commands
    by_hand = hand_commands(item)
    see = ("To see it yourself, run:\n" + "".join(f"  {c}\n" for c in by_hand)) if by_hand else ""
    from cilab.roles import of_lab
    roles = of_lab(item.config.stash.get(LAB_KEY, None))  # the write-up's node names, with this lab's
    report.longrepr = (f"Scenario: {title}\n"
                       f"Step failed: {roles.say(step)}\n"
                       f"{call.excinfo.typename}: {roles.say(message)}\n"
                       f"{see}"
                       f"(the full traceback: --tb=long)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    tail = config.stash.get(PROGRESS_KEY, None)
    if tail is not None:
        tail.stop()
        fd = config.stash.get(PROGRESS_FD_KEY, None)
        if fd is not None:
            os.close(fd)
            config.stash[PROGRESS_FD_KEY] = None
    if _is_worker(config) or config.option.lab != "vagrant" or not config.option.destroy_lab:
        return
    from cilab.backends.vagrant import destroy
    try:
        destroy(vagrant_dir(config))
    except LabError as exc:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr:
            tr.write_line(f"--destroy-lab failed: {exc}", red=True)


def pytest_report_header(config: pytest.Config) -> str:
    opt = config.option
    if opt.lab == "replay":
        return f"cilium lab: replay of {opt.transcript or REFERENCE_TRANSCRIPT.relative_to(REPO_ROOT)}"
    if opt.lab == "vagrant":
        return f"cilium lab: vagrant in {vagrant_dir(config)}" + (f" (recording to {opt.record})" if opt.record else "")
    return f"cilium lab: {opt.lab}" + (f" (recording to {opt.record})" if opt.record else "")
