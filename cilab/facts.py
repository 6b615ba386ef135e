"""Seed facts a step asserts: the declaration the catalogue is built from.

docs/seed-sections.yaml names each lesson of the write-up a student checks, with a ``key``,
the seed ``lines`` that print it and the ``value`` printed there.  A step declares the facts
it asserts and compares against the declared value itself::

    @then("rule1 is valid")
    @asserts("rule1-valid-l34")
    def rule1_valid(...):
        want = fact("rule1-valid-l34")      # the value of docs/seed-sections.yaml
        assert seen == want, f"expected {want}, saw {seen}"

Two checks keep the declaration tied to the assertion:

- at run time, a step that declares a key and returns without having read ``fact(key)``
  fails, and ``fact(key)`` outside a step that declares it raises;
- ``tools/catalogue.py --check`` fails when a declared key is unknown, when the decorated
  function's own code has no ``fact("key")`` call, or when a section's key is declared by no
  step (docs/catalogue.md lists each section with the steps and scenarios that assert it).
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

SECTIONS = Path(__file__).resolve().parent.parent / "docs" / "seed-sections.yaml"

F = TypeVar("F", bound=Callable[..., Any])

_local = threading.local()


class FactError(Exception):
    """A declaration that does not hold: an unknown key, or a declared fact not asserted."""


@functools.lru_cache(maxsize=None)
def declared(path: Path = SECTIONS) -> dict[str, dict[str, Any]]:
    """key -> the section of docs/seed-sections.yaml (lines, value, what)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, dict[str, Any]] = {}
    for sec in doc.get("sections") or []:
        key = sec.get("key")
        if key:
            out[str(key)] = sec
    return out


def asserts(*keys: str) -> Callable[[F], F]:
    """Declare the seed facts a step asserts (keys of docs/seed-sections.yaml).

    Put it under pytest-bdd's ``@given``/``@when``/``@then``.  The step fails when it
    returns without having read ``fact(key)`` for each declared key."""
    known = declared()
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise FactError(f"@asserts names unknown seed fact(s) {', '.join(unknown)} "
                        f"(keys of docs/seed-sections.yaml)")

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def step(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(_local, "frame", None)
            frame: dict[str, bool] = {k: False for k in keys}
            _local.frame = frame
            try:
                result = func(*args, **kwargs)
            finally:
                _local.frame = outer
            missing = [k for k, read in frame.items() if not read]
            if missing:
                raise AssertionError(f"step {func.__name__} declares seed fact(s) {', '.join(missing)} "
                                     f"but did not assert them")
            return result

        step.__cilab_facts__ = tuple(keys)  # type: ignore[attr-defined]
        return step  # type: ignore[return-value]

    return wrap


def fact(key: str) -> str:
    """The declared value of a seed fact, for the step's assertion; records that it was read."""
    frame = getattr(_local, "frame", None)
    if frame is None or key not in frame:
        raise FactError(f"fact({key!r}) read outside a step that declares @asserts({key!r})")
    frame[key] = True
    return str(declared()[key]["value"])


def facts_of(func: Callable[..., Any]) -> tuple[str, ...]:
    """The keys a step function declares (empty when it declares none)."""
    return tuple(getattr(func, "__cilab_facts__", ()))
