"""Descriptions in the report: prose stays prose, every indented command a line of a code block."""
from __future__ import annotations

from cilab.report_text import description_markdown

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
        'Lab chapter "Hubble" (seed lines 870-1365).',
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
