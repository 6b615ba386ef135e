"""Make the single-file Allure report fully offline, and list it in the write-up's order.

Allure 3's "awesome" report (npm `allure`) writes a Google Analytics loader into every
page it generates (`<script async src="https://www.googletagmanager.com/gtag/js?...">`
and an inline `gtag(...)` script); its awesome plugin offers no switch to turn that off.
A report of this suite is opened on machines that may have no network and must not call
out to anyone, so `scripts/suite` (and the report test) strip both scripts after the
report is built, and fail when anything else in the page still points at a remote script.

The report's tree lists features and scenarios by the time each scenario started (its
"order" sort), which under pytest-xdist is the order two workers happened to take them.
A student reads the report beside the write-up, so the tree is put in the write-up's
order instead: chapters as `cilab.report_text.CHAPTER_ORDER` lists them, scenarios in the
order of their feature file (an outline's examples in the order they ran).  Only the
display order changes (each leaf's `groupOrder`, and the previous/next navigation); every
time the report shows is the one measured.

    python tools/offline_report.py reports/html/index.html
"""
from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: the remote loader and the inline script that configures it
_LOADER = re.compile(r"<script[^>]*\bsrc=\"https://www\.googletagmanager\.com/[^\"]*\"[^>]*>\s*</script>\s*")
_CONFIG = re.compile(r"<script>(?:(?!</script>).)*?\bgtag\((?:(?!</script>).)*?</script>\s*", re.S)
#: any script or stylesheet still loaded from the network after stripping
_REMOTE = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(https?://[^\"]+)\"")


def strip(html: str) -> tuple[str, int]:
    """The page without the analytics scripts, and how many scripts were removed."""
    html, loaders = _LOADER.subn("", html)
    html, configs = _CONFIG.subn("", html)
    return html, loaders + configs


#: one embedded file of the single-file report: d("widgets/tree.json","<base64 JSON>")
_EMBEDDED = re.compile(r'd\("(?P<name>[^"]+)","(?P<data>[A-Za-z0-9+/=]*)"\)')


class WriteupRank:
    """``features/x.feature:Scenario name`` -> (chapter index, line of the scenario); an
    outline's examples (their names have the <placeholders> filled in) rank at its line."""

    def __init__(self, features_dir: Path = ROOT / "features") -> None:
        from cilab.report_text import CHAPTER_ORDER
        self.exact: dict[str, tuple[int, int]] = {}
        self.outlines: list[tuple[re.Pattern[str], tuple[int, int]]] = []
        for path in sorted(features_dir.glob("*.feature")):
            text = path.read_text(encoding="utf-8")
            tag = re.search(r"^\s*@(\w+)", text, re.M)
            chapter = CHAPTER_ORDER.index(tag[1]) if tag and tag[1] in CHAPTER_ORDER else len(CHAPTER_ORDER)
            for number, line in enumerate(text.splitlines(), start=1):
                m = re.match(r"^\s*Scenario(?: Outline)?:\s*(.+?)\s*$", line)
                if not m:
                    continue
                full = f"features/{path.name}:{m[1]}"
                self.exact[full] = (chapter, number)
                if "<" in m[1]:
                    parts = re.split(r"<[^<>]+>", full)
                    self.outlines.append((re.compile(".+?".join(map(re.escape, parts)) + "$", re.S),
                                          (chapter, number)))
        self.unknown = (len(CHAPTER_ORDER) + 1, 0)

    def get(self, full_name: str) -> tuple[int, int]:
        if full_name in self.exact:
            return self.exact[full_name]
        for pattern, rank in self.outlines:
            if pattern.match(full_name):
                return rank
        return self.unknown


def in_writeup_order(html: str, ranks: WriteupRank) -> tuple[str, int]:
    """The page with its trees and navigation in the write-up's order; how many leaves moved
    into place (0 when the page holds no tree)."""
    files = {m["name"]: m["data"] for m in _EMBEDDED.finditer(html)}

    def decode(name: str) -> object:
        return json.loads(base64.b64decode(files[name]))

    results: dict[str, dict] = {}
    for name in files:
        if name.startswith("data/test-results/"):
            tr = decode(name)
            results[tr["id"]] = tr

    def key(test_id: str) -> tuple:
        tr = results.get(test_id) or {}
        return (*ranks.get(tr.get("fullName", "")), tr.get("start") or 0, test_id)

    replaced: dict[str, object] = {}
    placed = 0
    for name in files:
        if name == "tree.json" or name.endswith("/tree.json"):
            tree = decode(name)
            if not isinstance(tree, dict) or "leavesById" not in tree:
                continue
            leaves = tree["leavesById"]
            order = sorted(leaves, key=lambda nid: key(nid))
            for rank, nid in enumerate(order, start=1):
                leaves[nid]["groupOrder"] = rank
            for group in [tree.get("root", {}), *tree.get("groupsById", {}).values()]:
                if group.get("leaves"):
                    group["leaves"] = sorted(group["leaves"], key=lambda nid: leaves[nid]["groupOrder"])
            placed += len(order)
            replaced[name] = tree
        elif name.endswith("nav.json"):
            nav = decode(name)
            if isinstance(nav, list) and all(isinstance(x, str) for x in nav):
                replaced[name] = sorted(nav, key=key)

    def put(m: re.Match[str]) -> str:
        if m["name"] not in replaced:
            return m[0]
        data = base64.b64encode(json.dumps(replaced[m["name"]], ensure_ascii=False).encode("utf-8")).decode()
        return f'd("{m["name"]}","{data}")'
    return _EMBEDDED.sub(put, html), placed


def remote_references(html: str) -> list[str]:
    return _REMOTE.findall(html)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/offline_report.py REPORT.html", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"offline_report: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    text, removed = strip(text)
    text, _ = in_writeup_order(text, WriteupRank())
    left = remote_references(text)
    if left:
        print(f"offline_report: {path} still loads from the network: {', '.join(left[:3])}", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
