"""KubeAPI (kubernetes client 37, DynamicClient) against a fake API server on 127.0.0.1.

The fake (tests/unit/fake_apiserver.py) speaks plain HTTP with bearer-token auth and
records every request, so these tests check both what KubeAPI returns and what it sent:
discovery, get/list/apply/delete, the error mapping (403/401 -> ConfigError, refused or
timed-out transport -> LabUnavailable, other HTTP errors -> CallFailed), the per-worker
discovery cache, and that the bearer token never shows in an error.
"""
from __future__ import annotations

import hashlib
import json
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cilab.backends.kube import FIELD_MANAGER, KubeAPI
from cilab.errors import CallFailed, ConfigError, LabUnavailable, ServiceNotReady
from tests.unit.fake_apiserver import (
    APPLY_PATCH,
    TOKEN,
    FakeAPIServer,
    write_kubeconfig,
)

CNP = {
    "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "allow-dns", "namespace": "cilab-test",
                 "labels": {"app.kubernetes.io/managed-by": "cilab"}},
    "spec": {"endpointSelector": {"matchLabels": {"app": "client"}},
             "egress": [{"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace":
                                                          "kube-system"}}],
                         "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]}]},
}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client honours proxy variables; a proxy must never see these requests."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as srv:
        srv.put({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "cilium-config", "namespace": "kube-system",
                              "labels": {"app.kubernetes.io/part-of": "cilium"}},
                 "data": {"enable-hubble": "true", "hubble-listen-address": ":4244"}})
        for name, ns, labels in [
            ("cilium-abcde", "kube-system", {"k8s-app": "cilium", "tier": "agent"}),
            ("cilium-fghij", "kube-system", {"k8s-app": "cilium", "tier": "agent"}),
            ("cilium-operator-1", "kube-system", {"io.cilium/app": "operator"}),
            ("coredns-1", "kube-system", {"k8s-app": "kube-dns"}),
            ("cilium-lookalike", "default", {"k8s-app": "cilium"}),
        ]:
            srv.put({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": ns, "labels": labels},
                     "status": {"phase": "Running"}})
        yield srv


@pytest.fixture
def kubeconfig(server: FakeAPIServer, tmp_path: Path) -> Path:
    return server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "discovery-cache"
    path.mkdir()
    return path


@pytest.fixture
def make_api(cache_dir: Path) -> Iterator[Any]:
    made: list[KubeAPI] = []

    def make(kubeconfig: Path, **kwargs: Any) -> KubeAPI:
        kwargs.setdefault("cache_dir", cache_dir)
        api = KubeAPI(kubeconfig, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Any, kubeconfig: Path) -> KubeAPI:
    return make_api(kubeconfig)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def error_text(exc: BaseException) -> str:
    """Everything a user could see of an error: str, repr and the printed traceback."""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# -- reads --------------------------------------------------------------------------------
def test_get_returns_an_existing_configmap_as_a_plain_dict(api: KubeAPI,
                                                           server: FakeAPIServer) -> None:
    cm = api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")

    assert type(cm) is dict
    assert json.loads(json.dumps(cm)) == cm  # plain JSON all the way down, no ResourceField
    assert cm["data"] == {"enable-hubble": "true", "hubble-listen-address": ":4244"}
    assert cm["metadata"]["namespace"] == "kube-system"
    assert cm["metadata"]["uid"]
    gets = server.requests_to("GET", "/api/v1/namespaces/kube-system/configmaps/")
    assert [r.path for r in gets] == ["/api/v1/namespaces/kube-system/configmaps/cilium-config"]
    assert all(r.authorization == f"Bearer {TOKEN}" for r in server.requests_to())


def test_get_of_a_missing_object_is_none(api: KubeAPI, server: FakeAPIServer) -> None:
    assert api.k8s_get("v1", "ConfigMap", "no-such-config", "kube-system") is None
    assert api.k8s_get("v1", "ConfigMap", "cilium-config", "other-namespace") is None
    assert server.requests_to("GET", "/api/v1/namespaces/kube-system/configmaps/no-such-config")


def test_get_of_a_kind_the_server_does_not_serve_is_call_failed(api: KubeAPI) -> None:
    with pytest.raises(CallFailed, match=r"no resource cilium.io/v2 CiliumEndpointSlice"):
        api.k8s_get("cilium.io/v2", "CiliumEndpointSlice", "x", "default")


def test_list_pods_sends_the_label_selector(api: KubeAPI, server: FakeAPIServer) -> None:
    pods = api.k8s_list("v1", "Pod", "kube-system", label_selector="k8s-app=cilium")

    assert sorted(p["metadata"]["name"] for p in pods) == ["cilium-abcde", "cilium-fghij"]
    assert all(type(p) is dict for p in pods)
    (req,) = server.requests_to("GET", "/api/v1/namespaces/kube-system/pods")
    assert req.path == "/api/v1/namespaces/kube-system/pods"
    assert req.query == {"labelSelector": ["k8s-app=cilium"]}


def test_list_across_namespaces_with_two_terms(api: KubeAPI, server: FakeAPIServer) -> None:
    pods = api.k8s_list("v1", "Pod", label_selector="k8s-app=cilium,tier!=agent")

    assert [p["metadata"]["name"] for p in pods] == ["cilium-lookalike"]
    (req,) = server.requests_to("GET", "/api/v1/pods")
    assert req.param("labelSelector") == "k8s-app=cilium,tier!=agent"


def test_list_without_a_selector_sends_none(api: KubeAPI, server: FakeAPIServer) -> None:
    assert len(api.k8s_list("v1", "Pod", "kube-system")) == 4
    (req,) = server.requests_to("GET", "/api/v1/namespaces/kube-system/pods")
    assert req.query == {}


# -- server-side apply and delete ---------------------------------------------------------
def test_apply_a_cilium_network_policy_server_side(api: KubeAPI, server: FakeAPIServer) -> None:
    manifest = json.loads(json.dumps(CNP))
    created = api.k8s_apply(manifest, namespace="cilab-test")

    assert type(created) is dict
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["spec"] == CNP["spec"]
    (req,) = server.requests_to("PATCH")
    assert req.path == "/apis/cilium.io/v2/namespaces/cilab-test/ciliumnetworkpolicies/allow-dns"
    assert req.content_type == APPLY_PATCH
    assert req.param("fieldManager") == FIELD_MANAGER == "cilium-lab-conformance"
    assert req.param("force") == "true"
    assert req.authorization == f"Bearer {TOKEN}"
    assert req.json() == CNP  # the dict body goes out as JSON (valid YAML), unchanged
    assert manifest == CNP  # and the caller's manifest is not modified

    read = api.k8s_get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test")
    assert read is not None
    assert read["spec"] == CNP["spec"]
    assert read["metadata"]["uid"] == created["metadata"]["uid"]
    assert read["metadata"]["labels"] == CNP["metadata"]["labels"]


def test_apply_again_updates_in_place(api: KubeAPI, server: FakeAPIServer) -> None:
    first = api.k8s_apply(json.loads(json.dumps(CNP)), namespace="cilab-test")
    changed = json.loads(json.dumps(CNP))
    changed["spec"]["endpointSelector"] = {"matchLabels": {"app": "other"}}
    second = api.k8s_apply(changed, namespace="cilab-test")

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    stored = server.get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test")
    assert stored is not None and stored["spec"]["endpointSelector"] == {
        "matchLabels": {"app": "other"}}


def test_apply_a_cluster_scoped_kind_ignores_the_namespace(api: KubeAPI,
                                                          server: FakeAPIServer) -> None:
    api.k8s_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cilab-x"}},
                  namespace="ignored")
    (req,) = server.requests_to("PATCH")
    assert req.path == "/api/v1/namespaces/cilab-x"
    assert server.get("v1", "Namespace", "cilab-x") is not None


@pytest.mark.parametrize("delete_returns", ["status", "object"])
def test_delete_is_true_then_false(api: KubeAPI, server: FakeAPIServer,
                                   delete_returns: str) -> None:
    server.delete_returns = delete_returns
    api.k8s_apply(json.loads(json.dumps(CNP)), namespace="cilab-test")

    assert api.k8s_delete("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is True
    assert server.get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is None
    assert api.k8s_delete("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is False
    assert api.k8s_get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is None

    deletes = server.requests_to("DELETE")
    assert [r.path for r in deletes] == [
        "/apis/cilium.io/v2/namespaces/cilab-test/ciliumnetworkpolicies/allow-dns"] * 2
    assert all(r.param("propagationPolicy") == "Foreground" for r in deletes)


# -- error mapping ------------------------------------------------------------------------
@pytest.mark.parametrize("warm", [False, True], ids=["during-discovery", "after-discovery"])
def test_forbidden_is_config_error_naming_the_server(api: KubeAPI, server: FakeAPIServer,
                                                     warm: bool) -> None:
    if warm:
        assert api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    server.forbidden = True

    with pytest.raises(ConfigError) as info:
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")

    message = str(info.value)
    assert server.url in message
    assert "HTTP 403" in message
    assert "\n" not in message


def test_pod_refused_for_a_missing_service_account_is_not_ready(api: KubeAPI,
                                                                server: FakeAPIServer) -> None:
    # a fresh namespace has no `default` ServiceAccount for a moment: "not yet", not credentials
    server.fail_status = 403
    server.fail_message = ('pods "curl-pod" is forbidden: error looking up service account '
                           'cilab-x/default: serviceaccount "default" not found')
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "curl-pod", "namespace": "cilab-x"},
           "spec": {"containers": [{"name": "c", "image": "nicolaka/netshoot"}]}}
    with pytest.raises(ServiceNotReady, match="error looking up service account"):
        api.k8s_apply(pod, "cilab-x")
    server.fail_message = "pods is forbidden: User cannot create pods"
    with pytest.raises(ConfigError):
        api.k8s_apply(pod, "cilab-x")


def test_refused_http_to_a_lab_service_is_not_ready() -> None:
    import socket
    from cilab.backends.kube import http_get
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceNotReady, match=f"GET http://127.0.0.1:{port}/-/ready failed"):
        http_get(f"http://127.0.0.1:{port}/-/ready", timeout=2)


def test_exec_into_a_restarting_container_is_not_ready() -> None:
    from cilab.backends.kube import not_ready_reason
    assert not_ready_reason('Handshake status 400 Bad Request -+-+- b\'{"kind":"Status","message":'
                            '"container not found (\\"cilium-agent\\")"}\'')
    assert not_ready_reason('container "spaceship" in pod "xwing" is waiting to start: ContainerCreating')
    assert not not_ready_reason("pods is forbidden: User cannot create pods")


def test_wrong_token_is_config_error(make_api: Any, server: FakeAPIServer,
                                     tmp_path: Path) -> None:
    wrong = "not-the-token-0123456789"
    api = make_api(server.write_kubeconfig(tmp_path / "wrong", token=wrong))

    with pytest.raises(ConfigError, match="HTTP 401") as info:
        api.k8s_list("v1", "Pod", "kube-system")

    assert server.url in str(info.value)
    assert wrong not in error_text(info.value)
    assert server.requests_to()[0].authorization == f"Bearer {wrong}"


def test_other_http_errors_are_call_failed(api: KubeAPI, server: FakeAPIServer) -> None:
    assert api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    server.fail_status = 500

    with pytest.raises(CallFailed, match=r"get ConfigMap cilium-config: HTTP 500"):
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")


def test_closed_port_is_lab_unavailable_with_a_one_line_reason(make_api: Any,
                                                                tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    api = make_api(write_kubeconfig(tmp_path / "kubeconfig", url))

    started = time.monotonic()
    with pytest.raises(LabUnavailable) as info:
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")

    message = str(info.value)
    assert message.endswith(": [Errno 111] Connection refused"), message
    assert url in message
    assert "\n" not in message
    assert "Max retries" not in message and "HTTPConnection" not in message
    assert time.monotonic() - started < 5


def test_stopped_server_is_lab_unavailable(api: KubeAPI, server: FakeAPIServer) -> None:
    assert api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    server.stop()  # also cuts the client's pooled keep-alive connection

    with pytest.raises(LabUnavailable) as info:
        api.k8s_list("v1", "Pod", "kube-system", label_selector="k8s-app=cilium")

    message = str(info.value)
    assert message == (f"API server {server.url} unreachable during list Pod: "
                       "[Errno 111] Connection refused")


def test_hanging_server_fails_within_the_request_timeout(make_api: Any, kubeconfig: Path,
                                                         server: FakeAPIServer) -> None:
    api = make_api(kubeconfig, request_timeout=(1, 1))
    assert api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    server.hang = True

    started = time.monotonic()
    with pytest.raises(LabUnavailable) as info:
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"a hung API server held the call for {elapsed:.1f}s"
    message = str(info.value)
    assert server.url in message and "read timed out" in message.lower()
    assert "\n" not in message


def test_hanging_server_during_apply_fails_after_one_read_timeout(
        make_api: Any, kubeconfig: Path, server: FakeAPIServer) -> None:
    api = make_api(kubeconfig, request_timeout=(1, 1))
    assert api.k8s_get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is None
    server.hang = True

    started = time.monotonic()
    with pytest.raises(LabUnavailable, match="apply CiliumNetworkPolicy allow-dns"):
        api.k8s_apply(json.loads(json.dumps(CNP)), namespace="cilab-test")

    assert time.monotonic() - started < 2.5  # PATCH is not retried by urllib3
    assert len(server.requests_to("PATCH")) == 1


def test_hanging_server_during_discovery_fails_within_the_request_timeout(
        make_api: Any, kubeconfig: Path, server: FakeAPIServer) -> None:
    server.hang_seconds = 1.5  # the fake gives up after 1.5 s so the bug cannot hang the run
    server.hang = True
    api = make_api(kubeconfig, request_timeout=(1, 1))

    started = time.monotonic()
    with pytest.raises(LabUnavailable, match="API discovery"):
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")
    assert time.monotonic() - started < 5


def test_hung_get_is_sent_once(make_api: Any, kubeconfig: Path, server: FakeAPIServer) -> None:
    api = make_api(kubeconfig, request_timeout=(1, 1))
    assert api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    server.hang = True
    server.clear_requests()

    started = time.monotonic()
    with pytest.raises(LabUnavailable):
        api.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system")

    assert len(server.requests_to("GET")) == 1
    assert time.monotonic() - started < 2.5


# -- the bearer token stays out of errors -------------------------------------------------
@pytest.mark.parametrize("failure", ["forbidden", "http-500", "refused", "timeout"])
def test_token_never_appears_in_an_error(make_api: Any, kubeconfig: Path,
                                         server: FakeAPIServer, failure: str) -> None:
    api = make_api(kubeconfig, request_timeout=(1, 1))
    # discovery of cilium.io/v2 done first, so the hang hits the GET itself
    assert api.k8s_get("cilium.io/v2", "CiliumNetworkPolicy", "allow-dns", "cilab-test") is None
    expected: type[Exception]
    if failure == "forbidden":
        server.forbidden, expected = True, ConfigError
    elif failure == "http-500":
        server.fail_status, expected = 500, CallFailed
    elif failure == "refused":
        server.stop()
        expected = LabUnavailable
    else:
        server.hang, expected = True, LabUnavailable

    with pytest.raises(expected) as info:
        api.k8s_apply(json.loads(json.dumps(CNP)), namespace="cilab-test")

    assert TOKEN not in error_text(info.value)
    chained: BaseException | None = info.value
    while chained is not None:  # nor in a suppressed cause someone might log
        assert TOKEN not in str(chained) and TOKEN not in repr(chained)
        chained = chained.__cause__ or chained.__context__


# -- discovery cache ----------------------------------------------------------------------
def discovery_requests(server: FakeAPIServer) -> list[str]:
    paths = {"/version", "/api", "/apis", "/api/v1", "/apis/apps/v1", "/apis/cilium.io/v2"}
    return [r.path for r in server.requests_to("GET") if r.path in paths]


def cache_file(cache_dir: Path, server: FakeAPIServer, worker: str) -> Path:
    """The discovery cache of one API server for one worker (cilab.backends.kube.KubeAPI)."""
    server_id = hashlib.sha1(server.url.encode()).hexdigest()[:10]
    return cache_dir / f"cilab-discovery-{server_id}-{worker}.json"


def test_discovery_cache_is_per_xdist_worker(make_api: Any, kubeconfig: Path,
                                             server: FakeAPIServer, cache_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    first = make_api(kubeconfig, cache_dir=cache_dir)
    assert first.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None

    cache = cache_file(cache_dir, server, "gw3")
    assert sorted(p.name for p in cache_dir.iterdir()) == [cache.name]
    assert "/version" in discovery_requests(server)
    assert "configmaps" in cache.read_text(encoding="utf-8")

    # the same worker again: everything from the cache, no discovery round trips
    server.clear_requests()
    again = make_api(kubeconfig, cache_dir=cache_dir)
    assert again.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    assert discovery_requests(server) == []

    # another worker: its own file and its own discovery
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw4")
    server.clear_requests()
    other = make_api(kubeconfig, cache_dir=cache_dir)
    assert other.k8s_get("v1", "ConfigMap", "cilium-config", "kube-system") is not None
    assert "/version" in discovery_requests(server)
    assert sorted(p.name for p in cache_dir.iterdir()) == [
        cache_file(cache_dir, server, "gw3").name, cache_file(cache_dir, server, "gw4").name]


def test_discovery_cache_outside_xdist_is_main(make_api: Any, kubeconfig: Path,
                                               cache_dir: Path, server: FakeAPIServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    api = make_api(kubeconfig, cache_dir=cache_dir)
    api.k8s_list("v1", "Pod", "kube-system")
    assert sorted(p.name for p in cache_dir.iterdir()) == [cache_file(cache_dir, server, "main").name]


def test_cached_discovery_finds_a_crd_installed_later(make_api: Any, kubeconfig: Path,
                                                      server: FakeAPIServer, cache_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache written before cilium.io/v2 existed must not hide it (one re-discovery)."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    make_api(kubeconfig, cache_dir=cache_dir).k8s_list("v1", "Pod", "kube-system")
    cache = cache_file(cache_dir, server, "gw1")
    doc = json.loads(cache.read_text(encoding="utf-8"))
    doc["resources"]["apis"].pop("cilium.io", None)
    cache.write_text(json.dumps(doc), encoding="utf-8")

    api = make_api(kubeconfig, cache_dir=cache_dir)
    applied = api.k8s_apply(json.loads(json.dumps(CNP)), namespace="cilab-test")
    assert applied["metadata"]["name"] == "allow-dns"
    assert "/apis" in discovery_requests(server)


def test_two_servers_never_share_a_discovery_cache(make_api: Any, kubeconfig: Path, server: FakeAPIServer,
                                                   cache_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Another cluster's discovery must not answer for this one (a missing CRD would look like a 404)."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    make_api(kubeconfig, cache_dir=cache_dir).k8s_list("v1", "Pod", "kube-system")
    with FakeAPIServer() as other:
        other_api = make_api(other.write_kubeconfig(tmp_path / "other-kubeconfig"), cache_dir=cache_dir)
        other_api.k8s_list("v1", "Pod", "kube-system")
        assert "/version" in discovery_requests(other)
        assert {p.name for p in cache_dir.iterdir()} == {cache_file(cache_dir, server, "gw0").name,
                                                         cache_file(cache_dir, other, "gw0").name}
