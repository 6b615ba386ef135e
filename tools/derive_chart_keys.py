#!/usr/bin/env python3
"""Derive the list of valid dotted value keys of a Helm chart.

The list is what the unit tests check every key of provisioning/helm/*.yaml against, so a
typo (or a key that sits one level off, such as hubble.export.static.fileMaxSizeMb) fails
in CI instead of being silently ignored by Helm on the real lab.

Input (first argument) is any of:

* a packaged chart, e.g. the file ``helm pull cilium/cilium --version 1.17.6`` writes
  (``cilium-1.17.6.tgz``); its ``<chart>/values.yaml`` and ``<chart>/templates/*`` are read;
* an unpacked chart directory (``values.yaml`` plus ``templates/``);
* a bare ``values.yaml`` (then only the first key set below is produced).

Two key sets are written, one key per line, in sorted order:

1. **values.yaml keys.**  The file is loaded with PyYAML and flattened to dotted paths.
   Mappings are walked; scalars, ``null`` and lists are leaves (a list is set as a whole,
   Helm never merges list items).  A mapping whose default is empty (``{}``) is a leaf too
   *and* is free-form: it is additionally written as ``key.*``, meaning any sub-key.
2. **Template-only keys.**  Some valid values have no default in values.yaml; the chart
   documents them only as a commented-out line (Cilium's ``#kubeProxyReplacement: "false"``
   is the prominent case).  They are found as ``.Values.<path>`` references in the
   templates and kept when they are neither a key of set 1, nor a parent of one, nor below
   a leaf of set 1.  ``templates/validate.yaml`` is skipped: it references removed options
   only to reject them (``tunnel``, ``enableCnpStatusUpdates``, ...), so they are not
   valid keys.

A checker treats a dotted key K as valid when K is listed, or when some prefix P of K is
listed as ``P.*``.

Usage::

    python tools/derive_chart_keys.py cilium-1.17.6.tgz \\
        --origin "cilium/cilium-cli@<commit>:vendor/github.com/cilium/charts/cilium-1.17.6.tgz" \\
        -o data/chart-keys/cilium-1.17.6.txt
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

# `.Values.a.b.c` (also `$.Values...`); stops at the first non-identifier character.
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
# Members of the Values object that are methods, not keys.
VALUES_METHODS = {"AsMap"}
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")
SKIPPED_TEMPLATES = {"validate.yaml"}


class ChartSource:
    """values.yaml text plus the template texts of one chart."""

    def __init__(
        self,
        values_text: str,
        templates: dict[str, str],
        description: str,
        sha256: str | None,
        chart_meta: dict[str, Any] | None,
    ) -> None:
        self.values_text = values_text
        self.templates = templates
        self.description = description
        self.sha256 = sha256
        self.chart_meta = chart_meta or {}


def _load_tgz(path: Path) -> ChartSource:
    data = path.read_bytes()
    values_text: str | None = None
    chart_meta: dict[str, Any] | None = None
    templates: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = member.name.split("/")
            # <chart>/values.yaml, <chart>/Chart.yaml, <chart>/templates/... only; the
            # sub-charts under <chart>/charts/ have values of their own.
            if len(parts) == 2 and parts[1] == "values.yaml":
                values_text = _read_member(tar, member)
            elif len(parts) == 2 and parts[1] == "Chart.yaml":
                chart_meta = yaml.safe_load(_read_member(tar, member))
            elif len(parts) >= 3 and parts[1] == "templates":
                templates["/".join(parts[2:])] = _read_member(tar, member)
    if values_text is None:
        raise SystemExit(f"{path}: no <chart>/values.yaml inside the archive")
    return ChartSource(
        values_text, templates, str(path), hashlib.sha256(data).hexdigest(), chart_meta
    )


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    assert handle is not None
    return handle.read().decode("utf-8")


def _load_dir(path: Path) -> ChartSource:
    values = path / "values.yaml"
    if not values.is_file():
        raise SystemExit(f"{path}: no values.yaml in this directory")
    templates: dict[str, str] = {}
    tdir = path / "templates"
    if tdir.is_dir():
        for file in sorted(tdir.rglob("*")):
            if file.is_file():
                templates[file.relative_to(tdir).as_posix()] = file.read_text("utf-8")
    chart_meta = None
    if (path / "Chart.yaml").is_file():
        chart_meta = yaml.safe_load((path / "Chart.yaml").read_text("utf-8"))
    return ChartSource(values.read_text("utf-8"), templates, str(path), None, chart_meta)


def load_source(path: Path) -> ChartSource:
    if path.is_dir():
        return _load_dir(path)
    if path.name.endswith((".tgz", ".tar.gz")):
        return _load_tgz(path)
    data = path.read_bytes()
    return ChartSource(data.decode("utf-8"), {}, str(path), hashlib.sha256(data).hexdigest(), None)


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """Yield (dotted key, free_form) for every leaf; free_form marks an empty mapping."""
    if isinstance(tree, dict):
        if not tree:
            if prefix:
                yield prefix, True
            return
        for key, value in tree.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            yield from flatten(value, name)
    elif prefix:
        yield prefix, False


def values_keys(values_text: str) -> tuple[set[str], set[str]]:
    tree = yaml.safe_load(values_text) or {}
    if not isinstance(tree, dict):
        raise SystemExit("values.yaml does not hold a mapping at the top level")
    leaves: set[str] = set()
    free_form: set[str] = set()
    for key, is_free in flatten(tree):
        leaves.add(key)
        if is_free:
            free_form.add(key)
    return leaves, free_form


def template_refs(templates: dict[str, str]) -> set[str]:
    refs: set[str] = set()
    for name, text in templates.items():
        if Path(name).name in SKIPPED_TEMPLATES or not name.endswith(TEMPLATE_SUFFIXES):
            continue
        for match in VALUES_REF.finditer(text):
            parts = match.group(1).lstrip(".").split(".")
            if parts[0] in VALUES_METHODS:
                continue
            refs.add(".".join(parts))
    return refs


def _prefixes(key: str) -> Iterable[str]:
    parts = key.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def template_only_keys(refs: set[str], leaves: set[str]) -> set[str]:
    parents = {p for leaf in leaves for p in _prefixes(leaf)}
    extra: set[str] = set()
    for ref in refs:
        if ref in leaves or ref in parents:
            continue
        if any(p in leaves for p in _prefixes(ref)):
            continue  # below a leaf: a list, a scalar or a free-form map
        extra.add(ref)
    # Keep only the outermost of nested template-only references (a.b and a.b.c -> both
    # are reported; a.b would be a parent of a.b.c, so drop a.b).
    extra_parents = {p for key in extra for p in _prefixes(key)}
    return {key for key in extra if key not in extra_parents}


def render(source: ChartSource, note: str | None) -> str:
    leaves, free_form = values_keys(source.values_text)
    extra = (
        template_only_keys(template_refs(source.templates), leaves) if source.templates else set()
    )
    name = source.chart_meta.get("name", "?")
    version = source.chart_meta.get("version", "?")
    lines = [
        f"# Valid dotted value keys of the Helm chart {name} {version}.",
        "# Generated by tools/derive_chart_keys.py; do not edit by hand, re-derive instead.",
    ]
    if note:
        lines.append(f"# Source: {note}")
    lines.append(
        f"# Input: {Path(source.description).name}"
        + (f" (sha256 {source.sha256})" if source.sha256 else "")
    )
    lines += [
        "# Derivation: <chart>/values.yaml loaded with PyYAML and flattened to dotted paths",
        "#   (mappings walked; scalars, null and lists are leaves; an empty mapping is a leaf",
        "#   and also written as KEY.* = any sub-key), plus keys the templates read as",
        "#   .Values.<path> that values.yaml only mentions in a comment (templates/validate.yaml",
        "#   is skipped: it names removed options only to reject them).",
        "# A key K is valid when K is listed or some prefix P of K is listed as P.*.",
        f"# Counts: {len(leaves)} values.yaml keys ({len(free_form)} free-form maps),"
        f" {len(extra)} template-only keys.",
        "",
        "# --- keys with a default in values.yaml ---",
    ]
    for key in sorted(leaves):
        lines.append(key)
        if key in free_form:
            lines.append(f"{key}.*")
    lines += ["", "# --- keys read by the templates, default only in a comment ---"]
    lines += sorted(extra)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source", type=Path, help="chart .tgz, unpacked chart directory, or values.yaml"
    )
    parser.add_argument(
        "--origin",
        dest="note",
        metavar="TEXT",
        help="where the input came from (repo, path, commit); goes in the header",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = render(load_source(args.source), args.note)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
