"""Every text curl prints for a connect that timed out is read as one (issue 15 point 9).

A policy drop looks, from the client, like a TCP connect that gets no answer: curl gives up
with exit 28 and one of several texts, depending on its version and on which of its timers
ran out first (`traffic._CONNECT_TIMEOUT_RE` names each with the curl source and versions).

The real curl here (Debian's 7.88.1, the curl of json-mock's Debian bookworm) produces three
of them on loopback alone: a listening socket whose accept queue is full drops every new SYN,
so a connect to it never completes (Linux `tcp_conn_request`).  Only 127.0.0.1 and ::1 are
used.  The texts no loopback case produces (curl 8.16+'s new layouts, an ETIMEDOUT from the
socket itself, a time already up before connecting) are checked as curl's source prints them.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from cilab.probes import traffic


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _full_backlog(families: tuple[int, ...]) -> Iterator[int]:
    """One port, listened on by each family's loopback address with an accept queue that is
    full (backlog 0, filled by connects nobody accepts): a SYN to it gets no answer."""
    held: list[socket.socket] = []
    port = 0
    try:
        for family in families:
            host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
            ls = socket.socket(family, socket.SOCK_STREAM)
            held.append(ls)
            if family == socket.AF_INET6:
                ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            ls.bind((host, port))
            ls.listen(0)
            port = ls.getsockname()[1]
            for _ in range(3):
                c = socket.socket(family, socket.SOCK_STREAM)
                held.append(c)
                c.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    c.connect((host, port))
        time.sleep(0.2)  # the fillers' handshakes complete on loopback at once; their queue is full
        yield port
    finally:
        for s in held:
            s.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _run(url: str, *, max_time: int = 5, extra: tuple[str, ...] = ()) -> traffic.Response:
    """The suite's own command (`curl_argv`: start line, -v, --connect-timeout 2, the -w
    trailer), run here with the real sh and curl, read by the suite's own `parse_response`."""
    req = traffic.Request("cilab-loop", "client", "GET", url, "loop-1", _free_port())
    argv = traffic.curl_argv(req, max_time=max_time, extra=extra)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=max_time + 15)
    return traffic.parse_response(req, done.stdout, done.stderr, done.returncode)


@pytest.fixture(autouse=True)
def _curl() -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: these tests run the real curl on loopback", pytrace=False)


def test_the_connect_timeout_of_the_suite_gives_failed_to_connect_timeout_was_reached() -> None:
    """--connect-timeout 2 ran out with the one attempt still waiting (lib/connect.c)."""
    with _full_backlog((socket.AF_INET,)) as port:
        resp = _run(f"http://127.0.0.1:{port}/")
    assert resp.rc == 28 and resp.status is None, resp.stderr
    assert resp.error.startswith(f"Failed to connect to 127.0.0.1 port {port} after "), resp.error
    assert resp.error.endswith(" ms: Timeout was reached"), resp.error
    assert traffic.deny_problem(resp, "127.0.0.1") is None, traffic.deny_problem(resp, "127.0.0.1")
    assert traffic.describe_outcome(resp).startswith("the connect attempt to 127.0.0.1 (127.0.0.1) timed out")


def test_a_max_time_shorter_than_the_connect_timeout_gives_connection_timed_out_after() -> None:
    """--max-time 1 ran out while connecting (lib/multi.c `multi_handle_timeout`)."""
    with _full_backlog((socket.AF_INET,)) as port:
        resp = _run(f"http://127.0.0.1:{port}/", max_time=1)
    assert resp.rc == 28 and resp.status is None, resp.stderr
    assert resp.error.startswith("Connection timed out after ") and resp.error.endswith(" milliseconds"), resp.error
    assert traffic.deny_problem(resp, "127.0.0.1") is None, traffic.deny_problem(resp, "127.0.0.1")


def test_an_attempt_not_yet_started_when_the_time_is_up_gives_connection_timeout_after() -> None:
    """Both families of `localhost`, the second attempt held back by the happy-eyeballs delay
    past the connect timeout: curl finds the time up with an attempt not started
    (lib/connect.c `cf_he_connect`)."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine: the two-family case needs it")
    with _full_backlog((socket.AF_INET6, socket.AF_INET)) as port:
        resp = _run(f"http://localhost:{port}/", extra=("--happy-eyeballs-timeout-ms", "5000"))
    assert resp.rc == 28 and resp.status is None, resp.stderr
    assert resp.error.startswith("Connection timeout after ") and resp.error.endswith(" ms"), resp.error
    assert resp.tried, resp.stderr
    assert traffic.deny_problem(resp, resp.tried[0]) is None, traffic.deny_problem(resp, resp.tried[0])


# --- the texts no loopback case gives, as curl's source prints them --------------------------

TRYING = "*   Trying 10.96.41.44:80...\n"


def _resp(error: str, rc: int = 28) -> traffic.Response:
    req = traffic.Request("ns", "xwing", "GET", "http://deathstar.ns.svc.cluster.local/", "m", 31000)
    stdout = ("cilab-start 2025-07-25T19:48:16Z 172.20.1.2\n\ncilab-curl code=000 remote_ip= "
              "namelookup=0.004 connect=0.000000 total=2.002")
    return traffic.parse_response(req, stdout, f"{TRYING}* {error}\ncurl: ({rc}) {error}\n", rc)


@pytest.mark.parametrize("error", [
    # lib/multi.c, 7.88-8.21 ("%s timed out" with "Connection" from 8.20)
    "Connection timed out after 2001 milliseconds",
    # lib/connect.c 7.88-8.15, lib/cf-ip-happy.c 8.16+
    "Connection timeout after 2000 ms",
    # lib/connect.c 7.88-8.15; cf-ip-happy.c 8.16 (optional "via PROXY "), 8.17-8.20 ("HOST port P")
    "Failed to connect to deathstar.ns.svc.cluster.local port 80 after 2002 ms: Timeout was reached",
    "Failed to connect to deathstar.ns.svc.cluster.local port 80 via proxy.lan after 2002 ms: Timeout was reached",
    # cf-ip-happy.c 8.21+: "HOST:PORT", an optional " via H:P" and "over proxy P "
    "Failed to connect to deathstar.ns.svc.cluster.local:80 after 2002 ms: Timeout was reached",
    "Failed to connect to deathstar.ns.svc.cluster.local:80 via 10.96.41.44:80 after 2002 ms: Timeout was reached",
    "Failed to connect to deathstar.ns.svc.cluster.local:80 over proxy proxy.lan after 2002 ms: Timeout was reached",
    # the socket reported ETIMEDOUT: curl_easy_strerror(CURLE_COULDNT_CONNECT), exit 28 (all versions)
    "Failed to connect to deathstar.ns.svc.cluster.local port 80 after 2002 ms: Couldn't connect to server",
    # curl before 7.88 put the OS error text there
    "Failed to connect to deathstar.ns.svc.cluster.local port 80 after 2002 ms: Connection timed out",
])
def test_each_connect_timeout_text_is_a_connect_timeout(error: str) -> None:
    resp = _resp(error)
    assert resp.error == error
    assert traffic.deny_problem(resp, "10.96.41.44") is None, traffic.deny_problem(resp, "10.96.41.44")


def test_the_time_up_before_connecting_is_a_connect_timeout_with_no_address_tried() -> None:
    # lib/connect.c `start_connect` (7.88-8.15), cf-ip-happy.c (8.16+): no "Trying" line before it
    req = traffic.Request("ns", "xwing", "GET", "http://deathstar.ns.svc.cluster.local/", "m", 31000)
    resp = traffic.parse_response(req, "cilab-start 2025-07-25T19:48:16Z 172.20.1.2\n",
                                  "* Connection time-out\ncurl: (28) Connection time-out\n", 28)
    assert traffic.describe_outcome(resp).startswith(
        "the connect attempt to deathstar.ns.svc.cluster.local (no address tried) timed out")
    assert traffic.deny_problem(resp) == traffic.describe_outcome(resp)  # no address was tried: not a drop


@pytest.mark.parametrize(("error", "rc"), [
    ("Resolving timed out after 2000 milliseconds", 28),
    ("Operation timed out after 5001 milliseconds with 0 bytes received", 28),
    ("Failed to connect to deathstar.ns.svc.cluster.local port 80 after 3 ms: Couldn't connect to server", 7),
    ("Failed to connect to deathstar.ns.svc.cluster.local port 80 after 3 ms: Connection refused", 7),
    ("SSL connection timeout", 28),
])
def test_other_timeouts_and_refusals_are_not_connect_timeouts(error: str, rc: int) -> None:
    assert traffic.deny_problem(_resp(error, rc), "10.96.41.44") is not None
