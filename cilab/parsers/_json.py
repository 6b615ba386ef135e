"""Small helpers for reading JSON/API objects, shared by the parsers."""
from __future__ import annotations

import re
from typing import Any

_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(key: str) -> str:
    return _CAMEL_HUMP.sub(r"_\1", key).lower()


def get(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key] by its camelCase name or its snake_case twin; `default` when absent/null."""
    if not isinstance(obj, dict):
        return default
    for name in (key, snake(key)):
        if obj.get(name) is not None:
            return obj[name]
    return default


def path(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = get(obj, key)
    return obj


def items(objs: Any) -> list[dict[str, Any]]:
    """A list of objects from a list, a single object, or a …List object."""
    if isinstance(objs, dict):
        items = objs.get("items")
        return list(items) if isinstance(items, list) else [objs]
    return list(objs or [])


def obj(value: Any, what: str) -> dict[str, Any]:
    """A JSON object, {} for an absent one; ValueError for any other JSON type."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object: {value!r}")
    return value


def array(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a JSON array: {value!r}")
    return value


def integer(value: Any, what: str) -> int | None:
    """A protojson integer: a number, or a string for 64-bit values (§1.2)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} is not an integer: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not an integer: {value!r}") from None


