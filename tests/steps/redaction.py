"""Steps of features/redaction.feature: a scenario that changes the cluster for everyone.

Turning redaction on restarts every cilium agent, so the scenario runs alone: it takes
the cluster lock exclusively (waiting for running scenarios to finish and keeping new
ones out), never the shared one, and gets a namespace of its own under that lock.  The
redaction stage is a fixture: it is switched on when a step asks for it and switched back
to the Hubble stage at teardown, also when a step failed.  The webpod, policy, request
and flow steps are the L7 visibility chapter's (tests/steps/l7_visibility.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, when

from cilab.lab import Lab
from cilab.plugin import scenario_namespace
from tests.steps.common import fresh_namespace, skip_unless_checkable


@pytest.fixture
def exclusive_cluster_lock(request: pytest.FixtureRequest, lab_shared_dir: Path, lab: Lab) -> Iterator[None]:
    """The cluster lock, held exclusively for the whole scenario."""
    if "cluster_shared_lock" in request.fixturenames:
        raise RuntimeError("suite error: this scenario already holds the shared cluster lock (a step "
                           "requested cluster_shared_lock or scenario_ns); the exclusive lock would "
                           "wait for itself")
    from cilab.locks import cluster_lock
    with cluster_lock(lab_shared_dir, exclusive=True, clock=lab.wait_clock):
        yield


@pytest.fixture
def exclusive_ns(request: pytest.FixtureRequest, lab: Lab, hubble_stage: dict[str, Any],
                 exclusive_cluster_lock: None) -> Iterator[str]:
    """Like `scenario_ns` (a clean namespace of the scenario's own, deleted at teardown even
    on failure), but created under the exclusive cluster lock instead of the shared one."""
    skip_unless_checkable(request, hubble_stage)
    with fresh_namespace(lab, scenario_namespace(request.node.name)) as name:
        yield name


@pytest.fixture
def redaction_stage(lab: Lab, lab_shared_dir: Path, hubble_stage: dict[str, Any],
                    exclusive_cluster_lock: None) -> Iterator[None]:
    """The lab at stage "redaction" until teardown, then back at "hubble" (cilab.stages);
    each switch is shown on the terminal (cilab.progress)."""
    from cilab.progress import ProgressFile
    from cilab.stages import stage_switched
    from cilab.versions import load_versions
    with stage_switched(lab, "redaction", load_versions().cilium_version, back_to="hubble",
                        progress=ProgressFile(lab_shared_dir)):
        yield


@given("the lab has Hubble enabled and this scenario has the cluster to itself", target_fixture="stage_record")
def hubble_and_exclusive(request: pytest.FixtureRequest, hubble_stage: dict[str, Any]) -> dict[str, Any]:
    skip_unless_checkable(request, hubble_stage)  # before waiting for the exclusive lock
    request.getfixturevalue("exclusive_cluster_lock")
    return hubble_stage


@given("Hubble redaction of URL queries is on, as found or switched on for this scenario",
       target_fixture="stage_record")
def redaction_as_found_or_switched(request: pytest.FixtureRequest, hubble_stage: dict[str, Any]) -> dict[str, Any]:
    """A lab found in the redaction stage and checked as found (no --allow-helm-changes) is
    used as it is: no Helm change, the stage record says so.  Otherwise (the suite's own lab,
    or consent) the lab is at the Hubble stage, and redaction is switched on for this scenario
    and back at teardown, as in the scenario above."""
    skip_unless_checkable(request, hubble_stage)  # before waiting for the exclusive lock
    request.getfixturevalue("exclusive_cluster_lock")
    if hubble_stage.get("stage") != "redaction":
        request.getfixturevalue("redaction_stage")
    return hubble_stage


@when("Hubble redaction of URL queries is turned on")
def redaction_on(request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("redaction_stage")
