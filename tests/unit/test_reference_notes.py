"""The reference transcript says only what the documented lab and the 1.17.6 chart say:
its `seed N-M` notes point at seed lines holding the entry's values, and its
cilium-config follows the chart's rendering rules (tools/seed_notes.py,
tools/reference_lab.py --check)."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

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


@functools.lru_cache(maxsize=None)
def _calls(chapter: str) -> list[dict]:
    return seed_notes.load(seed_notes.REFERENCE / f"{chapter}.yaml")["calls"]


def _entry(chapter: str, index: int) -> dict:
    return _calls(chapter)[index]


def _check(seed: seed_notes.Seed, note: str, entry: dict) -> list[str]:
    return seed_notes.check_entry(seed, note, entry.get("results") or [], entry.get("args") or {})


# The six notes a hand check of issue 17 found wrong, as they were, each naming the value it
# meant to vouch for; the entry (chapter, index) is the one the fixed reference carries today.
WRONG_NOTES = [
    # enable-hubble / enable-endpoint-health-checking are printed at 770-771, not in 777-790
    ("hubble", 0, "seed 777-790 `enable-hubble` (enable-hubble false)", "770"),
    ("hubble", 0, "seed 777-790 `enable-endpoint-health-checking` (false)", "771"),
    # the relay's peer-service and listen-address are at 1174-1175
    ("hubble", 24, "seed 1164-1166 `hubble-peer.kube-system.svc.cluster.local.:443` `:4245` "
                   "(peer-service, listen-address)", "1174"),
    # 1685-1692 are the commands only: the seed prints no answer there
    ("hubble_cli", 27, "seed 1685-1692 `Ship landed` (xwing requests a landing with no policy: Ship landed)", "1935"),
    # the seed never prints `deathstar 2/2`
    ("starwars", 9, "seed 1552-1553 `deathstar 2/2` (deployment.apps/deathstar 2/2)", "nowhere"),
    # service/webpod 10.96.166.184 is printed at 2490
    ("l7_visibility", 54, "seed 2486 `10.96.166.184` (service/webpod ClusterIP 10.96.166.184)", "2490"),
]


@pytest.mark.parametrize("chapter,index,old,hint", WRONG_NOTES,
                         ids=[f"{c}-{n.split()[1]}-{n.split()[2].strip('`')[:20]}" for c, _, n, _ in WRONG_NOTES])
def test_each_wrong_note_of_issue_17_is_refused(seed: seed_notes.Seed, chapter: str, index: int,
                                                old: str, hint: str) -> None:
    entry = _entry(chapter, index)
    assert _check(seed, entry["seed"], entry) == [], "the fixed note passes"
    problems = _check(seed, old, entry)
    assert problems, f"the restored note {old!r} was accepted"
    assert any(hint in p for p in problems), problems  # and the message says where the value is


def test_check_fails_when_a_wrong_note_is_restored_in_the_reference(tmp_path: Path) -> None:
    # the whole check over a copy of the reference, with one fixed note put back as it was
    for path in seed_notes.REFERENCE.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    doc = seed_notes.load(tmp_path / "l7_visibility.yaml")
    doc["calls"][54]["seed"] = "seed 2486 `10.96.166.184` (service/webpod ClusterIP 10.96.166.184)"
    (tmp_path / "l7_visibility.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    problems = seed_notes.check(tmp_path)
    assert len(problems) == 1 and "l7_visibility.yaml calls[54]" in problems[0] and "2490" in problems[0]


def test_a_drifted_note_is_found(seed: seed_notes.Seed) -> None:
    # the relay Service is printed at seed line 1164 (ClusterIP 10.96.174.49), not 1156
    wrong = seed_notes.check_entry(seed, "seed 1156 `10.96.174.49` (service/hubble-relay ClusterIP 80/TCP)",
                                   RELAY_SVC, {"kind": "Service", "name": "hubble-relay"})
    assert wrong and "1164" in wrong[0]
    assert seed_notes.check_entry(seed, "seed 1164 `10.96.174.49` (service/hubble-relay)", RELAY_SVC,
                                  {"kind": "Service", "name": "hubble-relay"}) == []


def test_a_note_must_name_its_value(seed: seed_notes.Seed) -> None:
    problems = seed_notes.check_entry(seed, "seed 1164 (service/hubble-relay)", RELAY_SVC, {"name": "hubble-relay"})
    assert problems and "names no value" in problems[0]


def test_a_value_the_entry_does_not_answer_is_refused(seed: seed_notes.Seed) -> None:
    # 10.96.68.0 is on the seed's line 1170, but it is hubble-peer's address, not this entry's
    problems = seed_notes.check_entry(seed, "seed 1170 `10.96.68.0` (service/hubble-peer)", RELAY_SVC,
                                      {"name": "hubble-relay"})
    assert problems and "not a value of this entry" in problems[0]


def test_a_loose_range_is_refused(seed: seed_notes.Seed) -> None:
    # 603-606: the values are on 601-603; 604-606 are a blank line, a comment and kubelet flags
    nodes = [{"value": [{"status": {"addresses": [{"address": "192.168.10.100"}, {"address": "192.168.10.102"}]}}]}]
    loose = seed_notes.check_entry(seed, "seed 603-606 `192.168.10.102` (nodes)", nodes, {})
    assert loose and "loose" in loose[0] and "last line" in loose[0]
    assert seed_notes.check_entry(seed, "seed 601-603 `192.168.10.100` `192.168.10.102` (nodes)", nodes, {}) == []


def test_an_absence_needs_no_value_of_the_entry(seed: seed_notes.Seed) -> None:
    empty = [{"value": {"rc": 0, "stdout": "", "stderr": ""}}]
    assert seed_notes.check_entry(seed, "seed 1281 `connect: connection refused` (nothing on 4245)", empty, {}) == []


def test_a_reconstructed_note_names_its_source(seed: seed_notes.Seed) -> None:
    assert seed_notes.check_entry(seed, "reconstructed (a guess)", RELAY_SVC, {})
    assert seed_notes.check_entry(seed, "reconstructed (as xwing's in seed 1923-1924)", RELAY_SVC, {}) == []


def test_ranges_are_read_outside_parentheses_only() -> None:
    assert seed_notes.note_ranges("seed 507, 626-629 (CIDRs 172.20.0/1/2.0/24), 703") == \
        [(507, 507), (626, 629), (703, 703)]
    assert seed_notes.note_ranges("seed 2683-2695 (9965 on every node); values 12-13 reconstructed") == \
        [(2683, 2695)]
    assert seed_notes.note_ranges("reconstructed (as xwing's in seed 1923-1924)") == []
    assert seed_notes.note_specs("seed 1297 `Healthcheck (via localhost:4245): Ok`, 1300 `3/3` (status)") == \
        [(1297, 1297, ["Healthcheck (via localhost:4245): Ok"]), (1300, 1300, ["3/3"])]


def test_a_range_beyond_the_seed_is_reported(seed: seed_notes.Seed) -> None:
    problems = seed_notes.check_entry(seed, "seed 99999 `x` (nowhere)", RELAY_SVC, {"name": "hubble-relay"})
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


def test_hints_show_where_the_entrys_values_are(seed: seed_notes.Seed) -> None:
    entry = _entry("l7_visibility", 54)
    hint = seed_notes.suggest(seed, "seed 2486-2490 `x` (service/webpod)", entry["results"], entry["args"])
    assert hint.endswith("-2490 `webpod` `10.96.166.184`"), hint  # the ClusterIP is on 2490, the last line
