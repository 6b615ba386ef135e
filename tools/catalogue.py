"""Generate docs/catalogue.md: every scenario of features/*.feature and how to select it.

Each feature file is parsed with the Gherkin parser pytest-bdd itself uses
(gherkin-official), and test names are made with pytest-bdd's own name generator, so the
catalogue names exactly the tests pytest collects: one per Scenario, one per Examples row
of a Scenario Outline.  For each chapter it gives the seed lines (``seed lines N-M`` in the
feature description) and, for each scenario and row, its tags with a ``-m`` expression
(the tag group) and a ``-k`` expression that selects exactly that test.

  python tools/catalogue.py            # rewrite docs/catalogue.md
  python tools/catalogue.py --check    # exit 1, with one line, when it is stale
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gherkin.errors import CompositeParserException
from gherkin.parser import Parser
from pytest_bdd.scenario import get_python_name_generator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = Path("docs") / "catalogue.md"
FEATURES = Path("features")
SCENARIO_MODULES = Path("tests") / "scenarios"

#: "seed lines 870-1365", "seed lines 2398-2533, 2740-2904", en dashes too
_SEED = re.compile(r"seed\s+lines?\s+(\d+\s*[-–]\s*\d+(?:\s*(?:,|and)\s*\d+\s*[-–]\s*\d+)*)", re.IGNORECASE)
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_FEATURE_REF = re.compile(r"""["']([^"']+\.feature)["']""")
#: what pytest's -k grammar accepts as one identifier (_pytest/mark/expression.py)
_IDENT_CHARS = re.compile(r"[\w:+\-.\[\]\\/]+")
_RESERVED = {"and", "or", "not", "true", "false", "none"}


class CatalogueError(Exception):
    """A feature file the catalogue cannot describe (one line)."""


@dataclass
class Test:
    """One collected pytest test: a Scenario, or one Examples row of an Outline."""

    module: str           # tests/scenarios/test_x.py, or "" when no module collects the feature
    name: str             # test_..., with [id] for an Examples row
    markers: list[str]    # tag names (without @)
    function: str = ""    # the test function's name (name without [id])
    values: tuple[str, ...] = ()   # an Examples row's values
    k: str = ""           # a -k expression selecting exactly this test


@dataclass
class Row:
    cells: list[tuple[str, str]]
    tags: list[str]
    test: Test


@dataclass
class Entry:
    name: str
    keyword: str
    line: int
    tags: list[str]       # feature + rule + scenario tags
    test_name: str
    seed: list[tuple[int, int]] = field(default_factory=list)   # seed lines its description cites
    rows: list[Row] = field(default_factory=list)
    test: Test | None = None   # a plain Scenario's test

    @property
    def tests(self) -> list[Test]:
        return [r.test for r in self.rows] if self.rows else [self.test] if self.test else []


@dataclass
class Chapter:
    path: str
    name: str
    tags: list[str]
    seed: list[tuple[int, int]]
    module: str
    entries: list[Entry]

    @property
    def tests(self) -> list[Test]:
        return [t for e in self.entries for t in e.tests]


# --- parsing ------------------------------------------------------------------------------


#: "seed 1614-1618", "(seed 958, 962-963)", "seed lines 2806-2814 and 2842-2849"
_CITED = re.compile(r"\bseed(?:\s+lines?)?\s+(\d+(?:\s*[-–]\s*\d+)?(?:\s*(?:,|and)\s*\d+(?:\s*[-–]\s*\d+)?)*)",
                    re.IGNORECASE)
_CITED_ONE = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")


def cited_lines(description: str) -> list[tuple[int, int]]:
    """Every seed line or range a scenario description cites ("seed 958, 962-963")."""
    out = []
    for m in _CITED.finditer(" ".join(description.split())):
        for a, b in _CITED_ONE.findall(m.group(1)):
            out.append((int(a), int(b or a)))
    return out


def seed_ranges(description: str) -> list[tuple[int, int]]:
    """The seed line ranges named in a feature description."""
    ranges = []
    for match in _SEED.finditer(description or ""):
        ranges += [(int(a), int(b)) for a, b in _RANGE.findall(match.group(1))]
    return ranges


def _tags(node: dict[str, Any]) -> list[str]:
    return [t["name"].lstrip("@") for t in node.get("tags") or []]


def _modules(root: Path) -> dict[str, str]:
    """feature file name -> the test module whose scenarios() call collects it."""
    found: dict[str, str] = {}
    folder = root / SCENARIO_MODULES
    for module in sorted(folder.glob("test_*.py")) if folder.is_dir() else []:
        text = module.read_text(encoding="utf-8")
        if "scenarios(" not in text and "scenario(" not in text:
            continue
        for ref in _FEATURE_REF.findall(text):
            found.setdefault(Path(ref).name, module.relative_to(root).as_posix())
    return found


def _scenarios(children: list[dict[str, Any]], rule_tags: list[str]) -> list[tuple[dict[str, Any], list[str]]]:
    out = []
    for child in children:
        if "scenario" in child:
            out.append((child["scenario"], rule_tags))
        elif "rule" in child:
            rule = child["rule"]
            out += _scenarios(rule.get("children") or [], rule_tags + _tags(rule))
    return out


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def parse_feature(path: Path, root: Path, modules: dict[str, str]) -> Chapter:
    rel = path.relative_to(root).as_posix()
    try:
        doc = Parser().parse(path.read_text(encoding="utf-8"))
    except CompositeParserException as exc:
        raise CatalogueError(f"{rel}: not valid Gherkin: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise CatalogueError(f"{rel}: cannot read ({exc.strerror or exc})") from None
    feature = doc.get("feature")
    if not feature:
        raise CatalogueError(f"{rel}: holds no Feature")
    module = modules.get(path.name, "")
    feature_tags = _tags(feature)
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    taken: set[str] = set()
    for scenario, rule_tags in _scenarios(feature.get("children") or [], []):
        name, line = scenario["name"], scenario["location"]["line"]
        if name in seen:
            raise CatalogueError(f"{rel}:{line}: scenario name {name!r} is also used on line {seen[name]}; "
                                 "pytest-bdd collects only one of them")
        seen[name] = line
        test_name = next(n for n in get_python_name_generator(name) if n not in taken)
        taken.add(test_name)
        tags = _unique(feature_tags + rule_tags + _tags(scenario))
        entry = Entry(name=name, keyword=scenario["keyword"], line=line, tags=tags, test_name=test_name,
                      seed=cited_lines(scenario.get("description") or ""))
        ids: list[str] = []
        rows: list[tuple[list[tuple[str, str]], list[str]]] = []
        for examples in scenario.get("examples") or []:
            header = [c["value"] for c in (examples.get("tableHeader") or {}).get("cells", [])]
            for body in examples.get("tableBody") or []:
                cells = list(dict(zip(header, [c["value"] for c in body["cells"]])).items())
                ids.append("-".join(v for _, v in cells))
                rows.append((cells, _tags(examples)))
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        if twice:
            raise CatalogueError(f"{rel}:{line}: Examples rows of {name!r} give the test id {twice[0]!r} "
                                 "twice (pytest runs with strict parametrization ids)")
        for (cells, ex_tags), test_id in zip(rows, ids):
            test = Test(module, f"{test_name}[{_pytest_id(test_id)}]", _unique(tags + ex_tags),
                        test_name, tuple(v for _, v in cells))
            entry.rows.append(Row(cells, ex_tags, test))
        if not rows:
            entry.test = Test(module, test_name, tags, test_name)
        entries.append(entry)
    return Chapter(path=rel, name=feature["name"], tags=feature_tags,
                   seed=seed_ranges(feature.get("description") or ""), module=module, entries=entries)


def _pytest_id(value: str) -> str:
    """An explicit parametrize id as pytest shows it (non-ASCII and control characters are
    backslash-escaped, as pytest's ascii_escaped does)."""
    return value.encode("unicode_escape").decode("ascii")


# --- -k expressions -----------------------------------------------------------------------


def _keyword_names(test: Test) -> set[str]:
    """The names pytest's -k matches for a test (KeywordMatcher.from_item): the test's and
    its parents' node names and its markers."""
    names = {test.name, *test.markers, "parametrize"} if "[" in test.name else {test.name, *test.markers}
    if test.module:
        parts = Path(test.module).parts
        names.update(parts)   # tests, scenarios, test_x.py
    return names


def _matches(segment: str, names: set[str]) -> bool:
    seg = segment.lower()
    return any(seg in n.lower() for n in names)


def _segments(name: str) -> list[str]:
    return [s for s in _IDENT_CHARS.findall(name) if s.lower() not in _RESERVED]


def _words(test: Test) -> list[str]:
    """Words that may tell an Examples row apart: its whole values when they are -k
    identifiers (k8s-ctr, 9962, cilium-envoy), then the identifier runs inside its values."""
    whole = [v for v in test.values if _IDENT_CHARS.fullmatch(v) and v.lower() not in _RESERVED]
    inner = [w for v in test.values for w in _segments(v) if w not in whole]
    return list(dict.fromkeys(whole + inner))


def k_expression(targets: list[Test], everyone: list[Test]) -> str:
    """A -k expression that selects exactly `targets` (one test, or every row of one
    outline) and no other test of the suite; "" when -k cannot tell them apart."""
    names = {id(t): _keyword_names(t) for t in everyone}
    want = {id(t) for t in targets}

    def selected(pos: list[str]) -> set[int]:
        return {id(t) for t in everyone if all(_matches(s, names[id(t)]) for s in pos)}

    first = targets[0]
    if len(targets) == 1 and _IDENT_CHARS.fullmatch(first.name):
        pos = [first.name]                 # test_x, or test_x[k8s-ctr-192.168.10.100]
    else:
        pos = [first.function]
        if len(targets) == 1 and selected(pos) != want:
            words = _words(first)
            one = next((w for w in words if selected(pos + [w]) == want), None)
            pos += [one] if one else words
    if not want <= selected(pos):
        return ""
    neg: list[str] = []
    for other in everyone:
        if id(other) not in selected(pos) or id(other) in want:
            continue
        word = next((s for s in _words(other) + _segments(other.name)
                     if not any(_matches(s, names[w]) for w in want)), None)
        if word is None:
            return ""                       # cannot be told apart by -k: use the node id
        neg.append(word)
    return " and ".join(pos + [f"not {n}" for n in neg])


# --- rendering ----------------------------------------------------------------------------


def _text(value: str) -> str:
    """Plain text for a Markdown table cell."""
    out = value.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "*_`[]":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.split())


def _seed(chapter: Chapter) -> str:
    return ", ".join(f"{a}–{b}" for a, b in chapter.seed) if chapter.seed else "not stated"


def _select(test: Test, tags: list[str] | None) -> str:
    parts = []
    if tags:
        parts.append(f'`-m "{" and ".join(tags)}"`')
    if test.k:
        parts.append(f'`-k "{test.k}"`')
    elif test.module:
        parts.append(f'`"{test.module}::{test.name}"`')
    return " ".join(parts)


def render(chapters: list[Chapter]) -> str:
    everyone = [t for c in chapters for t in c.tests]
    for test in everyone:
        test.k = k_expression([test], everyone)
    outline_k = {id(e): k_expression(e.tests, everyone)
                 for c in chapters for e in c.entries if e.rows}
    lines = [
        "# Scenario catalogue",
        "",
        "Generated by `tools/catalogue.py` from `features/*.feature`: do not edit by hand.",
        "`python tools/catalogue.py` rewrites it; `python tools/catalogue.py --check` (run by",
        "`scripts/test`) fails when it is stale.",
        "",
        "Every Scenario is one pytest test, and a Scenario Outline is one test per Examples row.",
        "To run them, add a selection to `pytest --lab replay` (or `--lab vagrant`,",
        "`--lab kubeconfig`):",
        "",
        "- `-m \"<tags>\"` runs every scenario that has those tags;",
        "- `-k \"<expression>\"` runs exactly that scenario, or that row of an outline.",
        "",
        "| Chapter | Feature | Seed lines | Scenarios | Tests |",
        "|---|---|---|---:|---:|",
    ]
    for c in chapters:
        lines.append(f"| {_text(c.name)} | `{c.path}` | {_seed(c)} | {len(c.entries)} | {len(c.tests)} |")
    lines.append(f"| **Total** | | | {sum(len(c.entries) for c in chapters)} | {len(everyone)} |")
    for c in chapters:
        lines += ["", f"## {_text(c.name)}", ""]
        tags = " ".join(f"`@{t}`" for t in c.tags) or "none"
        module = f"`{c.module}`" if c.module else "no test module collects it"
        lines += [f"Feature `{c.path}` · seed lines {_seed(c)} · tests in {module} · feature tags {tags}", ""]
        lines += ["| # | Scenario | Tags | Tests | Select |", "|---|---|---|---:|---|"]
        for n, e in enumerate(c.entries, start=1):
            own = " ".join(f"`@{t}`" for t in e.tags if t not in c.tags) or "–"
            kind = " (outline)" if e.rows else ""
            select = _select(e.test, e.tags) if e.test else f'`-m "{" and ".join(e.tags)}"`' if e.tags else ""
            if e.rows and outline_k[id(e)]:
                select += f' `-k "{outline_k[id(e)]}"`'
            lines.append(f"| {n} | {_text(e.name)}{kind} | {own} | {len(e.tests)} | {select} |")
            for i, r in enumerate(e.rows, start=1):
                cells = ", ".join(f"{_text(k)}={_text(v)}" for k, v in r.cells)
                row_tags = " ".join(f"`@{t}`" for t in r.tags) or ""
                lines.append(f"| {n}.{i} | ↳ {cells} | {row_tags} | 1 | "
                             f"{_select(r.test, e.tags + r.tags if r.tags else None)} |")
    return "\n".join(lines) + "\n"


SECTIONS = Path("docs") / "seed-sections.yaml"


def _lines(value: Any, where: str) -> tuple[int, int]:
    m = _RANGE.fullmatch(str(value).strip())
    if not m or int(m.group(1)) > int(m.group(2)):
        raise CatalogueError(f"{SECTIONS}: {where}: lines {value!r} is not N-M")
    return int(m.group(1)), int(m.group(2))


def _span(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}–{b}"


def _spans(value: Any, where: str) -> list[tuple[int, int]]:
    """"1864-1866" or "1864-1866, 2088-2093" (or a YAML list of them)."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [_lines(v, where) for v in items]


def render_sections(chapters: list[Chapter], root: Path) -> list[str]:
    """The seed facts of docs/seed-sections.yaml, each with the steps that declare and
    assert it (``@asserts("key")`` and ``fact("key")``, cilab/facts.py) and the scenarios
    whose sentences run those steps; then what is deliberately not checked.  Nothing when
    the file does not exist."""
    path = root / SECTIONS
    if not path.exists():
        return []
    import yaml
    from tools import step_links
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{SECTIONS}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        defs = step_links.scan(root)
        said = step_links.sentences(root)
    except step_links.LinkError as exc:
        raise CatalogueError(str(exc)) from None
    sections = doc.get("sections") or []
    keys = [str(sec.get("key") or "") for sec in sections]
    for i, key in enumerate(keys, start=1):
        if not key:
            raise CatalogueError(f"{SECTIONS}: section {i} ({sections[i - 1].get('what')}) has no key")
        if "value" not in sections[i - 1]:
            raise CatalogueError(f"{SECTIONS}: seed fact {key} has no value")
    twice = sorted(k for k, n in Counter(keys).items() if n > 1)
    if twice:
        raise CatalogueError(f"{SECTIONS}: seed fact key {twice[0]} is used twice")
    for d in defs:
        for key in d.declared:
            if key not in keys:
                raise CatalogueError(f"{d.where} declares unknown seed fact {key!r} (keys of {SECTIONS})")
            if key not in d.read:
                raise CatalogueError(f"{d.where} declares seed fact {key!r} but its code never asserts "
                                     f"fact({key!r})")
    runs: dict[tuple[str, str], list[step_links.Sentence]] = {}
    for sentence in said:
        d = step_links.step_for(sentence, defs)
        if d is not None:
            runs.setdefault((d.module, d.function), []).append(sentence)
    lines = ["", "## Seed facts and the steps that assert them", "",
             f"From `{SECTIONS}` and the steps' declarations: each fact of the write-up a student",
             "checks, the value the step compares against (`fact(key)` in the step, declared with",
             "`@asserts(key)`, cilab/facts.py), and the scenarios whose sentences run that step.", "",
             "| Seed lines | What the student checks | Value | Asserted by | Scenarios |", "|---|---|---|---|---|"]
    for i, sec in enumerate(sections, start=1):
        key = keys[i - 1]
        spans = _spans(sec.get("lines"), f"section {i}")
        steps = sorted({(d.module, d.function) for d in defs if key in d.declared})
        if not steps:
            raise CatalogueError(f"{SECTIONS}: seed fact {key} ({sec.get('what')}) is asserted by no step: "
                                 f"declare it with @asserts({key!r}) where it is checked, or list it under not_checked")
        scenarios = list(dict.fromkeys(f"{_text(s.scenario)} (`{s.feature}`)"
                                       for st in steps for s in runs.get(st, [])))
        if not scenarios:
            raise CatalogueError(f"{SECTIONS}: seed fact {key} is asserted by "
                                 f"{', '.join(f for _, f in steps)}, which no feature sentence runs")
        asserted = "<br>".join(f"`{f}` ({m})" for m, f in steps)
        value = " ".join(str(sec["value"]).replace("`", "").replace("|", "\\|").split())
        lines.append(f"| {', '.join(_span(a, b) for a, b in spans)} | {_text(str(sec.get('what', '')))} | "
                     f"`{value}` | {asserted} | {'<br>'.join(scenarios)} |")
    lines += ["", "## Deliberately not checked", "", "| Seed lines | What | Why |", "|---|---|---|"]
    for i, item in enumerate(doc.get("not_checked") or [], start=1):
        spans = _spans(item.get("lines"), f"not_checked {i}")
        lines.append(f"| {', '.join(_span(a, b) for a, b in spans)} | {_text(str(item.get('what', '')))} | "
                     f"{_text(str(item.get('why', '')))} |")
    return lines


def load(root: Path) -> list[Chapter]:
    """Every feature under root/features, parsed, in file-name order."""
    features = sorted((root / FEATURES).glob("*.feature"))
    if not features:
        raise CatalogueError(f"{FEATURES}/ holds no .feature files")
    modules = _modules(root)
    return [parse_feature(p, root, modules) for p in features]


def build(root: Path) -> str:
    chapters = load(root)
    text = render(chapters)
    extra = render_sections(chapters, root)
    return text + ("\n".join(extra) + "\n" if extra else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/catalogue.md is stale")
    ap.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    root = args.root.resolve()
    try:
        text = build(root)
    except CatalogueError as exc:
        print(f"catalogue: {exc}")
        return 1
    out = root / OUT
    if args.check:
        try:
            current = out.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            why = "missing" if current is None else "stale"
            print(f"{OUT} is {why}: run python tools/catalogue.py")
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
