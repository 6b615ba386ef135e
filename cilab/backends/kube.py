"""Kubernetes API access (kubernetes client 37, DynamicClient) and the kubeconfig backend.

`KubeAPI` implements the API primitives (get/list/apply/delete, pod exec) for any real
backend.  `KubeconfigBackend` runs the suite against an existing Cilium cluster: API from
`--kubeconfig`/`--context`, node shells over SSH when `--ssh-config` is given, otherwise
through a privileged host-network debug pod per node (`NodeDebugPods`).
"""
from __future__ import annotations

import hashlib
import logging
import re
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cilab.backends.base import helm_read_argv, helm_rollback_argv
from cilab.errors import APIUnreachable, CallFailed, ConfigError, LabUnavailable, ServiceNotReady
from cilab.model import CommandResult, HttpResult
from cilab.retry import eventually

log = logging.getLogger("cilab.kube")

FIELD_MANAGER = "cilium-lab-conformance"


def _short_reason(exc: BaseException) -> str:
    """'[Errno 111] Connection refused' rather than urllib3's nested retry story."""
    reason = getattr(exc, "reason", None) or exc
    text = " ".join(str(reason).split())
    timed_out = re.search(r"Read timed out\.? \(read timeout=([^)]*)\)", text)
    if timed_out:
        return f"read timed out (read timeout={timed_out.group(1)}s)"
    for marker in ("Failed to establish a new connection: ", "Caused by ", "Read timed out"):
        if marker in text:
            text = (marker.strip() + " " if marker.startswith("Read") else "") + text.split(marker)[-1]
            break
    return text.rstrip(")'\"")[:160] or type(exc).__name__


def api_failure_words(exc: BaseException) -> str:
    """Why the API server did not answer, in words: `connection refused`, `timed out`, ...."""
    text = _short_reason(exc)
    m = re.search(r"\[Errno -?\d+\] (.*)", text)
    if m:
        return m.group(1).strip().lower()
    if "timed out" in text.lower():
        return "timed out"
    return text


#: what the API server says when the thing asked for is not there *yet*: a container that
#: is (re)starting, a pod still being scheduled or created, a fresh namespace whose
#: `default` ServiceAccount the controller has not made yet (403 on pod creation)
_NOT_YET = re.compile(r"container not found|is waiting to start|ContainerCreating|PodInitializing"
                      r"|container .* is not valid for pod|does not have a host assigned"
                      r"|error looking up service account|unable to upgrade connection: container",
                      re.IGNORECASE)


def not_ready_reason(text: str) -> bool:
    """True when an API answer means "not there yet" rather than "refused" or "broken"."""
    return bool(_NOT_YET.search(text or ""))


def _transport_error(exc: BaseException) -> bool:
    import urllib3
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


class KubeAPI:
    """The API-server half of a real backend."""

    def __init__(self, kubeconfig: str | Path, context: str | None = None,
                 request_timeout: tuple[float, float] = (5.0, 30.0),
                 cache_dir: str | Path | None = None) -> None:
        from kubernetes import config as kconfig
        path = Path(kubeconfig).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"kubeconfig {path}: cannot read ({exc.strerror or exc})") from None
        if not text.strip():
            raise ConfigError(f"kubeconfig {path}: file is empty")
        try:
            self.api_client = kconfig.new_client_from_config(config_file=str(path), context=context)
        except Exception as exc:  # ConfigException, YAML errors, missing keys
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"kubeconfig {path}: not usable ({first})") from None
        self.server = self.api_client.configuration.host
        self.timeout = request_timeout
        self._bound_every_request()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        server_id = hashlib.sha1(self.server.encode()).hexdigest()[:10]
        cache = Path(cache_dir or tempfile.gettempdir()) / f"cilab-discovery-{server_id}-{worker}.json"
        self._cache_file = str(cache)
        self._dyn: Any = None

    def _bound_every_request(self) -> None:
        """Every request gets a timeout, and a read timeout is not retried.

        DynamicClient's discovery requests pass no timeout (urllib3 reads its explicit None as
        "wait forever"), and urllib3's default retries would resend a GET whose read timed out
        three more times; both would turn a hung API server into a hung run.
        """
        import urllib3
        rest = self.api_client.rest_client
        send = rest.request
        timeout = self.timeout

        def request(method: str, url: str, headers: Any = None, body: Any = None,
                    post_params: Any = None, _request_timeout: Any = None) -> Any:
            return send(method, url, headers=headers, body=body, post_params=post_params,
                        _request_timeout=_request_timeout or timeout)
        rest.request = request

        class _NoReadTimeoutRetry(urllib3.Retry):
            def increment(self, method: Any = None, url: Any = None, response: Any = None,
                          error: Any = None, _pool: Any = None, _stacktrace: Any = None) -> Any:
                if isinstance(error, urllib3.exceptions.ReadTimeoutError):
                    raise urllib3.exceptions.MaxRetryError(_pool, url, error) from error
                return super().increment(method, url, response, error, _pool, _stacktrace)

        pool = rest.pool_manager
        pool.connection_pool_kw["retries"] = _NoReadTimeoutRetry(total=3, redirect=3)
        pool.clear()

    # -- plumbing -----------------------------------------------------------------------
    def _wrap(self, what: str, fn: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        try:
            return fn()
        except ApiException as exc:
            said = f"{exc.reason} {exc.body}"
            if not_ready_reason(said):
                raise ServiceNotReady(f"{what}: HTTP {exc.status} {exc.reason}: {str(exc.body)[:300]}") from None
            if exc.status in (401, 403):
                raise ConfigError(f"API server {self.server} refused {what}: HTTP {exc.status} "
                                  f"{exc.reason} (check the kubeconfig credentials)") from None
            raise CallFailed(f"{what}: HTTP {exc.status} {exc.reason}: {str(exc.body)[:300]}") from None
        except Exception as exc:
            if _transport_error(exc):
                raise APIUnreachable(f"API server {self.server} unreachable during {what}: "
                                     f"{_short_reason(exc)}", server=str(self.server),
                                     reason=api_failure_words(exc)) from None
            raise

    def dynamic(self) -> Any:
        if self._dyn is None:
            from kubernetes.dynamic import DynamicClient
            self._dyn = self._wrap("API discovery",
                                   lambda: DynamicClient(self.api_client, cache_file=self._cache_file))
        return self._dyn

    def resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError
        try:
            return self._wrap(f"discovery of {api_version} {kind}",
                              lambda: self.dynamic().resources.get(api_version=api_version, kind=kind))
        except ResourceNotFoundError:
            raise CallFailed(f"the API server has no resource {api_version} {kind} "
                             "(CRD not installed yet?)") from None

    @staticmethod
    def _plain(obj: Any) -> Any:
        return obj.to_dict() if hasattr(obj, "to_dict") else obj

    # -- primitives ---------------------------------------------------------------------
    def k8s_get(self, api_version: str, kind: str, name: str,
                namespace: str | None = None) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError
        res = self.resource(api_version, kind)
        try:
            obj = self._wrap(f"get {kind} {name}",
                             lambda: res.get(name=name, namespace=namespace, _request_timeout=self.timeout))
        except (NotFoundError, CallFailed) as exc:
            if isinstance(exc, NotFoundError) or "HTTP 404" in str(exc):
                return None
            raise
        return self._plain(obj)

    def k8s_list(self, api_version: str, kind: str, namespace: str | None = None,
                 label_selector: str | None = None,
                 field_selector: str | None = None) -> list[dict[str, Any]]:
        res = self.resource(api_version, kind)
        obj = self._wrap(f"list {kind}", lambda: res.get(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector,
            _request_timeout=self.timeout))
        return list(self._plain(obj).get("items") or [])

    def k8s_apply(self, manifest: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        res = self.resource(manifest["apiVersion"], manifest["kind"])
        ns = namespace if res.namespaced else None
        obj = self._wrap(f"apply {manifest['kind']} {manifest['metadata']['name']}",
                         lambda: res.server_side_apply(body=manifest, namespace=ns,
                                                       field_manager=FIELD_MANAGER,
                                                       force_conflicts=True,
                                                       _request_timeout=self.timeout))
        return self._plain(obj)

    def k8s_delete(self, api_version: str, kind: str, name: str,
                   namespace: str | None = None) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError
        res = self.resource(api_version, kind)
        try:
            self._wrap(f"delete {kind} {name}", lambda: res.delete(
                name=name, namespace=namespace, propagation_policy="Foreground",
                _request_timeout=self.timeout))
        except NotFoundError:
            return False
        except CallFailed as exc:
            if "HTTP 404" in str(exc):
                return False
            raise
        return True

    def pod_exec(self, namespace: str, pod: str, container: str | None,
                 command: list[str], timeout: float) -> CommandResult:
        from kubernetes import client
        from kubernetes.stream import stream
        core = client.CoreV1Api(self.api_client)

        def run() -> CommandResult:
            kwargs: dict[str, Any] = dict(command=command, stdout=True, stderr=True, stdin=False,
                                          tty=False, _preload_content=False,
                                          _request_timeout=self.timeout)
            if container:
                kwargs["container"] = container
            ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
            out: list[str] = []
            err: list[str] = []
            deadline = time.monotonic() + timeout
            try:
                while ws.is_open():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise LabUnavailable(f"exec in {namespace}/{pod} timed out after {timeout:g}s: "
                                             f"{shlex.join(command)}")
                    ws.update(timeout=min(left, 1.0))
                    if ws.peek_stdout():
                        out.append(ws.read_stdout())
                    if ws.peek_stderr():
                        err.append(ws.read_stderr())
                rc = _exec_returncode(ws)
            finally:
                ws.close()
            return CommandResult(stdout="".join(out), stderr="".join(err), rc=rc)
        return self._wrap(f"exec in {namespace}/{pod}", run)

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:
            log.debug("closing API client failed", exc_info=True)


def _exec_returncode(ws: Any) -> int:
    """Exit code from the exec status channel, robust to its known failure modes."""
    import yaml
    try:
        rc = ws.returncode
        if rc is not None:
            return int(rc)
    except (ValueError, TypeError):
        pass
    raw = ws.read_channel(3) if hasattr(ws, "read_channel") else ""
    try:
        status = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        status = None
    if isinstance(status, dict):
        if status.get("status") == "Success":
            return 0
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", 1))
        message = str(status.get("message", raw))
        if not_ready_reason(message):
            raise ServiceNotReady(f"exec failed: {message}")
        raise CallFailed(f"exec failed: {message}")
    return 1


def http_get(url: str, timeout: float, headers: dict[str, str] | None = None) -> HttpResult:
    """HTTP GET from the runner with a hard timeout.

    A refused, reset or timed-out connection is `ServiceNotReady`: the service behind the
    URL (a NodePort, a metrics port, the Hubble UI) does not listen *yet*; the API server
    and SSH, not this, tell a dead lab."""
    req = urllib.request.Request(url, headers=headers or {}, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - lab URLs only
            body = resp.read().decode("utf-8", errors="replace")
            return HttpResult(status=resp.status, body=body,
                              headers={k: v for k, v in resp.headers.items()})
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", errors="replace") if exc.fp else ""
        return HttpResult(status=exc.code, body=body, headers=dict(exc.headers.items()))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceNotReady(f"GET {url} failed: {reason}") from None


class NodeDebugPods:
    """Node shells without SSH: one privileged host-network/host-PID pod per node.

    The pod runs the Cilium agent image (already present on every node, so nothing is
    pulled), pinned with `nodeName`, and commands enter the host's namespaces with
    `nsenter -t 1`.  The pods live in namespace `cilab-node-shell` and are deleted on close.
    """

    NAMESPACE = "cilab-node-shell"

    def __init__(self, api: KubeAPI, ready_budget: float = 120.0) -> None:
        self.api = api
        self.ready_budget = ready_budget
        self._pods: dict[str, str] = {}

    def _image(self) -> str:
        ds = self.api.k8s_get("apps/v1", "DaemonSet", "cilium", "kube-system")
        if not ds:
            raise ConfigError("no node shell: give --ssh-config, or the cluster needs the "
                              "kube-system/cilium DaemonSet whose image the debug pod reuses")
        for c in ds["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "cilium-agent":
                return c["image"]
        raise ConfigError("no cilium-agent container in DaemonSet kube-system/cilium")

    def _ensure(self, node: str) -> str:
        if node in self._pods:
            return self._pods[node]
        name = f"cilab-shell-{node}"[:63]
        self.api.k8s_apply({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": self.NAMESPACE}})
        self.api.k8s_apply({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": self.NAMESPACE,
                         "labels": {"app.kubernetes.io/name": "cilab-node-shell"}},
            "spec": {"nodeName": node, "hostNetwork": True, "hostPID": True,
                     "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "shell", "image": self._image(),
                                     "command": ["sleep", "infinity"],
                                     "securityContext": {"privileged": True}}]}},
            namespace=self.NAMESPACE)
        def running() -> str:
            pod = self.api.k8s_get("v1", "Pod", name, self.NAMESPACE)
            phase = (pod or {}).get("status", {}).get("phase", "absent")
            assert phase == "Running", f"pod {self.NAMESPACE}/{name} phase {phase}"
            return name

        try:
            self._pods[node] = eventually(running, what=f"node shell pod on {node} Running",
                                          budget=self.ready_budget)
        except AssertionError as exc:
            raise LabUnavailable(str(exc)) from None
        return self._pods[node]

    def run(self, node: str, command: str, timeout: float) -> CommandResult:
        pod = self._ensure(node)
        return self.api.pod_exec(self.NAMESPACE, pod, "shell",
                                 ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--",
                                  "sh", "-c", command], timeout)

    def close(self) -> None:
        if self._pods:
            try:
                self.api.k8s_delete("v1", "Namespace", self.NAMESPACE)
            except Exception:
                log.warning("could not delete namespace %s", self.NAMESPACE, exc_info=True)
            self._pods.clear()


class APIPrimitives:
    """The primitives a real backend answers from the API server (`self.api`) or the runner."""

    api: KubeAPI

    def pod_exec(self, namespace: str, pod: str, container: str | None,
                 command: list[str], timeout: float) -> CommandResult:
        return self.api.pod_exec(namespace, pod, container, command, timeout)

    def k8s_get(self, api_version: str, kind: str, name: str,
                namespace: str | None = None) -> dict[str, Any] | None:
        return self.api.k8s_get(api_version, kind, name, namespace)

    def k8s_list(self, api_version: str, kind: str, namespace: str | None = None,
                 label_selector: str | None = None,
                 field_selector: str | None = None) -> list[dict[str, Any]]:
        return self.api.k8s_list(api_version, kind, namespace, label_selector, field_selector)

    def k8s_apply(self, manifest: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return self.api.k8s_apply(manifest, namespace)

    def k8s_delete(self, api_version: str, kind: str, name: str,
                   namespace: str | None = None) -> bool:
        return self.api.k8s_delete(api_version, kind, name, namespace)

    def http_get(self, url: str, timeout: float,
                 headers: dict[str, str] | None = None) -> HttpResult:
        return http_get(url, timeout, headers)

    def node_clock(self, node: str, timeout: float) -> dict[str, Any]:
        from cilab.backends.base import measure_clock
        return measure_clock(self.node_shell, node, timeout)  # type: ignore[attr-defined]



class KubeconfigBackend(APIPrimitives):
    """An existing Cilium cluster reached through a kubeconfig."""

    kind = "kubeconfig"

    def __init__(self, kubeconfig: str | Path, context: str | None = None,
                 ssh_config: str | Path | None = None, helm: str | None = None,
                 allow_helm_changes: bool = False, cache_dir: str | Path | None = None) -> None:
        self.api = KubeAPI(kubeconfig, context, cache_dir=cache_dir)
        self.allow_helm_changes = allow_helm_changes
        #: a cluster the suite did not build: checked as found, changed only with consent
        self.suite_built = False
        self.kubeconfig = str(Path(kubeconfig).expanduser())
        self.context = context
        self.helm = helm or shutil.which("helm")
        self._ssh: Any = None
        self._debug: NodeDebugPods | None = None
        if ssh_config is not None:
            from cilab.ssh import SSHPool
            from cilab.vagrant_cli import parse_ssh_config
            path = Path(ssh_config).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"--ssh-config {path}: cannot read ({exc.strerror or exc})") from None
            self._ssh = SSHPool(parse_ssh_config(text))
        else:
            self._debug = NodeDebugPods(self.api)

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.api.k8s_list("v1", "Node")]

    @property
    def node_shell_via(self) -> str:
        """How `node_shell` reaches a node: "ssh", or "debug pod" (NodeDebugPods)."""
        return "ssh" if self._ssh is not None else "debug pod"

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        if self._ssh is not None:
            return self._ssh.run(node, f"sudo -n sh -c {shlex.quote(command)}", timeout)
        assert self._debug is not None
        return self._debug.run(node, command, timeout)

    def helm_upgrade(self, release: str, chart: str, version: str, namespace: str,
                     values: list[str], timeout: float, repo: str | None = None) -> CommandResult:
        if not self.allow_helm_changes:
            raise ConfigError(f"this step would upgrade the Helm release {release!r} of a cluster the suite "
                              "did not build, replacing its values with provisioning/helm/*.yaml: pass "
                              "--allow-helm-changes to let it, or apply that stage yourself")
        if not self.helm:
            raise ConfigError("helm not found on PATH: the kubeconfig lab changes stages with a "
                              "local helm 3 binary")
        with tempfile.TemporaryDirectory(prefix="cilab-helm-") as tmp:
            argv = [self.helm, "upgrade", "--install", release, chart, "--version", version,
                    "--namespace", namespace, "--kubeconfig", self.kubeconfig, "--wait",
                    "--timeout", f"{int(timeout)}s"]
            if repo:
                argv += ["--repo", repo]
            if self.context:
                argv += ["--kube-context", self.context]
            for i, doc in enumerate(values):
                p = Path(tmp) / f"values-{i}.yaml"
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold found values
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(doc)
                argv += ["-f", str(p)]
            return self._run_helm(argv, timeout + 30, "helm upgrade")

    def _run_helm(self, argv: list[str], timeout: float, what: str) -> CommandResult:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LabUnavailable(f"{what} did not finish within {timeout:g}s") from None
        except OSError as exc:
            raise ConfigError(f"{what}: cannot run {argv[0]} ({exc.strerror or exc})") from None
        return CommandResult(stdout=proc.stdout, stderr=proc.stderr, rc=proc.returncode)

    def _helm_argv(self, args: list[str]) -> list[str]:
        if not self.helm:
            raise ConfigError("helm not found on PATH: the kubeconfig lab reads and changes its Cilium "
                              "release with a local helm 3 binary")
        argv = [self.helm, *args, "--kubeconfig", self.kubeconfig]
        return argv + (["--kube-context", self.context] if self.context else [])

    def helm_read(self, release: str, namespace: str, what: str,
                  revision: int | None = None) -> CommandResult:
        return self._run_helm(self._helm_argv(helm_read_argv(release, namespace, what, revision)), 60,
                              f"helm {what}")

    def helm_rollback(self, release: str, namespace: str, revision: int, timeout: float) -> CommandResult:
        return self._run_helm(self._helm_argv(helm_rollback_argv(release, namespace, revision, timeout)),
                              timeout + 30, "helm rollback")

    def close(self) -> None:
        if self._debug is not None:
            self._debug.close()
        if self._ssh is not None:
            self._ssh.close()
        self.api.close()

