"""The nightly's render check (tools/check_stage_render.py) on rendered manifests written
here: it must accept each stage as the features expect it and name what is wrong otherwise.
(The real `helm template` at the pinned chart runs in the nightly's first job.)"""
from __future__ import annotations

from typing import Any

from tools.check_stage_render import check_rendered, hubble_metrics


def rendered(data: dict[str, str]) -> list[Any]:
    return [{"kind": "ServiceAccount", "metadata": {"name": "cilium"}},
            {"kind": "ConfigMap", "metadata": {"name": "cilium-config"}, "data": data}]


HUBBLE = {"enable-hubble": "true", "enable-hubble-open-metrics": "true", "hubble-listen-address": ":4244",
          "hubble-metrics-server": ":9965", "hubble-metrics": hubble_metrics(),
          "hubble-export-file-path": "/var/run/cilium/hubble/events.log", "prometheus-serve-addr": ":9962",
          "operator-prometheus-serve-addr": ":9963", "hubble-export-file-max-size-mb": "10"}
REDACTION = {**HUBBLE, "hubble-redact-enabled": "true", "hubble-redact-http-urlquery": "true",
             "hubble-redact-http-userinfo": "true", "hubble-redact-kafka-apikey": "false"}


def test_each_stage_as_expected_passes() -> None:
    assert check_rendered("base", rendered({"enable-hubble": "false", "debug": "true"})) == []
    assert check_rendered("hubble", rendered(HUBBLE)) == []
    assert check_rendered("redaction", rendered(REDACTION)) == []
    assert hubble_metrics().startswith("dns drop tcp flow port-distribution icmp httpV2:exemplars=true;")


def test_base_with_any_hubble_key_fails() -> None:
    assert check_rendered("base", rendered({"enable-hubble": "false", "hubble-export-file-max-size-mb": "10"})) == [
        "base: cilium-config renders hubble-export-file-max-size-mb, which this stage must not have"]


def test_missing_or_wrong_entries_are_named() -> None:
    broken = {k: v for k, v in HUBBLE.items() if k != "hubble-export-file-path"}
    broken["hubble-listen-address"] = ":4245"
    assert check_rendered("hubble", rendered(broken)) == [
        "hubble: cilium-config hubble-listen-address: expected ':4244', rendered ':4245'",
        "hubble: cilium-config hubble-export-file-path: expected '/var/run/cilium/hubble/events.log', not rendered"]
    assert check_rendered("hubble", rendered({**HUBBLE, "hubble-redact-enabled": "true"})) == [
        "hubble: cilium-config renders hubble-redact-enabled, which this stage must not have"]
    assert check_rendered("redaction", rendered(HUBBLE))[0] == \
        "redaction: cilium-config hubble-redact-enabled: expected 'true', not rendered"
    assert check_rendered("base", []) == ["base: no ConfigMap cilium-config in the rendered chart"]
