"""The `Lab`: the one object probes talk to.

It sends each primitive call to the backend, keeps the lab state that the call runs in
(which cluster stages are applied, what each namespace holds), records the call when
recording, and attaches the command and its raw output to the running report step.

Lab state is scoped so that scenarios running side by side never see each other: a call
in namespace N is keyed by the cluster stages plus what was applied in N only.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cilab.backends.base import PRIMITIVES
from cilab.model import CommandResult, HttpResult
from cilab.retry import Attempts, Clock, eventually

log = logging.getLogger("cilab.lab")

Attach = Callable[[str, str], None]


@dataclass
class LabState:
    stages: set[str] = field(default_factory=set)
    #: namespace -> {object key: label}
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)

    def labels(self, scope: str | None) -> list[str]:
        labels = set(self.stages)
        if scope is not None:
            labels |= {f"{scope}:{label}" for label in self.namespaces.get(scope, {}).values()}
        return sorted(labels)


def _object_key(manifest: dict[str, Any]) -> tuple[str, str | None]:
    kind = manifest.get("kind", "?")
    meta = manifest.get("metadata") or {}
    return f"{kind}/{meta.get('name', '?')}", meta.get("namespace")


def describe_call(op: str, args: dict[str, Any]) -> str:
    """A one-line, human command for a call (used as the attachment name)."""
    if op == "node_shell":
        return f"[{args['node']}] $ {args['command']}"
    if op == "pod_exec":
        ctr = f" -c {args['container']}" if args.get("container") else ""
        return f"kubectl -n {args['namespace']} exec {args['pod']}{ctr} -- {' '.join(args['command'])}"
    if op == "k8s_get":
        ns = f" -n {args['namespace']}" if args.get("namespace") else ""
        return f"kubectl get{ns} {args['kind']} {args['name']} -o json"
    if op == "k8s_list":
        ns = f" -n {args['namespace']}" if args.get("namespace") else ""
        sel = f" -l {args['label_selector']}" if args.get("label_selector") else ""
        fs = f" --field-selector {args['field_selector']}" if args.get("field_selector") else ""
        return f"kubectl get{ns} {args['kind']}{sel}{fs} -o json"
    if op == "k8s_apply":
        kind, _ = _object_key(args["manifest"])
        ns = args.get("namespace")
        return f"kubectl apply --server-side{' -n ' + ns if ns else ''} ({kind})"
    if op == "k8s_delete":
        ns = f" -n {args['namespace']}" if args.get("namespace") else ""
        return f"kubectl delete{ns} {args['kind']} {args['name']}"
    if op == "http_get":
        return f"curl -s {args['url']}"
    if op == "node_clock":
        return f"[{args['node']}] $ date -u +%s.%N (the node's clock, bracketed by the runner's)"
    if op == "helm_upgrade":
        return (f"helm upgrade --install {args['release']} {args['chart']} --version {args['version']}"
                f" -n {args['namespace']} ({len(args['values'])} values file(s))")
    if op == "helm_read":
        from cilab.backends.base import helm_read_argv
        return "helm " + " ".join(helm_read_argv(args["release"], args["namespace"], args["what"],
                                                 args.get("revision")))
    if op == "helm_rollback":
        return f"helm rollback {args['release']} {args['revision']} -n {args['namespace']} --wait"
    return f"{op} {json.dumps(args)}"


def typed_name(op: str, args: dict[str, Any], typed: str | None) -> str:
    """The name a report gives a call: the student's command where the probe said what the
    student types (on a node: ``[k8s-ctr] $ <typed>``), else the command that ran."""
    if not typed:
        return describe_call(op, args)
    if op == "node_shell":
        return f"[{args['node']}] $ {typed}"
    return typed


def render_result(result: Any) -> str:
    """The raw output of a call as text for a report or log, secrets scrubbed."""
    from cilab.transcript import scrub
    return scrub(_render(result))


def _render(result: Any) -> str:
    if isinstance(result, CommandResult):
        text = result.stdout
        if result.stderr:
            text += ("\n" if text and not text.endswith("\n") else "") + "[stderr]\n" + result.stderr
        return text + f"\n[exit {result.rc}]"
    if isinstance(result, HttpResult):
        head = "\n".join(f"{k}: {v}" for k, v in result.headers.items())
        return f"HTTP {result.status}\n{head}\n\n{result.body}"
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    from cilab.transcript import scrub
    return json.dumps(scrub(result), indent=2, sort_keys=True, default=str)


def summarize(result: Any) -> str:
    """A few words about a result, for the call log."""
    if isinstance(result, CommandResult):
        return f"exit {result.rc}, {len(result.stdout)} bytes"
    if isinstance(result, HttpResult):
        return f"HTTP {result.status}, {len(result.body)} bytes"
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {str(result)[:200]}"
    if isinstance(result, list):
        return f"{len(result)} item(s)"
    if result is None:
        return "not found"
    return type(result).__name__


class Lab:
    """Facade over a backend: state, recording, report attachments, counters."""

    def __init__(self, backend: Any, *, recorder: Any = None, clock: Clock | None = None,
                 attach: Attach | None = None, info: dict[str, Any] | None = None,
                 call_log: Any = None, wait_clock: Clock | None = None) -> None:
        self.backend = backend
        self.kind: str = backend.kind
        self.recorder = recorder
        #: the clock of `eventually` (virtual on the replay lab, scaled at recorded timing)
        self.clock = clock or Clock()
        #: the clock of waits on other processes (cluster lock, stage locks): wall time, or
        #: wall time scaled like `clock` at recorded timing; never virtual (another worker
        #: only lets go in real time)
        self.wait_clock = wait_clock or Clock()
        self.attach = attach
        self.info = info or {}
        self.state = LabState()
        self.calls = 0
        #: a text file object: one line per primitive call (command and outcome), secrets scrubbed
        self.call_log = call_log
        #: the commands (as a student types them) of the running Gherkin step, in order;
        #: a failed step names them as what to run by hand
        self.step_commands: list[str] = []
        self._lock = threading.Lock()

    # -- the single dispatch point ----------------------------------------------------
    def call(self, op: str, scope: str | None = None, typed: str | None = None, **args: Any) -> Any:
        """One primitive call.  `typed` is the command a student types for what this call
        does (``cilium hubble port-forward &`` for the harness's setsid/pid-file wrapper):
        it names the report attachment and the call-log line, while the attachment body
        keeps the full command that really ran.  It is not part of the call (nor of the
        replay key)."""
        if op not in PRIMITIVES:
            raise ValueError(f"unknown primitive {op}")
        args = {k: v for k, v in args.items() if v is not None}
        # a timeout bounds the call but is not part of what was asked: keep it out of the key
        key_args = {k: v for k, v in args.items() if k != "timeout"}
        state = self.state.labels(scope)
        with self._lock:
            self.calls += 1
        replay = getattr(self.backend, "replay", None)
        started = time.monotonic()
        try:
            if replay is not None:
                result = replay(op, key_args, state)
            else:
                result = getattr(self.backend, op)(**args)
        except Exception as exc:
            from cilab.errors import LabUnavailable, CallFailed
            if self.recorder is not None and isinstance(exc, (LabUnavailable, CallFailed)):
                self.recorder.add(op, key_args, state, exc, started=started,
                                  duration=time.monotonic() - started)
            self._attach(op, args, exc, typed)
            raise
        if self.recorder is not None:
            self.recorder.add(op, key_args, state, result, started=started,
                              duration=time.monotonic() - started)
        self._attach(op, args, result, typed)
        return result

    def _attach(self, op: str, args: dict[str, Any], result: Any, typed: str | None = None) -> None:
        ran = describe_call(op, args)
        name = typed_name(op, args, typed)
        with self._lock:
            if not self.step_commands or self.step_commands[-1] != name:
                self.step_commands.append(name)
        if self.call_log is not None:
            from cilab.transcript import scrub
            line = scrub(f"{ran}  =>  {summarize(result)}")
            with self._lock:
                self.call_log.write(line.replace("\n", " ") + "\n")
                self.call_log.flush()
        if self.attach is None:
            return
        try:
            head = ran if name == ran else f"{name}\n\nwhat ran: {ran}"
            self.attach(name, head + "\n\n" + render_result(result))
        except Exception:  # reporting must never break a probe
            log.debug("attachment failed", exc_info=True)

    def begin_step(self) -> list[str]:
        """Start a new Gherkin step's list of commands (`step_commands`); returns the last one's."""
        with self._lock:
            done, self.step_commands = self.step_commands, []
        return done

    # -- scenario / stage bookkeeping ---------------------------------------------------
    def begin_scenario(self, name: str) -> None:
        reset = getattr(self.backend, "begin_scenario", None)
        if reset is not None:
            reset(name)
        if self.recorder is not None:
            self.recorder.begin_scenario(name)

    def set_stages(self, stages: set[str]) -> None:
        self.state.stages = set(stages)

    # -- conveniences (each is exactly one primitive call) ------------------------------
    def shell(self, node: str, command: str, timeout: float = 30.0, typed: str | None = None) -> CommandResult:
        return self.call("node_shell", typed=typed, node=node, command=command, timeout=timeout)

    def exec(self, namespace: str, pod: str, container: str | None, command: list[str],
             timeout: float = 30.0, scope: str | None = None, typed: str | None = None) -> CommandResult:
        return self.call("pod_exec", scope=scope or namespace, typed=typed, namespace=namespace, pod=pod,
                         container=container, command=list(command), timeout=timeout)

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        return self.call("k8s_get", scope=namespace, api_version=api_version, kind=kind,
                         name=name, namespace=namespace)

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[dict[str, Any]]:
        return self.call("k8s_list", scope=namespace, api_version=api_version, kind=kind,
                         namespace=namespace, label_selector=label_selector,
                         field_selector=field_selector)

    def apply(self, manifest: dict[str, Any], namespace: str | None = None,
              label: str | None = None) -> dict[str, Any]:
        key, own_ns = _object_key(manifest)
        ns = namespace or own_ns
        scope = manifest["metadata"]["name"] if manifest.get("kind") == "Namespace" else ns
        result = self.call("k8s_apply", scope=scope, manifest=manifest, namespace=ns)
        if scope is not None:
            self.state.namespaces.setdefault(scope, {})[key] = label or key
        return result

    def delete(self, api_version: str, kind: str, name: str,
               namespace: str | None = None) -> bool:
        scope = name if kind == "Namespace" else namespace
        result = self.call("k8s_delete", scope=scope, api_version=api_version, kind=kind,
                           name=name, namespace=namespace)
        if kind == "Namespace":
            self.state.namespaces.pop(name, None)
        elif scope is not None:
            self.state.namespaces.get(scope, {}).pop(f"{kind}/{name}", None)
        return result

    def node_clock(self, node: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.call("node_clock", node=node, timeout=timeout)

    def http_get(self, url: str, timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> HttpResult:
        return self.call("http_get", url=url, timeout=timeout, headers=headers)

    def helm_upgrade(self, *, release: str, chart: str, version: str, namespace: str,
                     values: list[str], stages: set[str], repo: str | None = None,
                     timeout: float = 600.0) -> CommandResult:
        result = self.call("helm_upgrade", release=release, chart=chart, version=version,
                           namespace=namespace, values=list(values), repo=repo, timeout=timeout)
        if result.ok:
            self.set_stages(stages)
        return result

    def helm_read(self, *, release: str, namespace: str, what: str,
                  revision: int | None = None) -> CommandResult:
        return self.call("helm_read", release=release, namespace=namespace, what=what, revision=revision)

    def helm_rollback(self, *, release: str, namespace: str, revision: int,
                      timeout: float = 600.0) -> CommandResult:
        return self.call("helm_rollback", release=release, namespace=namespace, revision=revision,
                         timeout=timeout)

    def when_ready(self, call: Callable[[], Any], *, what: str, budget: float | str = "default") -> Any:
        """One primitive call, made again while the service it reaches in the lab is not
        ready yet (`ServiceNotReady`: a refused NodePort, a restarting container), within
        `budget`; on timeout the last refusal is reported.  Anything else the call raises
        propagates at once, and a call that answered is never repeated (a request that must
        be denied is still sent once: a refused exec sent nothing)."""
        return self.eventually(call, what=what, budget=budget)

    def eventually(self, check: Callable[[], Any], *, what: str, budget: float | str = "default") -> Any:
        """`cilab.retry.eventually` on this lab's clock; retries are attached to the report."""
        attempts = Attempts()
        try:
            return eventually(check, what=what, budget=budget, clock=self.clock, attempts_out=attempts)
        finally:
            if attempts.count > 1 and self.attach is not None:
                lines = [f"attempt {i}: not yet: {obs}" for i, obs in enumerate(attempts.observations, 1)]
                self.attach(f"retries: {what} ({attempts.count} attempts)",
                            f"{what}\n{attempts.count} attempt(s) over {attempts.elapsed:.1f}s\n\n"
                            + "\n".join(lines))

    def close(self) -> None:
        self.backend.close()
