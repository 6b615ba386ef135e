"""Every step sentence is defined once: the chapters' step modules are star-imported into one
conftest, where a second definition of the same sentence would silently replace the first."""
from __future__ import annotations

import importlib
import pkgutil

import tests.steps


def test_no_step_sentence_is_defined_twice() -> None:
    owner: dict[str, tuple[str, object]] = {}
    clashes = []
    for info in pkgutil.iter_modules(tests.steps.__path__):
        module = importlib.import_module(f"tests.steps.{info.name}")
        for name, value in vars(module).items():
            if not name.startswith("pytestbdd_stepdef_"):
                continue
            if name in owner and owner[name][1] is not value:
                clashes.append(f"{name.removeprefix('pytestbdd_stepdef_')} in {owner[name][0]} and {info.name}")
            owner.setdefault(name, (info.name, value))
    assert owner, "no step definitions found"
    assert not clashes, "step sentences defined twice: " + "; ".join(clashes)
