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
