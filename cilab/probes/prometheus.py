"""Prometheus (of the monitoring example) and the metrics endpoints it scrapes.

The runner reaches Prometheus on the NodePort the lab publishes it on (30001, seed
2660-2703) and the metrics servers of the agents on the node IPs (hostNetwork: 9962,
9965).  Prometheus' HTTP API answers JSON (`/api/v1/targets`, `/api/v1/query`); metrics
endpoints answer the Prometheus text format, parsed with cilab.parsers.metrics.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from cilab.lab import Lab
from cilab.parsers.metrics import Sample, parse_metrics
from cilab.probes import k8s

PROMETHEUS_NODE_PORT = 30001
HUBBLE_METRICS_PORT = 9965


def base_url(lab: Lab, node_port: int = PROMETHEUS_NODE_PORT) -> str:
    """http://<first node's InternalIP>:<NodePort> (the seed opens 192.168.10.100:30001)."""
    cluster = k8s.nodes(lab)
    return f"http://{cluster[min(cluster)]}:{node_port}"


def _get(lab: Lab, url: str) -> Any:
    return lab.when_ready(lambda: lab.http_get(url, timeout=15), what=f"GET {url} answered", budget="metrics")


def _json(lab: Lab, url: str) -> dict[str, Any]:
    resp = _get(lab, url)
    assert resp.status == 200, f"GET {url}: expected 200, saw {resp.status} {resp.body[:200]!r}"
    try:
        doc = json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"GET {url}: expected JSON, saw {resp.body[:200]!r}") from None
    assert isinstance(doc, dict) and doc.get("status") == "success", \
        f"GET {url}: expected status success, saw {str(doc)[:300]}"
    return doc


@dataclass(frozen=True)
class Target:
    job: str
    host: str
    port: int
    health: str
    last_error: str
    labels: dict[str, str]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        err = f" ({self.last_error})" if self.last_error else ""
        return f"{self.address} [{self.job}] {self.health}{err}"


def targets(lab: Lab, base: str) -> list[Target]:
    """Prometheus' active scrape targets (`GET /api/v1/targets?state=active`)."""
    doc = _json(lab, f"{base}/api/v1/targets?state=active")
    out = []
    for t in (doc.get("data") or {}).get("activeTargets") or []:
        parts = urlsplit(t.get("scrapeUrl", ""))
        labels = t.get("labels") or {}
        out.append(Target(job=labels.get("job", t.get("scrapePool", "?")), host=parts.hostname or "?",
                          port=parts.port or 0, health=t.get("health", "?"),
                          last_error=t.get("lastError", ""), labels=dict(labels)))
    return out


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float


def query(lab: Lab, base: str, promql: str) -> list[Series]:
    """An instant query (`GET /api/v1/query?query=...`): the vector's series."""
    doc = _json(lab, f"{base}/api/v1/query?query={quote(promql, safe='')}")
    data = doc.get("data") or {}
    assert data.get("resultType") == "vector", \
        f"query {promql!r}: expected a vector, saw {data.get('resultType')!r}"
    return [Series(dict(r.get("metric") or {}), float(r["value"][1])) for r in data.get("result") or []]


def scrape(lab: Lab, host: str, port: int = HUBBLE_METRICS_PORT) -> list[Sample]:
    """A metrics endpoint on a node, `GET http://<host>:<port>/metrics`, parsed."""
    url = f"http://{host}:{port}/metrics"
    resp = _get(lab, url)
    assert resp.status == 200, f"GET {url}: expected 200, saw {resp.status}"
    try:
        return parse_metrics(resp.body)
    except ValueError as exc:
        raise AssertionError(f"GET {url}: {exc}") from None


def scrape_interval(configmap: dict[str, Any]) -> str:
    """`global.scrape_interval` of the example's prometheus ConfigMap (key prometheus.yaml,
    the file Prometheus runs with: --config.file=/etc/prometheus/prometheus.yaml), as
    written there, or a one-line reason it cannot be read.  Prometheus's own default (1m in
    the server, 15s in the example config it ships) applies when the key is absent."""
    import yaml

    text = (configmap.get("data") or {}).get("prometheus.yaml")
    if text is None:
        return f"no key prometheus.yaml (keys: {', '.join(sorted(configmap.get('data') or {})) or 'none'})"
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return f"prometheus.yaml that is not YAML ({str(exc).splitlines()[0]})"
    glob = doc.get("global") if isinstance(doc, dict) else None
    if not isinstance(glob, dict) or "scrape_interval" not in glob:
        return "no global scrape_interval (Prometheus's default applies)"
    return str(glob["scrape_interval"])
