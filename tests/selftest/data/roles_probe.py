"""Probe run by tests/selftest/test_node_roles.py in a pytest of its own (never collected
otherwise): on `--lab kubeconfig` against the fake API server it applies curl-pod the way the
L7 chapters do and prints what the run found and named (the roles, the report's lab label)."""
from __future__ import annotations

import pytest

from cilab import manifests, roles
from cilab.lab import Lab
from cilab.report_plugin import lab_label


def test_curl_pod_is_placed_by_role(lab: Lab, request: pytest.FixtureRequest) -> None:
    applied = manifests.apply(lab, "webpod/curl-pod.yaml", "cilab-roles-probe")
    print(f"\nPROBE placed curl-pod on {applied[0]['spec']['nodeName']}")
    print(f"PROBE roles: {roles.of_lab(lab).legend()}")
    print(f"PROBE label: {lab_label(request.config, lab)}")
