"""Every feature sentence that states an outcome is linked to the assertion that checks it.

A Then sentence (and an And/But after it) of features/*.feature runs one step function,
found the way pytest-bdd finds it (tools/step_links.py: pytest-bdd's own parsers). That
function must declare what it asserts: ``@asserts("key")`` for a seed fact (the value of
docs/seed-sections.yaml it compares against) or ``@outcome("what it asserts")``
(cilab/facts.py) for an outcome the write-up prints no value for. The link is the
declaration on the function the sentence runs, not a word shared by sentence and code.

UNDECLARED may only shrink: it is empty, and a new Then step without a declaration fails
here, naming the feature line, the sentence and the step function.
"""
from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from cilab import facts
from tools import step_links

ROOT = Path(__file__).resolve().parents[2]

#: "<feature>:<line>: <sentence>" lines allowed to stay undeclared (none: keep it so)
UNDECLARED: frozenset[str] = frozenset()


def _outcome_of(text: str, function: str) -> str:
    """The @outcome(...) decorator (one line or more) right above `def function(`."""
    lines = text.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    start = next(i for i in range(end - 1, -1, -1) if lines[i].startswith("@"))
    assert lines[start].startswith("@outcome("), f"no @outcome right above def {function}"
    return "".join(lines[start:end])


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "features", root / "features")
    shutil.copytree(ROOT / "tests" / "steps", root / "tests" / "steps")
    return root


def test_every_then_sentence_runs_a_step_that_declares_what_it_asserts() -> None:
    gaps = step_links.outcome_gaps(ROOT)
    new = [g for g in gaps if g.split(" runs ", 1)[0] not in UNDECLARED]
    assert not new, ("Then sentences whose step declares neither @asserts(...) nor @outcome(...) "
                     "(cilab/facts.py; docs/adding-a-scenario.md):\n" + "\n".join(new))


def test_the_list_of_undeclared_sentences_only_shrinks() -> None:
    """An entry of UNDECLARED that is declared by now must leave the list."""
    gaps = {g.split(" runs ", 1)[0] for g in step_links.outcome_gaps(ROOT)}
    stale = sorted(UNDECLARED - gaps)
    assert not stale, "declared by now, remove from UNDECLARED: " + "; ".join(stale)


def test_the_check_reads_every_then_sentence() -> None:
    """The sentences read are the features' Then steps, outline rows filled in, And/But after
    Then included (a floor, so the check cannot pass by reading nothing)."""
    said = [s for s in step_links.sentences(ROOT) if s.kind == "then"]
    features = {s.feature for s in said}
    assert features == {p.relative_to(ROOT).as_posix() for p in (ROOT / "features").glob("*.feature")}
    texts = {s.text for s in said}
    assert "the request times out" in texts                      # a Then
    assert "Max Flows is 4095 times the number of nodes of the cluster" in texts   # an And after Then
    assert "it shows the xwing's DNS lookups" in texts            # an outline row filled in
    assert not [t for t in texts if re.search(r"<[a-z_ ]+>", t)]   # every <column> filled in


def test_a_step_that_loses_its_declaration_fails_naming_the_sentence(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert step_links.outcome_gaps(root) == []
    steps = root / "tests" / "steps" / "starwars.py"
    text = steps.read_text(encoding="utf-8")
    steps.write_text(text.replace(_outcome_of(text, "request_times_out"), "", 1), encoding="utf-8")
    gaps = step_links.outcome_gaps(root)
    assert gaps and all("the request times out" in g for g in gaps), gaps
    assert any(g.startswith("features/starwars.feature:") and "starwars.py:" in g and "request_times_out" in g
               and "declares neither @asserts(...) nor @outcome(...)" in g for g in gaps), gaps


def test_a_seed_fact_declaration_is_a_link_too(tmp_path: Path) -> None:
    """@asserts is enough (the seed value is what the step asserts); dropping it leaves the
    sentence unlinked."""
    root = _copy(tmp_path)
    steps = root / "tests" / "steps" / "starwars.py"
    text = steps.read_text(encoding="utf-8")
    assert '@asserts("cnp-valid")\n' in text
    steps.write_text(text.replace('@asserts("cnp-valid")\n', "", 1), encoding="utf-8")
    gaps = step_links.outcome_gaps(root)
    assert any("reports Valid" in g and "policy_valid" in g for g in gaps), gaps


def test_a_then_sentence_no_step_matches_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "features" / "zz_new.feature").write_text(textwrap.dedent("""\
        Feature: New
          Scenario: one
            Given the Star Wars demo is deployed in the scenario's namespace
            When the xwing requests a landing
            Then the deathstar answers "Ship landed"
            And the deathstar sings
        """), encoding="utf-8")
    assert step_links.outcome_gaps(root) == ["features/zz_new.feature:6: no Then step matches 'the deathstar sings'"]


def test_a_then_sentence_is_matched_as_pytest_bdd_matches_it(tmp_path: Path) -> None:
    """A Then sentence is matched against Then steps only: a Given or When with the same
    words does not link it."""
    root = _copy(tmp_path)
    (root / "features" / "zz_new.feature").write_text(textwrap.dedent("""\
        Feature: New
          Scenario: one
            Then the Star Wars demo is deployed in the scenario's namespace
        """), encoding="utf-8")
    gaps = step_links.outcome_gaps(root)
    assert gaps == ["features/zz_new.feature:3: no Then step matches "
                    "\"the Star Wars demo is deployed in the scenario's namespace\""]


def test_a_then_sentence_two_steps_match_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    steps = root / "tests" / "steps" / "starwars.py"
    steps.write_text(steps.read_text(encoding="utf-8") + textwrap.dedent("""

        @then(parsers.re(r"the request times (?P<how>out)"))
        @outcome("a second definition of the same sentence")
        def times_out_again(how: str) -> None:
            pass
        """), encoding="utf-8")
    gaps = step_links.outcome_gaps(root)
    assert gaps and all("matches several Then steps" in g and "request_times_out" in g and "times_out_again" in g
                        for g in gaps), gaps


def test_outcome_names_the_assertion_and_changes_nothing_at_run_time() -> None:
    def step() -> str:
        return "ran"

    marked = facts.outcome("  the answer is   HTTP 200 ")(step)
    assert marked is step and marked() == "ran"
    assert facts.outcome_of(marked) == "the answer is HTTP 200"
    assert facts.outcome_of(lambda: None) == ""
    with pytest.raises(facts.FactError, match="needs the words"):
        facts.outcome("   ")


def test_outcome_under_asserts_keeps_both_declarations() -> None:
    key = next(iter(facts.declared()))

    @facts.asserts(key)
    @facts.outcome("what it asserts")
    def step() -> None:
        facts.fact(key)

    step()
    assert facts.facts_of(step) == (key,) and facts.outcome_of(step) == "what it asserts"


def test_the_declarations_read_from_source_are_the_ones_at_run_time() -> None:
    """tools/step_links.py reads @outcome from the source; the imported step functions carry
    the same text (so a declaration built at run time cannot differ from the one checked)."""
    import importlib

    for d in step_links.scan(ROOT):
        if not d.outcome:
            continue
        module = importlib.import_module(d.module[:-3].replace("/", "."))
        assert facts.outcome_of(getattr(module, d.function)) == d.outcome, d.where
    assert sum(1 for d in step_links.scan(ROOT) if d.outcome) >= 80


def test_an_outcome_that_is_not_a_plain_string_is_one_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    steps = root / "tests" / "steps" / "starwars.py"
    text = steps.read_text(encoding="utf-8")
    steps.write_text(text.replace(_outcome_of(text, "request_times_out"), "@outcome(WHAT)\n", 1), encoding="utf-8")
    with pytest.raises(step_links.LinkError, match=r"tests/steps/starwars.py:\d+: @outcome takes a plain string"):
        step_links.outcome_gaps(root)
