"""The lab's nodes by role: the write-up's names on any cluster.

The write-up (and every feature file) names the nodes k8s-ctr (the control plane, where the
student works and curl-pod runs), k8s-w1 and k8s-w2 (the workers).  A cluster the suite did
not build (`--lab kubeconfig`) names them as it likes, so the suite finds them by role once
per run: the control-plane node by its role label (`node-role.kubernetes.io/control-plane`,
which kubeadm sets), the workers as the other nodes in name order.  A manifest that pins a
pod to a write-up node (`spec.nodeName: k8s-ctr`) is placed on the node of that role
(`place`), and messages and the report give the real names (`legend`).

The vagrant lab and the replay of the reference keep the write-up's names (`WRITE_UP`); a
recording keeps the roles of the lab it was recorded on (its header's `roles`).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from cilab.errors import ConfigError

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
#: the write-up's names: the control plane, then the workers
WRITE_UP_NAMES = ("k8s-ctr", "k8s-w1", "k8s-w2")


@dataclass(frozen=True)
class NodeRoles:
    control_plane: str
    workers: tuple[str, ...]

    def by_write_up_name(self) -> dict[str, str]:
        """``{"k8s-ctr": <control plane>, "k8s-w1": <first worker>, "k8s-w2": <second worker>}``."""
        return dict(zip(WRITE_UP_NAMES, (self.control_plane, *self.workers)))

    @property
    def renamed(self) -> bool:
        """The lab's names are not the write-up's."""
        return any(k != v for k, v in self.by_write_up_name().items())

    def legend(self) -> str:
        """``k8s-ctr is cp-1, k8s-w1 is node-a, k8s-w2 is node-b`` (the write-up's name first)."""
        return ", ".join(f"{k} is {v}" for k, v in self.by_write_up_name().items())

    def real(self, name: str) -> str:
        """The lab's node for a write-up name (any other name as given)."""
        return self.by_write_up_name().get(name, name)

    def say(self, text: str) -> str:
        """`text` with each write-up node name followed by the lab's name where they differ:
        ``on k8s-ctr`` -> ``on k8s-ctr (cp-1)``."""
        if not self.renamed:
            return text
        names = self.by_write_up_name()
        return re.sub(r"\bk8s-(?:ctr|w1|w2)\b(?![-\w]|\.\w)",
                      lambda m: m[0] if names[m[0]] == m[0] else f"{m[0]} ({names[m[0]]})", text)

    def to_json(self) -> dict[str, Any]:
        return {"control_plane": self.control_plane, "workers": list(self.workers)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NodeRoles":
        return cls(str(data["control_plane"]), tuple(str(w) for w in data["workers"]))

    def properties(self) -> dict[str, str]:
        """For the report's environment."""
        return {"nodes.control-plane": self.control_plane, "nodes.workers": ", ".join(self.workers),
                "nodes.write-up-names": self.legend()}


WRITE_UP = NodeRoles("k8s-ctr", ("k8s-w1", "k8s-w2"))


def from_nodes(nodes: list[dict[str, Any]], where: str = "the cluster") -> NodeRoles:
    """The roles of a Node list (the API's objects).  A cluster without a node labelled
    control-plane, or without two other nodes, is not the write-up's lab: one line
    (`ConfigError`)."""
    def labels(n: dict[str, Any]) -> dict[str, Any]:
        return (n.get("metadata") or {}).get("labels") or {}
    names = sorted(str((n.get("metadata") or {}).get("name", "?")) for n in nodes)
    control = sorted(str(n["metadata"]["name"]) for n in nodes if CONTROL_PLANE_LABEL in labels(n))
    workers = tuple(name for name in names if name not in control)
    listed = ", ".join(names) or "none"
    if len(names) < 3:
        raise ConfigError(f"{where} has {len(names)} node(s) ({listed}); the write-up's lab has three, a control "
                          f"plane and two workers (k8s-ctr, k8s-w1, k8s-w2), and the chapters need all three")
    if not control:
        raise ConfigError(f"no node of {where} ({listed}) carries the label {CONTROL_PLANE_LABEL}: the suite runs "
                          f"the student's k8s-ctr commands and places curl-pod on the control-plane node; "
                          f"label it with `kubectl label node NAME {CONTROL_PLANE_LABEL}=`")
    if len(workers) < 2:
        raise ConfigError(f"{where} has {len(workers)} node(s) without the label {CONTROL_PLANE_LABEL} "
                          f"({', '.join(workers) or 'none'}); the chapters need two workers (k8s-w1, k8s-w2: "
                          f"webpod runs one replica on each)")
    return NodeRoles(control[0], workers)


def of_lab(lab: Any) -> NodeRoles:
    """The roles found for this run (`Lab.info["roles"]`), or the write-up's."""
    found = (getattr(lab, "info", None) or {}).get("roles")
    if isinstance(found, NodeRoles):
        return found
    if isinstance(found, dict):
        return NodeRoles.from_json(found)
    return WRITE_UP


def place(manifest: dict[str, Any], roles: NodeRoles) -> dict[str, Any]:
    """The manifest with a pod pinned to a write-up node (`spec.nodeName`, also in a pod
    template) pinned to the lab's node of that role instead; unchanged when the names agree."""
    specs = [manifest.get("spec") or {}]
    template = ((manifest.get("spec") or {}).get("template") or {}).get("spec")
    if isinstance(template, dict):
        specs.append(template)
    if not any(isinstance(s, dict) and s.get("nodeName") in WRITE_UP_NAMES
               and roles.real(s["nodeName"]) != s["nodeName"] for s in specs):
        return manifest
    out = copy.deepcopy(manifest)
    for spec in (out.get("spec") or {}, ((out.get("spec") or {}).get("template") or {}).get("spec")):
        if isinstance(spec, dict) and spec.get("nodeName") in WRITE_UP_NAMES:
            spec["nodeName"] = roles.real(spec["nodeName"])
    return out
