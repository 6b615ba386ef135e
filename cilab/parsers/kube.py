"""Helpers over Kubernetes objects given as API dicts, and two Cilium text formats.

Objects come either as the API server's JSON (camelCase keys: ``targetPort``) or as the
python client's ``to_dict()`` (snake_case keys: ``target_port``); every lookup accepts
both.  A ``…List`` object (``{"items": [...]}``) is accepted where a list is expected.

The shapes used are the ones the lab shows (write-up, "Enabling Hubble"): Service
``hubble-relay`` 80 → endpoints ``:4245``, ``hubble-peer`` 443 → every node ``:4244``,
``hubble-ui`` NodePort ``80:31234`` → ``:8081``; ConfigMap ``hubble-relay-config`` key
``config.yaml`` (cilium-1.17.6-facts.md §6); ``cilium config view`` key/value columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from cilab.parsers import _json

_get, _path, _items = _json.get, _json.path, _json.items


def _name(obj: dict[str, Any]) -> str:
    name = _path(obj, "metadata", "name")
    if not isinstance(name, str):
        raise ValueError(f"object without metadata.name: {str(obj)[:120]}")
    return name


def _port_number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what} is not a port number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what} is not a port number: {value!r}") from None


# ------------------------------------------------------------------------- services


@dataclass(frozen=True)
class ServicePort:
    """One entry of Service.spec.ports; `target_port` is a number or a port name."""

    name: str | None
    port: int
    target_port: int | str | None
    node_port: int | None
    protocol: str = "TCP"


def service_type(svc: dict[str, Any]) -> str:
    """spec.type; the API default is ClusterIP."""
    return str(_path(svc, "spec", "type") or "ClusterIP")


def service_ports(svc: dict[str, Any]) -> list[ServicePort]:
    """spec.ports of a Service, in order."""
    ports = []
    for entry in _path(svc, "spec", "ports") or []:
        if _get(entry, "port") is None:
            raise ValueError(f"service port without 'port': {entry!r}")
        target = _get(entry, "targetPort")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        node_port = _get(entry, "nodePort")
        ports.append(ServicePort(
            name=_get(entry, "name"),
            port=_port_number(_get(entry, "port"), "port"),
            target_port=target,
            node_port=None if node_port is None else _port_number(node_port, "nodePort"),
            protocol=str(_get(entry, "protocol") or "TCP"),
        ))
    return ports


def endpoint_addresses(objs: list[dict[str, Any]] | dict[str, Any]) -> set[tuple[str, int]]:
    """(address, port) pairs a Service routes to.

    EndpointSlices (discovery.k8s.io/v1): `endpoints[].addresses` × `ports[].port`,
    leaving out endpoints whose `conditions.ready` is false.  core/v1 Endpoints:
    `subsets[].addresses[].ip` × `subsets[].ports[].port` (notReadyAddresses left out).
    """
    pairs: set[tuple[str, int]] = set()
    for obj in _items(objs):
        if _get(obj, "subsets") is not None or _get(obj, "kind") == "Endpoints":
            for subset in _get(obj, "subsets") or []:
                ips = [str(_get(a, "ip")) for a in _get(subset, "addresses") or []]
                ports = [_port_number(_get(p, "port"), "port")
                         for p in _get(subset, "ports") or [] if _get(p, "port") is not None]
                pairs.update((ip, port) for ip in ips for port in ports)
            continue
        ports = [_port_number(_get(p, "port"), "port")
                 for p in _get(obj, "ports") or [] if _get(p, "port") is not None]
        for endpoint in _get(obj, "endpoints") or []:
            if _path(endpoint, "conditions", "ready") is False:
                continue
            pairs.update((str(addr), port) for addr in _get(endpoint, "addresses") or []
                         for port in ports)
    return pairs


# ------------------------------------------------------------------ pods & workloads


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = _get(obj, "spec") or {}
    template = _path(spec, "template", "spec")
    return template if isinstance(template, dict) else spec


def _container(obj: dict[str, Any], container: str) -> dict[str, Any]:
    spec = _pod_spec(obj)
    for entry in (_get(spec, "containers") or []) + (_get(spec, "initContainers") or []):
        if _get(entry, "name") == container:
            return entry
    raise ValueError(f"no container named {container!r} in {_path(obj, 'metadata', 'name')!r}")


def container_env(obj: dict[str, Any], container: str) -> dict[str, str]:
    """Plain `value` env entries of a container of a Pod/Deployment/DaemonSet
    (entries with `valueFrom` are left out; a bare name means the empty string)."""
    env: dict[str, str] = {}
    for entry in _get(_container(obj, container), "env") or []:
        if _get(entry, "value") is not None:
            env[str(_get(entry, "name"))] = str(_get(entry, "value"))
        elif _get(entry, "valueFrom") is None:
            env[str(_get(entry, "name"))] = ""
    return env


def container_ports(obj: dict[str, Any], container: str) -> dict[str, int]:
    """Named ports of a container: name -> containerPort (unnamed ports left out)."""
    return {str(_get(p, "name")): _port_number(_get(p, "containerPort"), "containerPort")
            for p in _get(_container(obj, container), "ports") or [] if _get(p, "name")}


def deployment_ready(obj: dict[str, Any]) -> tuple[int, int]:
    """(status.readyReplicas, spec.replicas), each 0 when missing."""
    return (int(_path(obj, "status", "readyReplicas") or 0),
            int(_path(obj, "spec", "replicas") or 0))


def daemonset_ready(obj: dict[str, Any]) -> tuple[int, int]:
    """(status.numberReady, status.desiredNumberScheduled), each 0 when missing."""
    return (int(_path(obj, "status", "numberReady") or 0),
            int(_path(obj, "status", "desiredNumberScheduled") or 0))


def node_internal_ips(nodes: list[dict[str, Any]] | dict[str, Any]) -> dict[str, str]:
    """Node name -> its first InternalIP (nodes without one are left out)."""
    ips: dict[str, str] = {}
    for node in _items(nodes):
        for addr in _path(node, "status", "addresses") or []:
            if _get(addr, "type") == "InternalIP" and _get(addr, "address"):
                ips.setdefault(_name(node), str(_get(addr, "address")))
    return ips


def secret_types(secrets: list[dict[str, Any]] | dict[str, Any]) -> dict[str, str]:
    """Secret name -> type (the API default is Opaque)."""
    return {_name(s): str(_get(s, "type") or "Opaque") for s in _items(secrets)}


# ------------------------------------------------------------------------ text formats


def parse_relay_config(text: str) -> dict[str, Any]:
    """The `config.yaml` key of ConfigMap hubble-relay-config (facts §6), e.g.
    ``peer-service: "hubble-peer.kube-system.svc.cluster.local.:443"``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"hubble-relay config.yaml is not YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"hubble-relay config.yaml is not a mapping: {str(data)[:120]!r}")
    return data


_CONFIG_LINE = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9._/-]*)(?:\s+(?P<value>.*?))?\s*$")


def parse_cilium_config_view(text: str) -> dict[str, str]:
    """`cilium config view`: one ``key  value`` per line, value possibly empty
    (``hubble-export-allowlist``) or holding blanks (``hubble-metrics dns drop …``)."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _CONFIG_LINE.match(line)
        if match is None:
            raise ValueError(f"cilium config view: cannot parse line {line!r}")
        config[match["key"]] = match["value"] or ""
    return config
