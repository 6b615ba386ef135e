"""Which step function each feature sentence runs, and which seed facts it declares.

Read without importing the step modules: their source is parsed (ast) for pytest-bdd's
``@given/@when/@then`` decorators, cilab.facts' ``@asserts("key", ...)`` and the
``fact("key")`` calls in the function's own body; the feature files are parsed with the
Gherkin parser pytest-bdd uses, and a sentence is matched with pytest-bdd's own step parsers
(``parsers.parse``/``re``/``cfparse``/plain string), so the link is the one pytest-bdd makes.
Used by tools/catalogue.py (the seed-fact catalogue) and tests/unit/test_outcome_links.py.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gherkin.parser import Parser
from pytest_bdd import parsers

STEPS = Path("tests") / "steps"
FEATURES = Path("features")
_KINDS = ("given", "when", "then")


@dataclass
class StepDef:
    module: str                 # tests/steps/x.py
    function: str
    line: int
    kind: str                   # given / when / then
    parser: Any                 # a pytest_bdd.parsers.StepParser
    declared: tuple[str, ...]   # @asserts keys
    read: frozenset[str]        # keys of fact("key") calls in the function's own body

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} {self.function}"


@dataclass
class Sentence:
    feature: str
    scenario: str
    line: int
    kind: str                   # given / when / then (And/But resolved)
    text: str                   # with an outline row's values filled in
    rows: list[dict[str, str]] = field(default_factory=list)


class LinkError(Exception):
    """A step module the links cannot be read from (one line)."""


def _const(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _parser(call: ast.Call) -> Any:
    """pytest-bdd's parser object for a step decorator's first argument."""
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    if arg is None:
        raise LinkError("step decorator without a sentence")
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in ("parse", "re", "cfparse", "string"):
        return getattr(parsers, arg.func.attr)(*[_const(a) for a in arg.args])
    return parsers.string(_const(arg))


def _name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def scan(root: Path) -> list[StepDef]:
    out: list[StepDef] = []
    for path in sorted((root / STEPS).glob("*.py")):
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except SyntaxError as exc:
            raise LinkError(f"{rel}:{exc.lineno}: not valid Python") from None
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            kinds, declared = [], ()
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and _name(dec.func) in _KINDS:
                    try:
                        kinds.append((_name(dec.func), _parser(dec)))
                    except (ValueError, LinkError) as exc:
                        raise LinkError(f"{rel}:{dec.lineno}: cannot read the step sentence ({exc})") from None
                elif isinstance(dec, ast.Call) and _name(dec.func) == "asserts":
                    declared = tuple(_const(a) for a in dec.args)
            if not kinds:
                continue
            read = frozenset(_const(c.args[0]) for c in ast.walk(node)
                             if isinstance(c, ast.Call) and _name(c.func) == "fact" and c.args
                             and isinstance(c.args[0], ast.Constant))
            for kind, parser in kinds:
                out.append(StepDef(rel, node.name, node.lineno, kind, parser, declared, read))
    return out


def sentences(root: Path) -> list[Sentence]:
    """Every step of every scenario of features/*.feature (Background steps with each
    scenario); an outline's steps once per Examples row, with the row's values filled in."""
    out: list[Sentence] = []
    for path in sorted((root / FEATURES).glob("*.feature")):
        rel = path.relative_to(root).as_posix()
        feature = Parser().parse(path.read_text(encoding="utf-8")).get("feature") or {}
        children = list(feature.get("children") or [])
        for rule in [c["rule"] for c in children if "rule" in c]:
            children += rule.get("children") or []
        background = [s for c in children if "background" in c for s in c["background"].get("steps") or []]
        for scenario in [c["scenario"] for c in children if "scenario" in c]:
            rows: list[dict[str, str]] = []
            for ex in scenario.get("examples") or []:
                header = [c["value"] for c in (ex.get("tableHeader") or {}).get("cells", [])]
                rows += [dict(zip(header, [c["value"] for c in b["cells"]])) for b in ex.get("tableBody") or []]
            kind = "given"
            for step in background + list(scenario.get("steps") or []):
                word = step["keyword"].strip().lower()
                if word in _KINDS:
                    kind = word
                for row in rows or [{}]:
                    text = step["text"]
                    for k, v in row.items():
                        text = text.replace(f"<{k}>", v)
                    out.append(Sentence(rel, scenario["name"], step["location"]["line"], kind, text))
    return out


def step_for(sentence: Sentence, defs: list[StepDef]) -> StepDef | None:
    """The step function pytest-bdd runs for a sentence (the first of its kind that matches)."""
    for d in defs:
        if d.kind == sentence.kind and d.parser.is_matching(sentence.text):
            return d
    return None
