"""Test doubles of the monitoring chapter on loopback (shared by the unit test and the
self-test of a whole run): a manifest of our own under the example's URL's base name (the
stand-in kubectl, tests/standin_kubectl.py, never fetches a URL), a kubectl script with its
environment baked in (sudo resets it), and the Prometheus and Grafana readiness endpoints on
a loopback address, where the fake API server's Nodes say the lab's nodes are."""
from __future__ import annotations

import json
import random
import shlex
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_NAME = "monitoring-example.yaml"
#: an object outside the example's namespace (the example's ClusterRole/ClusterRoleBinding
#: are cluster-wide; the fake API server has no RBAC, so a kube-system ConfigMap stands for them)
SHARED_OBJECT = ("ConfigMap", "kube-system", "cilab-test-example-clusterwide")


def _deployment(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "cilium-monitoring"},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1000, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1}}


def _service(name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "cilium-monitoring"},
            "spec": {"type": "ClusterIP", "ports": [{"port": port, "targetPort": port}]}}


def write_manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    kind, ns, name = SHARED_OBJECT
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cilium-monitoring"}},
            {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "data": {"role": "x"}},
            _deployment("prometheus"), _deployment("grafana"),
            _service("prometheus", 9090), _service("grafana", 3000)]
    path = folder / MANIFEST_NAME
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def kubectl_script(folder: Path) -> Path:
    exe = folder / "kubectl"
    exe.write_text(f"#!/bin/sh\nCILAB_STANDIN_MANIFESTS={shlex.quote(str(folder))} exec {shlex.quote(sys.executable)} "
                   f"{shlex.quote(str(ROOT / 'tests' / 'standin_kubectl.py'))} \"$@\"\n")
    exe.chmod(0o755)
    return exe


def kubectl_calls(folder: Path) -> list[list[str]]:
    log = folder / "kubectl.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


class _Ready(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"database": "ok"}' if self.path == "/api/health" else b"Prometheus Server is Ready.\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def readiness_endpoints() -> Iterator[str]:
    """HTTP servers on <loopback address>:30001 and :30002 answering as a ready Prometheus
    and Grafana; yields that address (a random 127.x address where both ports are free)."""
    for _ in range(50):
        address = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
        servers: list[ThreadingHTTPServer] = []
        try:
            for port in (30001, 30002):
                servers.append(ThreadingHTTPServer((address, port), _Ready))
        except OSError:
            for s in servers:
                s.server_close()
            continue
        threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
        for t in threads:
            t.start()
        try:
            yield address
        finally:
            for s in servers:
                s.shutdown()
                s.server_close()
        return
    raise RuntimeError("no loopback address with ports 30001 and 30002 free")


def nodes_at(api: Any, address: str) -> None:
    """Every Node of the fake API server at `address` (loopback: no traffic leaves the host)."""
    from tests.unit.fake_apiserver import node
    for i, name in enumerate(api.nodes):
        api.put(node(name, ip=address, control_plane=name in api.control_plane))
