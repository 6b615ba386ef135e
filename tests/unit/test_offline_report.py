"""tools/offline_report.py: the analytics scripts Allure 3 embeds are removed, nothing else."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.offline_report import remote_references, strip

ROOT = Path(__file__).resolve().parents[2]

PAGE = """<html><head><script>window.x = 1;</script></head><body>
    <div id="app"></div>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-TEST', {"report": "awesome"});
    </script>
    <script>window.allureReportData = {"a": 1};</script>
</body></html>"""


def test_strip_removes_the_loader_and_its_config_only() -> None:
    out, removed = strip(PAGE)
    assert removed == 2
    assert "googletagmanager" not in out and "gtag" not in out
    assert "window.x = 1;" in out and "window.allureReportData" in out and '<div id="app">' in out
    assert remote_references(out) == []


def test_the_command_refuses_a_page_that_still_loads_a_remote_script(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(PAGE.replace("</body>", '<script src="https://cdn.example/x.js"></script></body>'))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "offline_report.py"), str(page)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "https://cdn.example/x.js" in proc.stderr
    clean = tmp_path / "clean.html"
    clean.write_text(PAGE)
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "offline_report.py"), str(clean)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "googletagmanager" not in clean.read_text()


def _embed(name: str, value: object) -> str:
    import base64
    import json
    return f'd("{name}","{base64.b64encode(json.dumps(value).encode()).decode()}")'


def test_the_tree_is_put_in_the_write_up_order(tmp_path: Path) -> None:
    """Chapters as CHAPTER_ORDER lists them, scenarios in the order of their file (an
    outline's examples by the names their placeholders give), whatever order they ran in."""
    import base64
    import json
    import re

    from tools.offline_report import WriteupRank, in_writeup_order
    features = tmp_path / "features"
    features.mkdir()
    (features / "starwars.feature").write_text("@starwars\nFeature: SW\n  Scenario: first\n"
                                               "  Scenario Outline: <ship> lands\n")
    (features / "cluster.feature").write_text("@cluster\nFeature: C\n  Scenario: nodes\n  Scenario: pods\n")
    runs = {"a": ("features/starwars.feature:first", 1), "b": ("features/cluster.feature:pods", 2),
            "c": ("features/starwars.feature:xwing lands", 3), "d": ("features/cluster.feature:nodes", 4),
            "e": ("features/starwars.feature:tiefighter lands", 0)}
    tree = {"root": {"groups": ["sw", "cl"]},
            "groupsById": {"sw": {"nodeId": "sw", "leaves": ["a", "c", "e"]},
                           "cl": {"nodeId": "cl", "leaves": ["b", "d"]}},
            "leavesById": {k: {"nodeId": k, "start": start, "groupOrder": 1} for k, (_, start) in runs.items()}}
    page = "".join([_embed("widgets/tree.json", tree), _embed("widgets/nav.json", list(runs)),
                    *(_embed(f"data/test-results/{k}.json", {"id": k, "fullName": full, "start": start})
                      for k, (full, start) in runs.items())])
    out, placed = in_writeup_order(page, WriteupRank(features))
    assert placed == 5
    files = {m[1]: json.loads(base64.b64decode(m[2])) for m in re.finditer(r'd\("([^"]+)","([^"]*)"\)', out)}
    leaves = files["widgets/tree.json"]["leavesById"]
    assert sorted(leaves, key=lambda k: leaves[k]["groupOrder"]) == ["d", "b", "a", "e", "c"]
    assert files["widgets/tree.json"]["groupsById"]["sw"]["leaves"] == ["a", "e", "c"]
    assert files["widgets/nav.json"] == ["d", "b", "a", "e", "c"]
    assert files["data/test-results/a.json"]["start"] == 1          # times are left as measured
