"""Grafana (of the monitoring example) through its HTTP API on NodePort 30002.

The example's grafana.ini enables anonymous access with org_role Admin
(cilium-1.17.6-facts.md §3 "Grafana auth"), so the API answers without credentials, as
the seed's browser did.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cilab.lab import Lab

GRAFANA_NODE_PORT = 30002


def _get(lab: Lab, url: str) -> Any:
    return lab.when_ready(lambda: lab.http_get(url, timeout=15), what=f"Grafana answers GET {url}",
                          budget="metrics")


def _get_json(lab: Lab, url: str) -> Any:
    resp = _get(lab, url)
    assert resp.status == 200, f"GET {url}: expected 200, saw {resp.status} {resp.body[:200]!r}"
    try:
        return json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"GET {url}: expected JSON, saw {resp.body[:200]!r}") from None


def dashboard_titles(lab: Lab, base: str) -> list[str]:
    """Titles of every dashboard Grafana knows (`GET /api/search?type=dash-db`)."""
    items = _get_json(lab, f"{base}/api/search?type=dash-db")
    assert isinstance(items, list), f"GET {base}/api/search: expected a JSON list, saw {str(items)[:200]}"
    return [str(i.get("title")) for i in items if i.get("type", "dash-db") == "dash-db"]


@dataclass(frozen=True)
class DataSource:
    uid: str
    name: str
    type: str
    url: str
    access: str


def datasources(lab: Lab, base: str) -> list[DataSource]:
    """`GET /api/datasources`."""
    items = _get_json(lab, f"{base}/api/datasources")
    assert isinstance(items, list), f"GET {base}/api/datasources: expected a JSON list, saw {str(items)[:200]}"
    return [DataSource(str(d.get("uid", "")), str(d.get("name", "")), str(d.get("type", "")),
                       str(d.get("url", "")), str(d.get("access", ""))) for d in items]


def proxied_query(lab: Lab, base: str, uid: str, promql: str) -> tuple[int, Any]:
    """A Prometheus instant query through Grafana's data source proxy
    (`/api/datasources/proxy/uid/<uid>/api/v1/query`): (HTTP status, JSON or text)."""
    url = f"{base}/api/datasources/proxy/uid/{uid}/api/v1/query?query={quote(promql, safe='')}"
    resp = _get(lab, url)
    try:
        return resp.status, json.loads(resp.body)
    except ValueError:
        return resp.status, resp.body
