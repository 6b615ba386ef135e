"""Scenarios that change the cluster for everyone are handed out last (docs/decisions.md,
"Cluster-wide changes run last"), whatever order another plugin chose."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.selftest.test_bad_input import _pytest

REVERSE = """
def pytest_collection_modifyitems(items):
    items.reverse()
"""


@pytest.mark.parametrize("reordered", [False, True], ids=["collection order", "after another plugin's order"])
def test_cluster_change_scenarios_come_last(reordered: bool, tmp_path: Path) -> None:
    args, env = [], {}
    if reordered:
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        (plugins / "reverse_items.py").write_text(REVERSE)
        args, env = ["-p", "reverse_items"], {"PYTHONPATH": str(plugins)}
    rc, out, _ = _pytest(tmp_path, "--lab", "replay", "--collect-only", *args, env=env)
    assert rc == 0, out
    ids = [line for line in out.splitlines() if "::" in line]
    assert len(ids) > 10, out
    assert "test_redaction.py::" in ids[-1], ids[-3:]
    if reordered:
        assert "test_starwars.py::" in ids[0], ids[:2]   # the other plugin's order is kept otherwise
