"""Reading Hubble's export file as a rotating real node leaves it (cilab.probes.export):
the read covers the newest lumberjack backup and events.log, parses line by line, skips a
last line cut mid-write and reports a bad line without discarding the events around it.
The shell script the suite runs in the agent pod is run here for real, on a directory laid
out as Cilium's exporter (lumberjack) leaves it right after a rotation."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cilab.probes import export

NS = "cilab-test-export-rotation-1a2b3c"


def _event(n: int, ns: str = NS) -> str:
    flow = {"time": f"2025-07-26T05:00:{n:02d}.000000000Z", "uuid": f"u-{ns}-{n}", "verdict": "FORWARDED",
            "IP": {"source": "172.20.0.241", "destination": "172.20.1.179", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000 + n, "destination_port": 80, "flags": {"SYN": True}}},
            "source": {"namespace": ns, "pod_name": "curl-pod"},
            "destination": {"namespace": ns, "pod_name": "webpod-697b545f57-ntmqj"},
            "Type": "L3_L4", "node_name": "k8s-ctr", "event_type": {"type": 4},
            "traffic_direction": "EGRESS", "trace_observation_point": "TO_ENDPOINT", "is_reply": False,
            "Summary": "TCP Flags: SYN"}
    return json.dumps({"flow": flow, "node_name": "k8s-ctr", "time": flow["time"]}, separators=(",", ":"))


def _read(directory: Path) -> tuple[int, str, str]:
    argv = export.tail_command(NS, str(directory))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def test_a_read_right_after_a_rotation_covers_the_newest_backup(tmp_path: Path) -> None:
    older = tmp_path / "events-2025-07-26T04-10-41.503.log"
    newest = tmp_path / "events-2025-07-26T04-58-02.118.log"
    older.write_text(_event(1) + "\n")
    newest.write_text("".join(_event(n) + "\n" for n in (2, 3)) + _event(9, "other-scenario") + "\n")
    # events.log restarted after the rotation; the agent is writing its last line right now
    (tmp_path / "events.log").write_text(_event(4) + "\n" + _event(5) + "\n" + _event(6)[:57])
    rc, out, err = _read(tmp_path)
    assert rc == 0, err
    batch, lines, bad = export.parse_lines(out)
    assert [f.uuid for f in batch.flows] == [f"u-{NS}-{n}" for n in (2, 3, 4, 5)]  # not the older backup
    assert lines == 4 and bad == []


def test_a_bad_line_is_reported_and_the_others_kept() -> None:
    text = _event(1) + "\n" + '{"flow":{"time":"2025-07-26T05:00:02Z","verdict":"FORW{"flow":' + "\n" + _event(3) + "\n"
    batch, lines, bad = export.parse_lines(text)
    assert len(batch.flows) == 2 and lines == 3
    assert len(bad) == 1 and bad[0].startswith("line 2:")


def test_no_backup_reads_events_log_only(tmp_path: Path) -> None:
    (tmp_path / "events.log").write_text(_event(1) + "\n")
    rc, out, _ = _read(tmp_path)
    assert rc == 0 and export.parse_lines(out)[0].flows


def test_a_missing_export_file_is_told_apart(tmp_path: Path) -> None:
    rc, _, err = _read(tmp_path)
    assert rc == export.NO_FILE_RC and "no such file" in err


def test_backup_names_are_lumberjacks() -> None:
    assert export.BACKUP_RE.match("events-2025-07-26T04-58-02.118.log")
    assert not export.BACKUP_RE.match("events-2025-07-26T04-58-02.118.log.gz")  # compressed: not grepped
    assert export.is_backup("events-2025-07-26T04-58-02.118.log.gz")
