"""The suite proves it can fail: each mutant transcript breaks one documented behaviour and
must fail exactly the scenarios that check it, with a message naming what was expected and
what was seen; the reference lab passes everything, the same way with and without xdist."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.selftest.suite_runner import MUTANTS, SuiteRun, run_suite

MUTANT_FILES = sorted(MUTANTS.glob("*.yaml"))


def _spec(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["mutant"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return run_suite(tmp_path_factory.mktemp("reference"))


def test_reference_lab_passes_every_scenario(reference_run: SuiteRun) -> None:
    assert reference_run.rc == 0, reference_run.output[-3000:]
    assert reference_run.passed and not reference_run.failed


def test_xdist_gives_the_same_outcomes(reference_run: SuiteRun, tmp_path: Path) -> None:
    parallel = run_suite(tmp_path, "-n", "2")
    assert parallel.outcomes == reference_run.outcomes


def test_xdist_gives_the_same_outcomes_on_a_mutant(tmp_path: Path) -> None:
    mutant = str(MUTANTS / "hubble-4244-missing-on-w2.yaml")
    serial = run_suite(tmp_path / "serial", "--transcript", mutant)
    parallel = run_suite(tmp_path / "parallel", "--transcript", mutant, "-n", "2")
    assert serial.failed and parallel.outcomes == serial.outcomes


def test_every_scenario_has_a_mutant(reference_run: SuiteRun) -> None:
    covered = {name for m in MUTANT_FILES for name in _spec(m)["expect_failing"]}
    uncovered = sorted(set(reference_run.outcomes) - covered)
    assert not uncovered, f"scenarios no mutant breaks: {uncovered}"


@pytest.mark.parametrize("mutant", MUTANT_FILES, ids=[m.stem for m in MUTANT_FILES])
def test_mutant_fails_exactly_its_scenarios(mutant: Path, tmp_path: Path, reference_run: SuiteRun) -> None:
    spec = _spec(mutant)
    run = run_suite(tmp_path, "--transcript", str(mutant))
    expected = set(spec["expect_failing"])
    unknown = expected - set(reference_run.outcomes)
    assert not unknown, f"{mutant.name} names tests that do not exist: {sorted(unknown)}"
    assert set(run.failed) == expected, (
        f"{mutant.name} ({spec['breaks']}): expected exactly {sorted(expected)} to fail, "
        f"failed: {sorted(run.failed)}\n{run.output[-2000:]}")
    assert run.passed == set(reference_run.outcomes) - expected
    for name, message in run.failed.items():
        for want in [spec["expect_message"], *spec.get("expect_message_also", [])]:
            assert want in message, (
                f"{mutant.name}: the failure of {name} should say {want!r}; it says:\n{message[:1500]}")
        # a failed expectation is an AssertionError; the plugin's short report ("Step failed: ...")
        # is given to AssertionErrors only, so either form is a verdict, anything else a broken lab
        assert "AssertionError" in message or "\nStep failed: " in message, (
            f"{name} failed as a broken lab, not as a verdict:\n{message[:800]}")
