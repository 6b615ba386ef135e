from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cilab.backends.replay import ReplayBackend
from cilab.errors import LabUnavailable, ReplayMiss, TranscriptError
from cilab.lab import Lab
from cilab.model import CommandResult
from cilab.retry import VirtualClock
from cilab.transcript import REDACTED, Recorder, load_transcript, scrub

BASE = """
transcript: {name: base, source: test, description: d}
calls:
  - op: node_shell
    args: {node: n1, command: ss -tlnpH}
    state: []
    results:
      - {stdout: "first", stderr: "", rc: 0}
      - {stdout: "second", stderr: "", rc: 0}
  - op: k8s_get
    args: {api_version: v1, kind: ConfigMap, name: c, namespace: ns1}
    state: ["ns1:Namespace/ns1"]
    results: [{value: {data: {k: v}}}]
  - op: http_get
    args: {url: "http://x/"}
    state: []
    results: [{error: LabUnavailable, message: "refused"}, {status: 200, body: ok, headers: {}}]
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_sequences_repeat_last_and_restart_per_scenario(tmp_path: Path) -> None:
    lab = Lab(ReplayBackend(load_transcript(_write(tmp_path, "t.yaml", BASE))), clock=VirtualClock())
    assert [lab.shell("n1", "ss -tlnpH").stdout for _ in range(3)] == ["first", "second", "second"]
    lab.begin_scenario("another")
    assert lab.shell("n1", "ss -tlnpH").stdout == "first"


def test_recorded_transport_error_is_raised(tmp_path: Path) -> None:
    lab = Lab(ReplayBackend(load_transcript(_write(tmp_path, "t.yaml", BASE))))
    with pytest.raises(LabUnavailable, match="refused"):
        lab.http_get("http://x/")
    assert lab.http_get("http://x/").status == 200


def test_state_is_scoped_per_namespace(tmp_path: Path) -> None:
    lab = Lab(ReplayBackend(load_transcript(_write(tmp_path, "t.yaml", BASE))))
    with pytest.raises(ReplayMiss) as miss:
        lab.get("v1", "ConfigMap", "c", "ns1")
    assert 'in lab state []' in str(miss.value) and '["ns1:Namespace/ns1"]' in str(miss.value)
    lab.state.namespaces["ns1"] = {"Namespace/ns1": "Namespace/ns1"}
    lab.state.namespaces["ns2"] = {"Pod/x": "other-scenario.yaml"}  # never seen by ns1 calls
    assert lab.get("v1", "ConfigMap", "c", "ns1") == {"data": {"k": "v"}}


def test_strict_miss_names_call_and_state(tmp_path: Path) -> None:
    lab = Lab(ReplayBackend(load_transcript(_write(tmp_path, "t.yaml", BASE))))
    lab.set_stages({"hubble"})
    with pytest.raises(ReplayMiss) as miss:
        lab.shell("n1", "ss -tlnpH")
    text = str(miss.value)
    assert "node_shell" in text and '["hubble"]' in text and "recorded only in state(s) []" in text


def test_mutant_overlay_replaces_and_removes(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", BASE)
    mutant = _write(tmp_path, "m.yaml", """
transcript: {name: m}
base: base.yaml
mutant: {breaks: x, expect_failing: [t], expect_message: y}
calls:
  - op: node_shell
    args: {node: n1, command: ss -tlnpH}
    state: []
    results: [{stdout: "mutated", rc: 0}]
  - op: http_get
    args: {url: "http://x/"}
    state: []
    remove: true
""")
    t = load_transcript(mutant)
    assert t.mutant and t.mutant["expect_failing"] == ["t"]
    lab = Lab(ReplayBackend(t))
    assert lab.shell("n1", "ss -tlnpH").stdout == "mutated"
    with pytest.raises(ReplayMiss):
        lab.http_get("http://x/")


REQUESTS = """
transcript: {name: base, source: test, description: d}
calls:
  - op: pod_exec
    args: {namespace: ns, pod: xwing, command: [curl, --local-port, "20001", "http://d/land"]}
    state: []
    results: [{stdout: "Ship landed", stderr: "", rc: 0}]
"""


def test_a_mutant_rule_answers_every_retry_of_a_request(tmp_path: Path) -> None:
    """A positive request is made again as a new request (a new client port) while it is not
    answered: a mutant whose lab never answers it says so for every attempt, by the words
    every attempt shares (`command_has`), not by the one client port the reference recorded."""
    _write(tmp_path, "base.yaml", REQUESTS)
    mutant = _write(tmp_path, "m.yaml", """
transcript: {name: m}
base: base.yaml
mutant: {breaks: x, expect_failing: [t], expect_message: y}
faults:
  - name: every landing of the xwing times out
    match: {op: pod_exec, namespace: ns, pod: xwing, command_has: [curl, "http://d/land"]}
    results: [{stdout: "", stderr: "curl: (28) Connection timed out after 2001 milliseconds", rc: 28}]
""")
    lab = Lab(ReplayBackend(load_transcript(mutant)))
    for port in ("20001", "20002", "20003"):
        got = lab.exec("ns", "xwing", None, ["curl", "--local-port", port, "http://d/land"])
        assert got.rc == 28
    other = Lab(ReplayBackend(load_transcript(mutant)))
    with pytest.raises(ReplayMiss):  # another pod's request is not the rule's
        other.exec("ns", "tiefighter", None, ["curl", "--local-port", "20001", "http://d/land"])
    plain = Lab(ReplayBackend(load_transcript(tmp_path / "base.yaml")))
    assert plain.exec("ns", "xwing", None, ["curl", "--local-port", "20001", "http://d/land"]).rc == 0
    with pytest.raises(ReplayMiss):  # without the rule a retry is a call nobody recorded
        plain.exec("ns", "xwing", None, ["curl", "--local-port", "20002", "http://d/land"])


def test_faults_of_every_file_of_a_folder_count(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    _write(folder, "a.yaml", REQUESTS)
    _write(folder, "b.yaml", """
transcript: {name: b}
faults:
  - match: {op: pod_exec, command_has: [curl]}
    results: [{stdout: "", stderr: "refused", rc: 7}]
""")
    assert Lab(ReplayBackend(load_transcript(folder))).exec(
        "ns", "xwing", None, ["curl", "--local-port", "20001", "http://d/land"]).rc == 7


@pytest.mark.parametrize("text, where", [
    ("transcript: {name: x}\nfaults:\n  - match: {op: pod_exec, command_has: curl}\n    results: [{rc: 1}]\n",
     "faults[0].match.command_has must be a non-empty list of strings"),
    ("transcript: {name: x}\ncalls:\n  - op: node_shell\n    args: {node: a, command: b}\n    state: []\n"
     "    results: [{stderr: only}]\n", "t.yaml:6: calls[0].results[0]: a command result needs 'stdout'"),
    ("transcript: {name: x}\ncalls:\n  - op: http_get\n    args: {url: u}\n    results: [{status: ok}]\n",
     "t.yaml:5: calls[0].results[0].status must be an integer"),
    ("calls: []\n", "missing 'transcript' header"),
    ("transcript: {name: x}\ncalls:\n  - op: k8s_get\n    args: {}\n    results: [{error: Boom}]\n",
     "'Boom' is not one of"),
])
def test_malformed_entries_name_file_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(TranscriptError) as exc:
        load_transcript(_write(tmp_path, "t.yaml", text))
    assert where in str(exc.value)


def test_recorder_scrubs_secrets_and_round_trips(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "rec" / "main.yaml", name="r", description="test")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hubble-server-certs"},
              "type": "kubernetes.io/tls", "data": {"tls.key": "c2VjcmV0"}}
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    rec.add("k8s_list", {"api_version": "v1", "kind": "Secret", "namespace": "kube-system"}, ["hubble"], [secret])
    rec.add("node_shell", {"node": "k8s-ctr", "command": "cat key"}, [], CommandResult(stdout=pem + "\nafter"))
    rec.add("node_shell", {"node": "k8s-ctr", "command": "cat key"}, [], CommandResult(stdout=pem + "\nafter"))
    rec.add("http_get", {"url": "http://a/", "headers": {"Authorization": "Bearer abcdefghijklmnop"}}, [],
            LabUnavailable("down"))
    path = rec.save()
    text = path.read_text()
    assert "c2VjcmV0" not in text and "MIIEow" not in text and "abcdefghijklmnop" not in text
    assert REDACTED in text
    doc = yaml.safe_load(text)
    assert len(doc["calls"][1]["results"]) == 1  # an unchanged repeat is not appended
    lab = Lab(ReplayBackend(load_transcript(path)))
    lab.set_stages({"hubble"})
    items = lab.list("v1", "Secret", "kube-system")
    assert items[0]["data"] == {"tls.key": REDACTED}


def test_scrub_kubeconfig_fields() -> None:
    kc = {"users": [{"user": {"client-key-data": "LS0t", "token": "abc", "username": "admin"}}]}
    out = scrub(kc)
    assert out["users"][0]["user"] == {"client-key-data": REDACTED, "token": REDACTED, "username": "admin"}


def test_a_pod_refused_before_the_namespace_has_its_service_account_is_applied_again(tmp_path: Path) -> None:
    """`error looking up service account` (403) is "not yet": manifests.apply makes the call again."""
    from cilab import manifests
    from cilab.backends.replay import ReplayBackend
    from cilab.lab import Lab
    from cilab.retry import VirtualClock
    from cilab.transcript import load_transcript
    obj = manifests.load("webpod/curl-pod.yaml")[0]
    ns = "cilab-fresh-1a2b3c"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({
        "transcript": {"name": "sa-race"},
        "calls": [{"op": "k8s_apply", "args": {"manifest": obj, "namespace": ns}, "state": [],
                   "results": [{"error": "ServiceNotReady",
                                "message": 'apply Pod curl-pod: HTTP 403 Forbidden: pods "curl-pod" is forbidden: '
                                           'error looking up service account cilab-fresh-1a2b3c/default: '
                                           'serviceaccount "default" not found'},
                               {"value": obj}]}]}))
    lab = Lab(ReplayBackend(load_transcript(path)), clock=VirtualClock())
    assert manifests.apply(lab, "webpod/curl-pod.yaml", ns) == [obj]
    assert lab.calls == 2
