"""The project's own Kubernetes manifests (fixtures/manifests/), applied per scenario.

Each object is applied into the scenario's namespace and labelled in the lab state with
its file (`starwars/app.yaml`), so a transcript shows which manifest was in place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cilab.lab import Lab

MANIFESTS = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"


def load(relpath: str) -> list[dict[str, Any]]:
    """The objects of a manifest file (multi-document YAML), in file order."""
    path = MANIFESTS / relpath
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "metadata" not in d:
            raise ValueError(f"{path}: every document needs kind and metadata")
    return docs


def apply(lab: Lab, relpath: str, namespace: str) -> list[dict[str, Any]]:
    """Server-side apply every object of `relpath` in `namespace`.  A pod pinned to a
    write-up node (`nodeName: k8s-ctr`) is pinned to the lab's node of that role
    (cilab.roles.place).  An object refused as "not yet" (`ServiceNotReady`: a pod in a
    namespace so fresh that its `default` ServiceAccount does not exist yet) is applied
    again within the default budget."""
    from cilab import roles
    found = roles.of_lab(lab)
    return [lab.when_ready(lambda obj=obj: lab.apply(obj, namespace=namespace, label=relpath),
                           what=f"{obj['kind']} {obj['metadata']['name']} accepted in {namespace}")
            for obj in (roles.place(o, found) for o in load(relpath))]


def delete(lab: Lab, relpath: str, namespace: str) -> None:
    for obj in reversed(load(relpath)):
        lab.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
