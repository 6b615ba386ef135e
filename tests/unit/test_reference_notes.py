"""The reference transcript says only what the documented lab and the 1.17.6 chart say:
its `seed N-M` notes point at seed lines holding the entry's values, and its
cilium-config follows the chart's rendering rules (tools/seed_notes.py,
tools/reference_lab.py --check)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tools import seed_notes
from tools.reference.lab import BASE_CONFIG, HUBBLE_CONFIG, configmap, service_obj
from tools.reference_lab import chart_problems

RELAY_SVC = [{"value": service_obj("hubble-relay", [{"name": "grpc", "port": 80, "targetPort": 4245}],
                                   **{"k8s-app": "hubble-relay"})}]


@pytest.fixture(scope="module")
def seed() -> seed_notes.Seed:
    return seed_notes.Seed(seed_notes.find_seed())


def test_every_note_of_the_reference_points_at_its_values() -> None:
    assert seed_notes.check() == []


def test_a_drifted_note_is_found(seed: seed_notes.Seed) -> None:
    # the relay Service is printed at seed line 1164 (ClusterIP 10.96.174.49), not 1156
    wrong = seed_notes.check_entry(seed, "seed 1156 (service/hubble-relay ClusterIP 80/TCP)", RELAY_SVC,
                                   {"kind": "Service", "name": "hubble-relay"})
    assert wrong and "1164" in wrong[0]
    assert seed_notes.check_entry(seed, "seed 1164 (service/hubble-relay)", RELAY_SVC,
                                  {"kind": "Service", "name": "hubble-relay"}) == []


def test_ranges_are_read_outside_parentheses_only() -> None:
    assert seed_notes.note_ranges("seed 507, 626-629 (CIDRs 172.20.0/1/2.0/24), 703") == \
        [(507, 507), (626, 629), (703, 703)]
    assert seed_notes.note_ranges("seed 2683-2695 (9965 on every node); values 12-13 reconstructed") == \
        [(2683, 2695)]
    assert seed_notes.note_ranges("reconstructed (as xwing's in seed 1923-1924)") == []


def test_a_range_beyond_the_seed_is_reported(seed: seed_notes.Seed) -> None:
    problems = seed_notes.check_entry(seed, "seed 99999 (nowhere)", RELAY_SVC, {"name": "hubble-relay"})
    assert problems and "not in the seed" in problems[0]


def test_a_missing_seed_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CILAB_SEED", str(tmp_path / "absent.txt"))
    monkeypatch.setattr(seed_notes, "ROOT", tmp_path / "repo")
    with pytest.raises(SystemExit, match="seed write-up is not there"):
        seed_notes.check()


def _cm_call(data: dict[str, str], state: list[str]) -> dict:
    return {"op": "k8s_get", "args": {"api_version": "v1", "kind": "ConfigMap", "name": "cilium-config",
                                      "namespace": "kube-system"},
            "state": state, "results": [{"value": configmap("cilium-config", data)}]}


def test_base_stage_config_holds_no_hubble_keys() -> None:
    # the 1.17.6 chart renders hubble-export-file-max-* only inside `if .Values.hubble.enabled`
    assert not any(k.startswith("hubble-") for k in BASE_CONFIG)
    before_fix = {**BASE_CONFIG, "hubble-export-file-max-size-mb": "10", "hubble-export-file-max-backups": "5"}
    problems = chart_problems([_cm_call(before_fix, [])])
    assert problems and "hubble-export-file-max-backups" in problems[0]
    assert chart_problems([_cm_call(BASE_CONFIG, []), _cm_call(HUBBLE_CONFIG, ["hubble"])]) == []


def test_hubble_stage_config_has_the_rotation_keys_the_chart_always_renders() -> None:
    data = {k: v for k, v in HUBBLE_CONFIG.items() if k != "hubble-export-file-max-size-mb"}
    problems = chart_problems([_cm_call(data, ["hubble"])])
    assert problems and "hubble-export-file-max-size-mb is missing" in problems[0]
