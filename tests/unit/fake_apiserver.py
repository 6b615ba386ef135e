"""A fake Kubernetes API server on loopback (plain HTTP, stdlib only) for KubeAPI tests.

It serves just enough for the kubernetes client's `DynamicClient`:

* discovery: `GET /version`, `/api`, `/api/v1`, `/apis`, `/apis/apps/v1`,
  `/apis/cilium.io/v2` (the resource lists below);
* objects, kept in memory under `(group/version, plural, namespace, name)`:
  GET one (404 with a v1 Status when absent), GET list (`labelSelector` with
  `k=v`, `k==v`, `k!=v` terms only; anything else is a 400), PATCH as server-side
  apply (`application/apply-patch+yaml`, `fieldManager` required; create or replace
  the applied fields, server metadata kept, `resourceVersion` bumped), DELETE (a v1
  Status, or the object when `delete_returns == "object"`; 404 when absent).

Every request is recorded (`FakeAPIServer.requests`) before anything else happens, so a
test can assert what the client sent.  Switches, settable while the server runs:

* `fail_status = 403` (or `forbidden = True`): answer every request with that status and
  a v1 Status body;
* `hang = True`: hold every request without answering for `hang_seconds` (default 8 s,
  meant to exceed the client's read timeout), then drop the connection;
* `token`: the bearer token required; another or none gives a 401.

    with FakeAPIServer() as api:
        api.put({"apiVersion": "v1", "kind": "ConfigMap", ...})
        api.write_kubeconfig(tmp_path / "kubeconfig")
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

if TYPE_CHECKING:  # typing.Self is Python 3.11+, and the project runs on 3.10 too
    from typing_extensions import Self

TOKEN = "fake-bearer-token-5f0c1e9a"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ResourceDef:
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    def discovery(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.plural, "singularName": self.kind.lower(), "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                      "update", "watch"],
        }
        if self.short_names:
            doc["shortNames"] = list(self.short_names)
        return doc


# group/version -> resources ("v1" is the core group)
RESOURCES: dict[str, tuple[ResourceDef, ...]] = {
    "v1": (
        ResourceDef("configmaps", "ConfigMap", True, ("cm",)),
        ResourceDef("namespaces", "Namespace", False, ("ns",)),
        ResourceDef("pods", "Pod", True, ("po",)),
        ResourceDef("services", "Service", True, ("svc",)),
        ResourceDef("secrets", "Secret", True),
        ResourceDef("nodes", "Node", False, ("no",)),
    ),
    "apps/v1": (
        ResourceDef("deployments", "Deployment", True, ("deploy",)),
        ResourceDef("daemonsets", "DaemonSet", True, ("ds",)),
    ),
    "cilium.io/v2": (
        ResourceDef("ciliumnetworkpolicies", "CiliumNetworkPolicy", True, ("cnp",)),
    ),
}
# Built-in kinds omit apiVersion/kind on list items; custom resources keep them.
BUILTIN = {"v1", "apps/v1"}

Key = tuple[str, str, str, str]  # (group/version, plural, namespace or "", name)


def write_kubeconfig(path: Path, server: str, token: str = TOKEN,
                     context: str = "fake") -> Path:
    """A kubeconfig for `server` (e.g. http://127.0.0.1:PORT) with a token user."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake-user", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake-user",
                                                   "namespace": "default"}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    authorization: str | None
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType",
           422: "Invalid", 500: "InternalError", 503: "ServiceUnavailable"}


def status_body(code: int, reason: str, message: str,
                details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success" if code < 400 else "Failure",
                            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    if code < 400:
        body.pop("message")
        body.pop("reason")
    return body


@dataclass
class _Route:
    group_version: str
    res: ResourceDef
    namespace: str
    name: str


def node(name: str, *, ip: str, control_plane: bool = False) -> dict[str, Any]:
    """A Node as kubeadm's kubelet registers it (the control plane with its role label)."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}


@dataclass
class FakeAPIServer:
    """The server; use as a context manager (binds 127.0.0.1, port 0)."""

    token: str = TOKEN
    hang_seconds: float = 8.0
    fail_status: int | None = None
    #: the Status message sent with `fail_status` (default: a generic one)
    fail_message: str | None = None
    hang: bool = False
    delete_returns: str = "status"  # or "object"
    requests: list[Recorded] = field(default_factory=list)
    store: dict[Key, dict[str, Any]] = field(default_factory=dict)
    #: the Node objects seeded at start: the write-up's lab (the first one labelled control-plane)
    nodes: tuple[str, ...] = ("k8s-ctr", "k8s-w1", "k8s-w2")
    #: which of `nodes` carry the control-plane role label
    control_plane: tuple[str, ...] = ("k8s-ctr",)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rv = 100
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        for i, name in enumerate(self.nodes):
            self.put(node(name, ip=f"192.168.10.{100 + i}", control_plane=name in self.control_plane))

    # -- switches and helpers for tests ------------------------------------------------
    @property
    def forbidden(self) -> bool:
        return self.fail_status == 403

    @forbidden.setter
    def forbidden(self, on: bool) -> None:
        self.fail_status = 403 if on else None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, token: str | None = None,
                         context: str = "fake") -> Path:
        """A kubeconfig with this server and a token user; returns `path`."""
        return write_kubeconfig(path, self.url, token or self.token, context)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Seed an object (as if created earlier); returns the stored copy."""
        gv = obj["apiVersion"]
        res = self._by_kind(gv, obj["kind"])
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "default") if res.namespaced else ""
        if res.namespaced:
            meta["namespace"] = ns
        with self._lock:
            stored = self._stamp(json.loads(json.dumps(obj)), None)
            self.store[(gv, res.plural, ns, meta["name"])] = stored
        return stored

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        res = self._by_kind(api_version, kind)
        ns = (namespace or "default") if res.namespaced else ""
        with self._lock:
            return self.store.get((api_version, res.plural, ns, name))

    def requests_to(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        with self._lock:
            reqs = list(self.requests)
        return [r for r in reqs if (method is None or r.method == method)
                and r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeAPIServer:
        server = self

        class Handler(_Handler):
            api = server

        class Httpd(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = False

            def process_request(self, request: Any, client_address: Any) -> None:
                with server._lock:
                    server._conns.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with server._lock:
                    server._conns.discard(request)
                super().shutdown_request(request)

        self._stop.clear()
        self._httpd = Httpd(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-apiserver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open (keep-alive or hanging) connection."""
        if self._httpd is None:
            return
        self._stop.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()  # joins the handler threads
        assert self._thread is not None
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API ------------------------------------------------------------------------
    def _by_kind(self, gv: str, kind: str) -> ResourceDef:
        for res in RESOURCES.get(gv, ()):
            if res.kind == kind:
                return res
        raise KeyError(f"fake API server has no {gv} {kind}")

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _stamp(self, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        old_meta = (old or {}).get("metadata", {})
        meta["uid"] = old_meta.get("uid") or meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = (old_meta.get("creationTimestamp")
                                     or meta.get("creationTimestamp")
                                     or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta["resourceVersion"] = self._next_rv()
        meta["generation"] = int(old_meta.get("generation", 0)) + 1
        return obj

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               content_type: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """Route one authorised request; returns (status, JSON body) or raises ApiError."""
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if method == "GET" and parts == ["version"]:
            # every field a real API server sends (the kubernetes client requires them)
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.1",
                         "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828", "gitTreeState": "clean",
                         "buildDate": "2025-05-15T08:19:08Z", "goVersion": "go1.24.2", "compiler": "gc",
                         "platform": "linux/amd64"}
        if method == "GET" and parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": "127.0.0.1:6443"}]}
        if method == "GET" and parts == ["apis"]:
            groups = []
            for gv in RESOURCES:
                if "/" not in gv:
                    continue
                group, version = gv.split("/")
                ver = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [ver], "preferredVersion": ver})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        route, rest = self._route(parts)
        if route is None:
            if method == "GET" and rest in RESOURCES:  # /api/v1, /apis/<g>/<v>
                return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": rest,
                             "resources": [r.discovery() for r in RESOURCES[rest]]}
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and route.name:
            return 200, self._get(route)
        if method == "GET":
            return 200, self._list(route, query)
        if method == "PATCH" and route.name:
            return self._apply(route, query, content_type, body)
        if method == "DELETE" and route.name:
            return 200, self._delete(route)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by the fake server")

    def _route(self, parts: list[str]) -> tuple[_Route | None, str]:
        if parts[:2] == ["api", "v1"]:
            gv, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None, "/".join(parts)
        if gv not in RESOURCES:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return None, gv
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:  # subresources are not served
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) == 2 else ""
        for res in RESOURCES[gv]:
            if res.plural == plural:
                if namespace and not res.namespaced:
                    raise ApiError(404, "NotFound",
                                   "the server could not find the requested resource")
                if name and res.namespaced and not namespace:
                    raise ApiError(404, "NotFound",
                                   "the server could not find the requested resource")
                return _Route(gv, res, namespace, name), gv
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _not_found(self, route: _Route) -> ApiError:
        group = route.group_version.split("/")[0] if "/" in route.group_version else ""
        what = f"{route.res.plural}.{group}" if group else route.res.plural
        return ApiError(404, "NotFound", f'{what} "{route.name}" not found',
                        {"name": route.name, "group": group, "kind": route.res.plural})

    def _get(self, route: _Route) -> dict[str, Any]:
        with self._lock:
            obj = self.store.get((route.group_version, route.res.plural, route.namespace,
                                  route.name))
        if obj is None:
            raise self._not_found(route)
        return obj

    def _list(self, route: _Route, query: dict[str, list[str]]) -> dict[str, Any]:
        selector = parse_selector((query.get("labelSelector") or [""])[-1])
        with self._lock:
            items = [obj for (gv, plural, ns, _), obj in sorted(self.store.items())
                     if gv == route.group_version and plural == route.res.plural
                     and (not route.namespace or ns == route.namespace)
                     and matches(selector, obj.get("metadata", {}).get("labels") or {})]
            rv = str(self._rv)
        if route.group_version in BUILTIN:
            items = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
                     for obj in items]
        return {"kind": f"{route.res.kind}List", "apiVersion": route.group_version,
                "metadata": {"resourceVersion": rv}, "items": items}

    def _apply(self, route: _Route, query: dict[str, list[str]], content_type: str | None,
               body: bytes) -> tuple[int, dict[str, Any]]:
        if (content_type or "").split(";")[0].strip() != APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the fake server only supports {APPLY_PATCH} patches, "
                           f"not {content_type!r}")
        manager = (query.get("fieldManager") or [""])[-1]
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH apply requires a fieldManager")
        try:
            applied = yaml.safe_load(body.decode("utf-8"))  # JSON is YAML
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
        if not isinstance(applied, dict):
            raise ApiError(400, "BadRequest", "apply body is not an object")
        meta = applied.setdefault("metadata", {})
        if applied.get("apiVersion") != route.group_version or applied.get("kind") != route.res.kind:
            raise ApiError(400, "BadRequest",
                           f"apply body is {applied.get('apiVersion')} {applied.get('kind')}, "
                           f"the URL is {route.group_version} {route.res.kind}")
        if meta.get("name") != route.name:
            raise ApiError(400, "BadRequest", "the name of the object "
                           f"({meta.get('name')}) does not match the name on the URL ({route.name})")
        if route.res.namespaced:
            if meta.get("namespace", route.namespace) != route.namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match "
                               "the namespace on the request")
            meta["namespace"] = route.namespace
        key = (route.group_version, route.res.plural, route.namespace, route.name)
        with self._lock:
            old = self.store.get(key)
            if old is not None and "status" in old and "status" not in applied:
                applied["status"] = old["status"]
            meta["managedFields"] = [{"manager": manager, "operation": "Apply",
                                      "apiVersion": route.group_version,
                                      "fieldsType": "FieldsV1"}]
            stored = self._stamp(applied, old)
            self.store[key] = stored
        return (200 if old is not None else 201), stored

    def _delete(self, route: _Route) -> dict[str, Any]:
        key = (route.group_version, route.res.plural, route.namespace, route.name)
        with self._lock:
            obj = self.store.pop(key, None)
        if obj is None:
            raise self._not_found(route)
        if self.delete_returns == "object":
            return obj
        group = route.group_version.split("/")[0] if "/" in route.group_version else ""
        return status_body(200, "", "", {"name": route.name, "group": group,
                                         "kind": route.res.plural,
                                         "uid": obj["metadata"]["uid"]})


_LABEL = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def parse_selector(text: str) -> list[tuple[str, str, str]]:
    """`a=b,c==d,e!=f` -> [(key, "=" or "!=", value)]; set-based terms are a 400."""
    terms = []
    for raw in filter(None, (t.strip() for t in text.split(","))):
        op = next((o for o in ("!=", "==", "=") if o in raw), None)
        key, value = ((s.strip() for s in raw.split(op, 1)) if op else (raw, ""))
        if op is None or not _LABEL.match(key) or not _VALUE.match(value):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {raw!r} "
                           "(the fake server knows equality selectors only)")
        terms.append((key, "!=" if op == "!=" else "=", value))
    return terms


def matches(selector: list[tuple[str, str, str]], labels: dict[str, str]) -> bool:
    for key, op, value in selector:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    api: FakeAPIServer
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        api = self.api
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = Recorded(method=self.command, path=url.path,
                       query=parse_qs(url.query, keep_blank_values=True),
                       content_type=self.headers.get("Content-Type"),
                       authorization=self.headers.get("Authorization"), body=body)
        with api._lock:
            api.requests.append(rec)
        if api.hang:
            api._stop.wait(api.hang_seconds)
            self.close_connection = True
            return  # no answer at all: the client sees a read timeout or a dropped connection
        try:
            if rec.authorization != f"Bearer {api.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if api.fail_status is not None:
                code = api.fail_status
                reason = REASONS.get(code, "InternalError")
                if api.fail_message is not None:
                    raise ApiError(code, reason, api.fail_message)
                if code == 403:
                    raise ApiError(403, reason, f'{self.command.lower()} {url.path} is forbidden: '
                                   'User "system:serviceaccount:default:fake" cannot access it',
                                   {})
                raise ApiError(code, reason, f"the fake server answers {code} to everything")
            code, doc = api.handle(self.command, url.path, rec.query, rec.content_type, body)
        except ApiError as exc:
            code, doc = exc.code, status_body(exc.code, exc.reason, exc.message, exc.details)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer 500, never hang
            code, doc = 500, status_body(500, "InternalError", f"fake server bug: {exc!r}")
        data = json.dumps(doc).encode("utf-8")
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _serve
