"""Descriptions in the report: prose stays prose, every indented command a line of a code block."""
from __future__ import annotations

from pathlib import Path

import pytest

from cilab.report_text import (CHAPTER_ORDER, WRITEUP_SECTIONS, description_markdown, name_sections,
                               writeup_sections)

_ROOT = Path(__file__).resolve().parents[2]
SEED = next((p for p in (_ROOT.parent / "shared" / "seed" / "000_1d163ded35c94625.txt",
                         _ROOT.parent.parent / "shared" / "seed" / "000_1d163ded35c94625.txt") if p.exists()),
            _ROOT.parent / "shared" / "seed" / "000_1d163ded35c94625.txt")
FEATURES = Path(__file__).resolve().parents[2] / "features"

FEATURE = '''Lab chapter "Hubble" (seed lines 870-1365).

The student then
turns Hubble on with one Helm upgrade:

  helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values \\
    --set hubble.enabled=true
and asks deathstar.<namespace>.svc.cluster.local with `curl <url>`.'''

SCENARIO = '''The seed runs `cilium hubble port-forward &` and then `hubble status`:
  Healthcheck (via localhost:4245): Ok
  Connected Nodes: 3/3'''


def test_indented_lines_become_one_fenced_block_each_run() -> None:
    md = description_markdown(FEATURE, SCENARIO)
    assert md.splitlines() == [
        'Lab chapter "Hubble" (write-up sections "Hubble을 이용한 네트워크 가시성 확보" to '
        '"Hubble Client 설치", seed lines 870-1365).',
        "",
        "The student then",
        "turns Hubble on with one Helm upgrade:",
        "",
        "```",
        "helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values \\",
        "  --set hubble.enabled=true",
        "```",
        "",
        "and asks deathstar.&lt;namespace&gt;.svc.cluster.local with `curl <url>`.",
        "",
        "The seed runs `cilium hubble port-forward &` and then `hubble status`:",
        "",
        "```",
        "Healthcheck (via localhost:4245): Ok",
        "Connected Nodes: 3/3",
        "```",
    ]


def test_empty_descriptions_are_left_out() -> None:
    assert description_markdown(None, "", "  \n") == ""
    assert description_markdown(None, "One line.") == "One line."


def test_inline_code_that_wraps_to_the_next_line_is_not_escaped() -> None:
    md = description_markdown("It filters with `hubble observe --namespace\n<namespace>` and a <b> tag.")
    assert md.splitlines() == ["It filters with `hubble observe --namespace",
                               "<namespace>` and a &lt;b&gt; tag."]


def test_an_unmatched_backtick_is_literal_and_the_rest_stays_prose() -> None:
    md = description_markdown("One ` <y> here.\n\nNext `<z>` paragraph.")
    assert md.splitlines() == ["One ` &lt;y&gt; here.", "", "Next `<z>` paragraph."]


def test_seed_references_name_the_write_up_section_heading() -> None:
    assert writeup_sections(1507, 2239) == ["Getting Started with the Star Wars Demo & Hubble/UI",
                                            "보안정책 적용", "Http Aware L7 레이어 정책 실습", "실습 자원 삭제"]
    assert name_sections("(seed 1284-1291)") == '(write-up section "Hubble Client 설치", seed 1284-1291)'
    assert name_sections("see seed 2091/2116-2117") == \
        'see write-up section "Http Aware L7 레이어 정책 실습", seed 2091/2116-2117'
    assert name_sections("no reference here") == "no reference here"


@pytest.mark.skipif(not SEED.exists(), reason="the seed write-up is not beside this checkout (../shared/seed)")
def test_each_heading_is_printed_at_its_line_of_the_seed() -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    wrong = [(n, h, lines[n - 1]) for n, h in WRITEUP_SECTIONS if lines[n - 1].strip() != h]
    assert not wrong, wrong


def test_chapter_order_is_the_order_the_features_cite_the_write_up() -> None:
    import re
    first = {}
    for path in FEATURES.glob("*.feature"):
        text = path.read_text(encoding="utf-8")
        tag = re.search(r"^@(\w+)", text, re.M)[1]
        first[tag] = int(re.search(r"seed lines? (\d+)", text)[1])
    assert set(CHAPTER_ORDER) == set(first), (sorted(first), CHAPTER_ORDER)
    assert list(CHAPTER_ORDER) == sorted(first, key=first.get)
