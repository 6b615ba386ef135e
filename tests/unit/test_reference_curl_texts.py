"""The reference's curl-pod failures are worded as the write-up's curl-pod's curl words them
(issue 15's curl texts): the write-up's `nicolaka/netshoot` ran curl 8.14.1 (whoami echoes
`User-Agent: curl/8.14.1`, seed 2942), and for the suite's `--connect-timeout 2` running out
on an unanswered SYN, curl 7.88-8.15's lib/connect.c prints
`Failed to connect to HOST port P after N ms: Timeout was reached` (the real curl here prints
that same form on loopback: test_curl_connect_timeout.py).  Every such text is read as a
connect timeout by the suite."""
from __future__ import annotations

import re

from cilab.probes import traffic
from tools import seed_notes
from tools.reference.lab import CURL_POD_CURL

CURL_ERROR = re.compile(r"^curl: \((\d+)\) (.*)$", re.M)


def _curl_pod_failures() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(seed_notes.REFERENCE.glob("*.yaml")):
        for call in seed_notes.load(path)["calls"]:
            if call.get("op") != "pod_exec" or (call.get("args") or {}).get("pod") != "curl-pod":
                continue
            for result in call.get("results") or []:
                for rc, text in CURL_ERROR.findall(result.get("stderr") or ""):
                    found.append((path.stem, int(rc), text))
    return found


def test_the_write_ups_curl_pod_ran_the_curl_the_reference_words_its_failures_as() -> None:
    seed = seed_notes.Seed(seed_notes.find_seed())
    assert f"User-Agent: curl/{CURL_POD_CURL}" in seed.lines[2942 - 1]


def test_every_curl_pod_connect_timeout_of_the_reference_is_worded_as_curl_8_14_words_it() -> None:
    timeouts = [(chapter, text) for chapter, rc, text in _curl_pod_failures()
                if rc == 28 and traffic._CONNECT_TIMEOUT_RE.search(text)]
    assert {chapter for chapter, _ in timeouts} >= {"metrics", "l7_visibility"}, timeouts
    for chapter, text in timeouts:
        assert re.fullmatch(r"Failed to connect to \S+ port \d+ after \d+ ms: Timeout was reached", text), \
            (chapter, text)
    assert not [t for t in _curl_pod_failures() if "Connection timed out after" in t[2]]
