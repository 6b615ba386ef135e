"""Make the single-file Allure report fully offline: remove the analytics tag it embeds.

Allure 3's "awesome" report (npm `allure`) writes a Google Analytics loader into every
page it generates (`<script async src="https://www.googletagmanager.com/gtag/js?...">`
and an inline `gtag(...)` script); its awesome plugin offers no switch to turn that off.
A report of this suite is opened on machines that may have no network and must not call
out to anyone, so `scripts/suite` (and the report test) strip both scripts after the
report is built, and fail when anything else in the page still points at a remote script.

    python tools/offline_report.py reports/html/index.html
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

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
    left = remote_references(text)
    if left:
        print(f"offline_report: {path} still loads from the network: {', '.join(left[:3])}", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
