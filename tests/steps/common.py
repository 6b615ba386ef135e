"""Steps shared by every chapter: lab stages and the per-scenario context."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from pytest_bdd import given

from cilab.lab import Lab
from cilab.plugin import scenario_namespace


@pytest.fixture
def ctx() -> dict[str, Any]:
    """What a When step observed, for the Then steps of the same scenario."""
    return {}


def skip_unless_checkable(request: pytest.FixtureRequest, stage_record: dict[str, Any]) -> None:
    """Skip, with one line naming --allow-helm-changes, a scenario that needs a stage the lab
    is not in when the suite may not change it (a lab it did not build: cilab.consent)."""
    from cilab.stages import require_stage, stage_need
    reason = require_stage(stage_record, stage_need({m.name for m in request.node.iter_markers()}))
    if reason is not None:
        pytest.skip(reason)


@given("the lab has Hubble enabled", target_fixture="stage_record")
def lab_has_hubble(request: pytest.FixtureRequest, hubble_stage: dict[str, Any], cluster_shared_lock: None,
                   lab: Lab) -> dict[str, Any]:
    skip_unless_checkable(request, hubble_stage)
    return hubble_stage


@contextmanager
def fresh_namespace(lab: Lab, name: str) -> Iterator[str]:
    """A namespace created clean and deleted on exit, even when a step failed.

    Leftovers of an interrupted run are deleted (and awaited) first, so a rerun starts clean.
    """
    lab.delete("v1", "Namespace", name)

    def gone() -> None:
        ns = lab.get("v1", "Namespace", name)
        assert ns is None, f"namespace {name} still {(ns.get('status') or {}).get('phase', 'present')}"
    lab.eventually(gone, what=f"leftover namespace {name} deleted", budget="rollout")
    lab.apply({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name,
                            "labels": {"app.kubernetes.io/managed-by": "cilium-lab-conformance"}}})
    try:
        yield name
    finally:
        lab.delete("v1", "Namespace", name)


@pytest.fixture
def scenario_ns(request: pytest.FixtureRequest, lab: Lab, hubble_stage: dict[str, Any],
                cluster_shared_lock: None) -> Iterator[str]:
    """A namespace of the scenario's own, with a stable name derived from the test id,
    taken while the scenario holds the shared cluster lock."""
    skip_unless_checkable(request, hubble_stage)
    with fresh_namespace(lab, scenario_namespace(request.node.name)) as name:
        yield name


def table_rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    """A Gherkin data table (header row first) as a list of dicts."""
    header, *rows = datatable
    return [dict(zip(header, row)) for row in rows]
