"""A Gherkin description as the report shows it.

pytest-bdd hands a feature's or scenario's description over as its lines with the common
indentation removed: prose at the left margin, the commands a student types (and the
outputs the seed prints) indented below it.  allure-pytest-bdd puts that text into the
result's `description`, which the report renders as Markdown (Allure 3 awesome:
`descriptionHtml ?? markdownToHtml(description)`), so the indented commands ran together
into the paragraph above them.  `description_markdown` keeps the prose as paragraphs and
turns every run of indented lines into a fenced code block, one command per line.

A student reads the report beside the write-up (a blog post without line numbers), so
every `seed N-M` reference in a description is shown with the write-up's own section
heading that holds line N (`WRITEUP_SECTIONS`); the line numbers stay for maintainers.
The report lists the chapters in the write-up's order (`CHAPTER_ORDER`, applied to the
built report by tools/offline_report.py).
"""
from __future__ import annotations

import re
import textwrap

FENCE = "```"

#: The write-up's section headings (seed file line where each starts, heading as printed
#: there): the seed's README maps the same sections.  tests/unit/test_report_text.py checks
#: each heading against the seed file where it is present.
WRITEUP_SECTIONS: tuple[tuple[int, str], ...] = (
    (94, "실습환경 구성"),
    (341, "Vagrant 실행"),
    (443, "실습 환경 접속 및 확인"),
    (705, "[k8s-ctr] cilium 설치 정보 확인"),
    (870, "Hubble을 이용한 네트워크 가시성 확보"),
    (1009, "Hubble 설치 및 변화 확인"),
    (1223, "Hubble Client 설치"),
    (1366, "Cilium Network Policy 실습"),
    (1507, "Getting Started with the Star Wars Demo & Hubble/UI"),
    (1814, "보안정책 적용"),
    (2006, "Http Aware L7 레이어 정책 실습"),
    (2171, "실습 자원 삭제"),
    (2240, "Hubble Exporter 설정 실습"),
    (2398, "Hubble Exporter와 Prometheus & Grafana 연동"),
    (2534, "Prometheus & Grafana 설치"),
    (2740, "Layer 7 Protocol Visibility 실습"),
    (2905, "Security Implications & 실습"),
)

#: The chapters (feature tags) in the order the write-up teaches them; the report lists
#: features in this order and a feature's scenarios in the order of its file.
CHAPTER_ORDER: tuple[str, ...] = ("cluster", "hubble", "hubble_cli", "starwars", "export",
                                  "l7_visibility", "metrics", "redaction")

_SEED_REF = re.compile(r"\bseed(?: lines?)? (?P<first>\d+)(?:-(?P<last>\d+))?(?:[,/ ]+\d+(?:-\d+)?)*")


def writeup_sections(first: int, last: int | None = None) -> list[str]:
    """The headings of the write-up sections that lines first..last fall in."""
    last = last if last is not None else first
    out: list[str] = []
    for i, (start, heading) in enumerate(WRITEUP_SECTIONS):
        end = WRITEUP_SECTIONS[i + 1][0] - 1 if i + 1 < len(WRITEUP_SECTIONS) else 10 ** 9
        if start <= last and first <= end:
            out.append(heading)
    return out


def name_sections(line: str) -> str:
    """``(seed lines 1507-2239)`` as ``(write-up sections "Getting Started …" to "실습 자원
    삭제", seed lines 1507-2239)``: the heading a student finds in the blog, then the lines."""
    def one(m: re.Match[str]) -> str:
        found = writeup_sections(int(m["first"]), int(m["last"]) if m["last"] else None)
        if not found:
            return m[0]
        where = (f'section "{found[0]}"' if len(found) == 1
                 else f'sections "{found[0]}" to "{found[-1]}"')
        return f"write-up {where}, {m[0]}"
    return _SEED_REF.sub(one, line)


def _escape_prose(line: str, in_code: bool = False, closes: bool = True) -> tuple[str, bool]:
    """`<namespace>` in a sentence is text, not an HTML tag; inside `code` it stays as is.

    `in_code`: the line starts inside inline code opened on an earlier line of the same
    paragraph (Markdown's inline code may wrap across lines).  `closes`: whether a backtick
    left open at the end of this line is closed on a later line; if not, it is a literal
    backtick and what follows it is prose.  Returns the line and whether it ends in code."""
    parts = line.split("`")
    code = [(i % 2 == 1) != in_code for i in range(len(parts))]
    ends_in_code = code[-1]
    if ends_in_code and not closes:
        code[-1] = False
        ends_in_code = False
    for i, part in enumerate(parts):
        if not code[i]:
            parts[i] = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts), ends_in_code


def _closes_later(lines: list[str], n: int) -> bool:
    """Whether the backtick left open on prose line n is closed on a later line of the
    same paragraph (Markdown's inline code may span lines; an unmatched one is literal)."""
    for line in lines[n + 1:]:
        if not line.strip() or line[:1] in (" ", "\t"):
            return False
        if "`" in line:
            return True
    return False


def description_markdown(*descriptions: str | None) -> str:
    """The descriptions (feature first, then scenario), blank-line separated, as Markdown."""
    out: list[str] = []
    for text in descriptions:
        if not text or not text.strip():
            continue
        if out:
            out.append("")
        block: list[str] = []

        def flush() -> None:
            if block:
                if out and out[-1].strip():
                    out.append("")
                out.extend([FENCE, *textwrap.dedent("\n".join(block)).splitlines(), FENCE, ""])
                block.clear()

        in_code = False
        lines = textwrap.dedent(text.strip("\n")).splitlines()
        for n, line in enumerate(lines):
            if line.strip() and line[:1] in (" ", "\t"):
                block.append(line.rstrip())
                in_code = False
            else:
                flush()
                if not line.strip():
                    in_code = False      # a paragraph ends: an unclosed backtick stays literal
                if line.strip() or (out and out[-1].strip()):
                    escaped, in_code = _escape_prose(name_sections(line.rstrip()), in_code,
                                                     closes=_closes_later(lines, n))
                    out.append(escaped)
        flush()
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)
