"""docs/architecture.md's table of checks over a set ("Every" means every member, issue 18)
is kept in step with the code: each step it names exists, each mutant it names exists, each
"every" row names a mutant (no "none yet" any more), each mutant named for a step is expected
to fail a scenario that runs that step, and each Then step whose sentence promises a whole
set is listed."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
STEPS = ROOT / "tests" / "steps"
MUTANTS = ROOT / "fixtures" / "transcripts" / "mutants"
#: sentence words that promise a whole set (or none of it)
#: a mutant's name in the table's last column (a transcript's stem under MUTANTS)
MUTANT_NAME = re.compile(r"\b[a-z0-9]+(?:-[a-z0-9.]+)+\b")
SET_WORDS = re.compile(r"\b(every|each|both|all|exactly|no node|no agent|no endpoint)\b", re.IGNORECASE)


def table_rows() -> list[dict[str, str]]:
    text = DOC.read_text()
    start = text.index('### "Every" means every member')
    section = text[start:text.index("\n## ", start)]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Step", "Check (sentence)", "every / one", "Reason", "Mutants (one member off)"], header
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header), f"a row of {len(cells)} cells: {line}"
        rows.append(dict(zip(header, cells)))
    return rows


def _sentence(dec: ast.expr) -> tuple[str, str] | None:
    """(kind, sentence) of a pytest-bdd step decorator, None for any other decorator."""
    if not isinstance(dec, ast.Call):
        return None
    func = dec.func
    kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if kind not in ("given", "when", "then") or not dec.args:
        return None
    arg = dec.args[0]
    if isinstance(arg, ast.Call) and arg.args:  # parsers.parse("...") / parsers.re("...")
        arg = arg.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return kind, arg.value
    return kind, ast.unparse(arg)  # a concatenation: its text, quotes included


def step_functions() -> dict[str, list[tuple[str, str]]]:
    """module.function -> its (kind, sentence) decorators, for every step module."""
    out: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(STEPS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found = [s for s in map(_sentence, node.decorator_list) if s is not None]
                if found:
                    out[f"{path.stem}.{node.name}"] = found
    return out


def _defines(path: Path, name: str) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(ast.parse(path.read_text())))


def test_the_table_has_rows() -> None:
    rows = table_rows()
    assert len(rows) > 30, f"expected the whole table, read {len(rows)} rows"


def test_every_step_named_exists() -> None:
    steps = step_functions()
    missing = []
    for row in table_rows():
        ref = row["Step"]
        if "::" in ref:  # a shared check under cilab/
            path, _, name = ref.partition("::")
            if not (ROOT / path).is_file() or not _defines(ROOT / path, name):
                missing.append(ref)
        elif ref not in steps:
            missing.append(ref)
    assert not missing, f"docs/architecture.md names steps that do not exist: {', '.join(missing)}"


def test_every_mutant_named_exists() -> None:
    missing = []
    for row in table_rows():
        for name in MUTANT_NAME.findall(row["Mutants (one member off)"]):
            if not (MUTANTS / f"{name}.yaml").is_file():
                missing.append(f"{name} ({row['Step']})")
    assert not missing, f"docs/architecture.md names mutants that do not exist: {', '.join(missing)}"


def test_every_every_row_has_a_mutant() -> None:
    bare = [row["Step"] for row in table_rows()
            if not row["every / one"].startswith("one")
            and not re.search(r"[a-z0-9]-[a-z0-9]", row["Mutants (one member off)"])]
    assert not bare, f"'every' rows without a one-member mutant: {', '.join(bare)}"


def test_every_set_sentence_is_listed() -> None:
    listed = {row["Step"] for row in table_rows()}
    unlisted = [f"{name}: {sentence}" for name, found in step_functions().items()
                for kind, sentence in found
                if kind == "then" and SET_WORDS.search(sentence) and name not in listed]
    assert not unlisted, ("Then steps whose sentence promises a whole set, not in docs/architecture.md's "
                          "every/one table: " + "; ".join(unlisted))


def _scenarios_running() -> dict[str, set[str]]:
    """module.function of each step -> the test functions (pytest-bdd's names) of the
    scenarios that run it, found as pytest-bdd finds a sentence's step (tools/step_links.py)."""
    from pytest_bdd.scenario import make_python_name

    from tools import step_links
    defs = step_links.scan(ROOT)
    runs: dict[str, set[str]] = {}
    for sentence in step_links.sentences(ROOT):
        found = step_links.step_for(sentence, defs)
        if found is not None:
            runs.setdefault(f"{Path(found.module).stem}.{found.function}", set()).add(
                f"test_{make_python_name(sentence.scenario)}")
    return runs


def mutants_off_their_step(rows: list[dict[str, str]], runs: dict[str, set[str]]) -> list[str]:
    """Each mutant a row names for a step of tests/steps/ that is expected to fail no scenario
    running that step (a row under cilab/ names a check shared by steps: not checked here)."""
    import yaml
    wrong = []
    for row in rows:
        step = row["Step"].strip("`")
        if step not in runs:
            continue
        for mutant in MUTANT_NAME.findall(row["Mutants (one member off)"]):
            spec = yaml.safe_load((MUTANTS / f"{mutant}.yaml").read_text(encoding="utf-8"))["mutant"]
            failing = {t.split("[")[0] for t in spec["expect_failing"]}
            if not failing & runs[step]:
                wrong.append(f"{mutant} ({step}): expected to fail {', '.join(sorted(failing))}, "
                             "none of which runs the step")
    return wrong


def test_each_mutant_named_fails_a_scenario_that_runs_the_step() -> None:
    """So a row cannot name a mutant that breaks some other check."""
    runs = _scenarios_running()
    assert "cluster.cluster_nodes_exactly" in runs          # a floor: the table's steps are found
    wrong = mutants_off_their_step(table_rows(), runs)
    assert not wrong, ("docs/architecture.md names mutants that fail no scenario running the row's step: "
                       + "; ".join(wrong))


def test_a_mutant_named_for_another_step_is_refused() -> None:
    runs = _scenarios_running()
    rows = [r for r in table_rows() if r["Step"] == "starwars.agents_hold_l7_rule"]
    assert rows and mutants_off_their_step(rows, runs) == []
    moved = [{**rows[0], "Mutants (one member off)": "starwars-l7-update-never-imported-on-w1"}]
    wrong = mutants_off_their_step(moved, runs)
    assert len(wrong) == 1 and wrong[0].startswith("starwars-l7-update-never-imported-on-w1 (starwars.agents_hold_l7_rule)")
