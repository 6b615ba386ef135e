"""What a failed scenario prints in the terminal: the scenario, the step and the step's
message (expected, seen), without the frames of the retry helper, the probes and
pytest-bdd; the whole traceback stays one option away (`--tb=long`)."""
from __future__ import annotations

import re
from pathlib import Path

from tests.selftest.suite_runner import MUTANTS, run_suite

MUTANT = str(MUTANTS / "starwars-rule1-not-valid.yaml")
SELECT = "the_l3l4_rule1_is_accepted"
STEP = 'Step failed: Then the policy "rule1" reports Valid'
MESSAGE = "expected condition Valid True, saw False (Invalid CiliumNetworkPolicy spec"


def test_a_failed_scenario_shows_its_step_expected_and_seen(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--transcript", MUTANT, "-k", SELECT)
    assert run.rc == 1, run.output[-2000:]
    assert "Scenario: The L3/L4 rule1 is accepted and enforced on the deathstar endpoints only" in run.output
    assert STEP in run.output and MESSAGE in run.output, run.output[-2000:]
    # a failed expectation, not a broken lab: the type stays (the mutant self-test relies on it)
    assert "AssertionError: CiliumNetworkPolicy rule1 Valid: not true within" in run.output
    for frame in ("cilab/retry.py", "cilab/lab.py", "tests/steps/", "pytest_bdd/", "tenacity"):
        assert frame not in run.output, f"{frame} in the short failure:\n{run.output[-3000:]}"
    # what to run by hand to see the same thing: the command of the failed step's check
    assert re.search(r"To see it yourself, run:\n  kubectl get -n cilab-\S+ CiliumNetworkPolicy rule1 -o json\n",
                     run.output), run.output[-2000:]
    # the mutant self-test reads the same text from the JUnit XML
    assert MESSAGE in next(iter(run.failed.values()))


def test_tb_long_keeps_the_full_traceback(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--transcript", MUTANT, "-k", SELECT, "--tb=long")
    assert run.rc == 1, run.output[-2000:]
    assert "cilab/retry.py" in run.output and "tests/steps/starwars.py" in run.output, run.output[-3000:]
    assert MESSAGE in run.output
    assert STEP not in run.output
