"""tools/catalogue.py: the checked-in docs/catalogue.md is current, a changed feature makes
--check fail with one line, and every -k expression it prints selects exactly its test."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools import catalogue

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "catalogue.py"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def _copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "features", root / "features")
    (root / "tests" / "scenarios").mkdir(parents=True)
    for module in (ROOT / "tests" / "scenarios").glob("test_*.py"):
        shutil.copy(module, root / "tests" / "scenarios" / module.name)
    shutil.copytree(ROOT / "tests" / "steps", root / "tests" / "steps")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "catalogue.md", root / "docs" / "catalogue.md")
    shutil.copy(ROOT / "docs" / "seed-sections.yaml", root / "docs" / "seed-sections.yaml")
    return root


def test_check_passes_on_the_repo() -> None:
    proc = _run("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_check_fails_with_one_line_on_a_changed_feature(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    assert _run("--check", "--root", str(root)).returncode == 0
    feature = root / "features" / "cluster.feature"
    text = feature.read_text(encoding="utf-8")
    assert "Scenario: Cilium replaces kube-proxy\n" in text
    feature.write_text(text.replace("Scenario: Cilium replaces kube-proxy\n",
                                    "Scenario: Cilium replaces kube-proxy entirely\n"), encoding="utf-8")
    proc = _run("--check", "--root", str(root))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["docs/catalogue.md is stale: run python tools/catalogue.py"]
    # regenerating makes it current again, and the new name is in it
    assert _run("--root", str(root)).returncode == 0
    assert _run("--check", "--root", str(root)).returncode == 0
    assert "test_cilium_replaces_kubeproxy_entirely" in (root / "docs" / "catalogue.md").read_text()


def test_unparsable_feature_is_one_line(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    (root / "features" / "broken.feature").write_text("Feature: x\n  Scenario: y\n    Given a\n  Feature: z\n")
    proc = _run("--check", "--root", str(root))
    assert proc.returncode == 1 and len(proc.stdout.splitlines()) == 1
    assert proc.stdout.startswith("catalogue: features/broken.feature: not valid Gherkin")


def test_seed_lines_from_descriptions() -> None:
    assert catalogue.seed_ranges('Lab chapter "Hubble" (seed lines 870-1365).') == [(870, 1365)]
    assert catalogue.seed_ranges("(seed lines 2398–2533, 2740-2904)") == [(2398, 2533), (2740, 2904)]
    assert catalogue.seed_ranges("Seed line 10 - 20 and 30-40") == [(10, 20), (30, 40)]
    assert catalogue.seed_ranges("no seed reference") == []


def test_cited_seed_lines_of_a_scenario() -> None:
    assert catalogue.cited_lines("as `cilium status` shows (seed 958, 962-963), and\n  seed 1614-1618") == [
        (958, 958), (962, 963), (1614, 1618)]
    assert catalogue.cited_lines("(seed lines 2806-2814 and 2842-2849)") == [(2806, 2814), (2842, 2849)]
    assert catalogue.cited_lines("seed: ss -tnlp | grep 4244") == []


def test_every_seed_section_maps_to_a_scenario_and_lists_what_is_not_checked() -> None:
    text = (ROOT / "docs" / "catalogue.md").read_text()
    assert "## Seed facts and the steps that assert them" in text and "## Deliberately not checked" in text
    row = next(line for line in text.splitlines() if line.startswith("| 2129–2157 |"))
    assert "`agents_hold_l7_rule`" in row and "every agent holds it with ingress default-deny only" in row


def test_a_seed_fact_no_step_asserts_is_one_line(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    sections = root / "docs" / "seed-sections.yaml"
    sections.write_text(sections.read_text().replace(
        "\nnot_checked:", "\n  - key: pwru\n    lines: 3040-3045\n    value: x\n    what: pwru\nnot_checked:", 1))
    proc = _run("--check", "--root", str(root))
    assert proc.returncode == 1 and len(proc.stdout.splitlines()) == 1, proc.stdout
    assert "seed fact pwru (pwru) is asserted by no step" in proc.stdout


def test_outline_rows_and_names(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "features").mkdir(parents=True)
    (root / "tests" / "scenarios").mkdir(parents=True)
    (root / "tests" / "scenarios" / "test_demo.py").write_text('scenarios("demo.feature")\n')
    (root / "features" / "demo.feature").write_text(textwrap.dedent("""\
        @demo
        Feature: Demo
          Lab chapter "Demo" (seed lines 1-2).

          @a
          Scenario Outline: <x> works
            Given <x>

            @slow
            Examples:
              | x  |
              | 1  |
              | é |

          Rule: r
            Scenario: 1 works
              Given y
        """))
    (chapter,) = catalogue.load(root)
    assert chapter.seed == [(1, 2)] and chapter.module == "tests/scenarios/test_demo.py"
    outline, plain = chapter.entries
    assert [r.test.name for r in outline.rows] == ["test_x_works[1]", "test_x_works[\\xe9]"]
    assert outline.rows[0].test.markers == ["demo", "a", "slow"]
    assert plain.test is not None and plain.test.name == "test_works"
    text = catalogue.render([chapter])
    assert '`-m "demo and a and slow"`' in text and '`-k "test_works"`' in text
    feature = root / "features" / "demo.feature"
    feature.write_text(feature.read_text().replace("| é |", "| 1  |"))
    with pytest.raises(catalogue.CatalogueError, match="give the test id '1' twice"):
        catalogue.load(root)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """node id -> the names pytest's -k matches, from a real collection of the suite."""
    tmp = tmp_path_factory.mktemp("collect")
    plugin = tmp / "cilab_keywords.py"
    plugin.write_text(textwrap.dedent("""\
        import json, os
        from _pytest.mark import KeywordMatcher

        def pytest_collection_finish(session):
            out = {i.nodeid: sorted(KeywordMatcher.from_item(i)._names) for i in session.items}
            with open(os.environ["CILAB_KEYWORDS_OUT"], "w") as f:
                json.dump(out, f)
        """))
    out = tmp / "keywords.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CILAB_"))}
    env.update(CILAB_KEYWORDS_OUT=str(out), PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "--lab", "replay", "--collect-only", "-q",
                           "-p", "cilab_keywords", "--basetemp", str(tmp / "basetemp")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_catalogue_names_exactly_the_collected_tests(collected: dict[str, list[str]]) -> None:
    chapters = catalogue.load(ROOT)
    named = {f"{t.module}::{t.name}" for c in chapters for t in c.tests if t.module}
    assert named == set(collected), (f"only in the catalogue: {sorted(named - set(collected))}; "
                                     f"only collected: {sorted(set(collected) - named)}")


def test_every_k_expression_selects_exactly_its_test(collected: dict[str, list[str]]) -> None:
    from _pytest.mark import KeywordMatcher
    from _pytest.mark.expression import Expression

    chapters = catalogue.load(ROOT)
    catalogue.render(chapters)   # computes the -k expressions
    matchers = {node: KeywordMatcher(frozenset(names)) for node, names in collected.items()}
    wrong = []
    for test in (t for c in chapters for t in c.tests if t.module):
        assert test.k, f"no -k expression for {test.name}"
        expr = Expression.compile(test.k)
        chosen = sorted(node for node, m in matchers.items() if expr.evaluate(m))
        if chosen != [f"{test.module}::{test.name}"]:
            wrong.append(f"-k {test.k!r} selects {chosen}")
    assert not wrong, "\n".join(wrong)


def test_check_fails_when_a_step_stops_asserting_a_declared_fact(tmp_path: Path) -> None:
    """A step that keeps @asserts("cnp-valid") but no longer compares against fact("cnp-valid")
    makes --check fail, naming the step and the fact; so does dropping the declaration."""
    root = _copy_repo(tmp_path)
    assert _run("--check", "--root", str(root)).returncode == 0
    steps = root / "tests" / "steps" / "starwars.py"
    text = steps.read_text(encoding="utf-8")
    assert 'fact("cnp-valid")' in text
    steps.write_text(text.replace('fact("cnp-valid")', '"True: Policy validation succeeded"'), encoding="utf-8")
    proc = _run("--check", "--root", str(root))
    assert proc.returncode == 1
    assert "policy_valid declares seed fact 'cnp-valid' but its code never asserts fact('cnp-valid')" in proc.stdout
    steps.write_text(text.replace('@asserts("cnp-valid")\n', ""), encoding="utf-8")
    proc = _run("--check", "--root", str(root))
    assert proc.returncode == 1
    assert "seed fact cnp-valid" in proc.stdout and "is asserted by no step" in proc.stdout
