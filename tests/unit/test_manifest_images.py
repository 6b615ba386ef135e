"""Every image the suite applies is pinned by a tag (never `latest`, never the default
tag), so a real lab pulls the same images next month (issue 8, point 5)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"


def images(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for v in node.values() for i in images(v)]
    if isinstance(node, list):
        return [i for v in node for i in images(v)]
    return []


def test_every_applied_image_is_pinned_by_tag() -> None:
    seen = {}
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for image in images(doc):
                seen[image] = path.relative_to(MANIFESTS)
    assert {"traefik/whoami:v1.11.0", "nicolaka/netshoot:v0.13"} <= set(seen)
    for image, path in seen.items():
        name = image.split("@", 1)[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        assert re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{path}: image {image} is not pinned by a version tag"
