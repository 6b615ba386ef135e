"""Steps shared by every chapter: lab stages and the per-scenario context."""
from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import given

from cilab.lab import Lab


@pytest.fixture
def ctx() -> dict[str, Any]:
    """What a When step observed, for the Then steps of the same scenario."""
    return {}


@given("the lab has Hubble enabled", target_fixture="stage_record")
def lab_has_hubble(hubble_stage: dict[str, Any], cluster_shared_lock: None, lab: Lab) -> dict[str, Any]:
    return hubble_stage


def table_rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    """A Gherkin data table (header row first) as a list of dicts."""
    header, *rows = datatable
    return [dict(zip(header, row)) for row in rows]
