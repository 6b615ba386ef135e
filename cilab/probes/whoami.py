"""webpod (traefik/whoami) and curl-pod in a scenario's namespace (seed lines 2398-2533).

whoami answers every request with a plain-text echo whose first line names the pod that
answered (``Hostname: webpod-697b545f57-b2xst``), so a scenario knows which backend, and
thus which node, served its request.
"""
from __future__ import annotations

import re
from typing import Any

from cilab.lab import Lab
from cilab.parsers import kube
from cilab.probes import k8s

WEBPOD_MANIFEST = "webpod/webpod.yaml"
CURL_POD_MANIFEST = "webpod/curl-pod.yaml"
CURL_POD = "curl-pod"
WEBPOD = "webpod"
_HOSTNAME = re.compile(r"^Hostname:\s*(\S+)\s*$", re.MULTILINE)


def url(namespace: str, path: str = "/") -> str:
    """webpod's Service by its namespace-qualified DNS name (the seed's `curl webpod`)."""
    return f"http://{WEBPOD}.{namespace}.svc.cluster.local{path}"


def answered_by(body: str) -> str | None:
    """The pod named on whoami's ``Hostname:`` line, None when the body has none."""
    m = _HOSTNAME.search(body)
    return m.group(1) if m else None


def pod_ready(pod: dict[str, Any] | None) -> tuple[bool, str]:
    if pod is None:
        return False, "absent"
    status = pod.get("status") or {}
    phase = status.get("phase", "?")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    return phase == "Running" and ready, f"{phase}{', Ready' if ready else ', not Ready'}"


def check_backends(lab: Lab, namespace: str, deployment: dict[str, Any]) -> None:
    """The webpod Service's ready endpoints are exactly the IPs of the Ready pods the
    Deployment selects (`spec.selector`) in `namespace`: until then a request to the
    Service may reach no backend, one only, or an address that is not webpod's."""
    selector = k8s.selector_of(deployment)
    assert selector, f"Deployment {namespace}/{WEBPOD} has no spec.selector.matchLabels"
    k8s.check_endpoints_are(lab, namespace, WEBPOD, k8s.pods(lab, namespace, selector), WEBPOD)


def wait_ready(lab: Lab, namespace: str) -> None:
    """webpod's Deployment fully ready with its Service's endpoints exactly its pods, and
    curl-pod Running and Ready (bounded): what a positive request to webpod needs first."""
    def deployment() -> None:
        obj = k8s.deployment(lab, namespace, WEBPOD)
        assert obj is not None, f"Deployment {namespace}/{WEBPOD} does not exist"
        ready, want = kube.deployment_ready(obj)
        assert want > 0 and ready == want, f"Deployment {namespace}/{WEBPOD}: {ready}/{want} ready"
        check_backends(lab, namespace, obj)

    def client() -> None:
        ok, seen = pod_ready(lab.get("v1", "Pod", CURL_POD, namespace))
        assert ok, f"Pod {namespace}/{CURL_POD}: {seen}"
    lab.eventually(deployment, what=f"Deployment {WEBPOD} ready behind its Service", budget="rollout")
    lab.eventually(client, what=f"Pod {CURL_POD} ready", budget="rollout")


def pod(lab: Lab, namespace: str, name: str) -> dict[str, Any]:
    obj = lab.get("v1", "Pod", name, namespace)
    if obj is None:
        raise AssertionError(f"Pod {namespace}/{name} does not exist")
    return obj


def pod_ip(obj: dict[str, Any]) -> str | None:
    return (obj.get("status") or {}).get("podIP")
