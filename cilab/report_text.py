"""A Gherkin description as the report shows it.

pytest-bdd hands a feature's or scenario's description over as its lines with the common
indentation removed: prose at the left margin, the commands a student types (and the
outputs the seed prints) indented below it.  allure-pytest-bdd puts that text into the
result's `description`, which the report renders as Markdown (Allure 3 awesome:
`descriptionHtml ?? markdownToHtml(description)`), so the indented commands ran together
into the paragraph above them.  `description_markdown` keeps the prose as paragraphs and
turns every run of indented lines into a fenced code block, one command per line.
"""
from __future__ import annotations

import textwrap

FENCE = "```"


def _escape_prose(line: str) -> str:
    """`<namespace>` in a sentence is text, not an HTML tag; inside `code` it stays as is."""
    parts = line.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


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

        for line in textwrap.dedent(text.strip("\n")).splitlines():
            if line.strip() and line[:1] in (" ", "\t"):
                block.append(line.rstrip())
            else:
                flush()
                if line.strip() or (out and out[-1].strip()):
                    out.append(_escape_prose(line.rstrip()))
        flush()
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)
