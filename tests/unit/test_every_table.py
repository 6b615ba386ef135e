"""docs/architecture.md's table of checks over a set ("Every" means every member, issue 18)
is kept in step with the code: each step it names exists, each mutant it names exists, each
"every" row names a mutant, and each Then step whose sentence promises a whole set is listed."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
STEPS = ROOT / "tests" / "steps"
MUTANTS = ROOT / "fixtures" / "transcripts" / "mutants"
#: sentence words that promise a whole set (or none of it)
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
        for name in re.findall(r"\b[a-z0-9]+(?:-[a-z0-9.]+)+\b", row["Mutants (one member off)"]):
            if name != "none-yet" and not (MUTANTS / f"{name}.yaml").is_file():
                missing.append(f"{name} ({row['Step']})")
    assert not missing, f"docs/architecture.md names mutants that do not exist: {', '.join(missing)}"


def test_every_every_row_has_a_mutant() -> None:
    bare = [row["Step"] for row in table_rows()
            if not row["every / one"].startswith("one")
            and not re.search(r"[a-z0-9]-[a-z0-9]", row["Mutants (one member off)"])
            and not row["Mutants (one member off)"].startswith("none yet")]
    assert not bare, f"'every' rows without a one-member mutant: {', '.join(bare)}"


def test_every_set_sentence_is_listed() -> None:
    listed = {row["Step"] for row in table_rows()}
    unlisted = [f"{name}: {sentence}" for name, found in step_functions().items()
                for kind, sentence in found
                if kind == "then" and SET_WORDS.search(sentence) and name not in listed]
    assert not unlisted, ("Then steps whose sentence promises a whole set, not in docs/architecture.md's "
                          "every/one table: " + "; ".join(unlisted))
