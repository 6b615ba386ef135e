"""The client pod's start line, with the real `date` implementations of the images the suite
execs into (issue 15 point 5).

* quay.io/cilium/json-mock (xwing, tiefighter): Debian, GNU coreutils `date`, dash;
* nicolaka/netshoot (curl-pod): Alpine, BusyBox `date` built without FEATURE_DATE_NANO, so
  `%N` reaches musl's strftime, which stops there; BusyBox ash.

Here: GNU `date` (/usr/bin/date), Debian's `busybox` (its `date` also lacks %N and hands it
to glibc's strftime, which copies it), and a static musl program that does what BusyBox's
`date` does without nanosecond support (strftime with the format, print the buffer), built
with `musl-gcc` (Debian's musl-tools).  Each prints its own form of
`date -u +%Y-%m-%dT%H:%M:%S.%NZ`; each is run through `traffic.START_SCRIPT` under dash and
under BusyBox ash, and the output is read by the suite's own `parse_response` and matched
by its own flow matching (`flows.of_request`).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cilab.parsers.hubble import Endpoint, Flow
from cilab.probes import flows, traffic

OLD_FORMAT = "+%Y-%m-%dT%H:%M:%S.%NZ"  # the start line's format before the script kept only digits
POD_IP = "172.20.0.10"
REQ = traffic.Request("cilab-l7-1", "curl-pod", "GET", "http://webpod.cilab-l7-1/?cilab=run-1", "run-1", 31337)

# what BusyBox's date does when built without FEATURE_DATE_NANO (coreutils/date.c): the
# format goes to the C library's strftime as is, and the buffer is printed whatever
# strftime returned (musl returns 0 and leaves what it wrote before the unknown %N)
BUSYBOX_LIKE_DATE_C = r"""
#include <stdio.h>
#include <string.h>
#include <time.h>
int main(int argc, char **argv) {
    int utc = 0; const char *fmt = "%a %b %e %H:%M:%S %Z %Y";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-u")) utc = 1;
        else if (argv[i][0] == '+') fmt = argv[i] + 1;
    }
    time_t now = time(NULL);
    struct tm tm;
    if (utc) gmtime_r(&now, &tm); else localtime_r(&now, &tm);
    char buf[256];
    buf[0] = 0;
    strftime(buf, sizeof buf, fmt, &tm);
    puts(buf);
    return 0;
}
"""

#: implementation -> what its raw `date -u +%Y-%m-%dT%H:%M:%S.%NZ` looks like
RAW_FORMS = {
    "gnu": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$"),
    "busybox": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.%NZ$"),
    "musl": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.$"),
}
HAS_NANOS = {"gnu": True, "busybox": False, "musl": False}


@pytest.fixture(scope="module")
def date_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """implementation -> a folder whose `date` is that implementation (and whose `hostname`
    prints the pod's address, as `hostname -i` does in a pod)."""
    root = tmp_path_factory.mktemp("dates")
    dirs: dict[str, Path] = {}
    missing = [tool for tool in ("busybox", "musl-gcc") if shutil.which(tool) is None]
    if missing or shutil.which("date") is None:
        pytest.fail(f"{', '.join(missing) or 'date'} not installed: the start line is tested with the real "
                    "binaries (Debian packages busybox and musl-tools)", pytrace=False)
    for name in RAW_FORMS:
        d = root / name
        d.mkdir()
        (d / "hostname").write_text(f"#!/bin/sh\necho {POD_IP}\n")
        (d / "hostname").chmod(0o755)
        dirs[name] = d
    (dirs["gnu"] / "date").symlink_to(shutil.which("date"))  # type: ignore[arg-type]
    (dirs["busybox"] / "date").symlink_to(shutil.which("busybox"))  # type: ignore[arg-type]
    src = root / "date.c"
    src.write_text(BUSYBOX_LIKE_DATE_C)
    subprocess.run(["musl-gcc", "-static", "-O2", "-o", str(dirs["musl"] / "date"), str(src)],
                   check=True, capture_output=True, timeout=120)
    return dirs


def _env(d: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{d}:{os.environ['PATH']}"}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.parametrize("impl", list(RAW_FORMS))
def test_each_date_prints_its_own_form_and_it_is_read(impl: str, date_dirs: dict[str, Path]) -> None:
    """The raw forms (what the old start line printed) are each read as the second they name."""
    before = _utc_now().replace(microsecond=0)
    out = subprocess.run(["date", "-u", OLD_FORMAT], env=_env(date_dirs[impl]), capture_output=True,
                         text=True, timeout=30, check=True).stdout.strip()
    after = _utc_now()
    assert RAW_FORMS[impl].match(out), f"{impl} date printed {out!r}"
    started = traffic.parse_start_time(out)
    assert started is not None, out
    assert before <= started <= after, (before, started, after)
    assert (started.microsecond != 0 or out.endswith(".000000000Z")) if HAS_NANOS[impl] else started.microsecond == 0


SHELLS = {"dash": ["/bin/sh"], "busybox-ash": ["busybox", "sh"]}


@pytest.mark.parametrize("shell", list(SHELLS))
@pytest.mark.parametrize("impl", list(RAW_FORMS))
def test_the_start_script_with_each_date_gives_a_start_and_the_flows_are_found(
        impl: str, shell: str, date_dirs: dict[str, Path]) -> None:
    before = _utc_now().replace(microsecond=0)
    argv = traffic.curl_argv(REQ)
    assert argv[:2] == ["sh", "-c"]
    # the start script as the pod runs it, the request replaced by printf of a body and a trailer
    run = [*SHELLS[shell], "-c", argv[2], "sh", "printf", "%s\\n%s",
           "Hostname: webpod-1",
           "cilab-curl code=200 remote_ip=10.96.0.20 namelookup=0.001 connect=0.002 total=0.010"]
    done = subprocess.run(run, env=_env(date_dirs[impl]), capture_output=True, text=True, timeout=30)
    after = _utc_now()
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    # the script itself always prints RFC 3339: nanoseconds, or the whole second
    want = r"\.\d{9}Z" if HAS_NANOS[impl] else "Z"
    assert re.fullmatch(rf"cilab-start \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d{want} {POD_IP}", first), first
    resp = traffic.parse_response(REQ, done.stdout, "", 0)
    assert resp.status == 200 and resp.client_ips == (POD_IP,) and resp.start_line == first
    assert resp.started is not None and before <= resp.started <= after, (before, resp.started, after)

    client = Endpoint(namespace=REQ.namespace, pod_name=REQ.pod, ip=POD_IP, port=REQ.local_port)
    server = Endpoint(namespace=REQ.namespace, pod_name="webpod-1", ip="172.20.1.5", port=80)

    def flow(at: datetime) -> Flow:
        return Flow(time=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), verdict="FORWARDED", source=client,
                    destination=server, node_name="k8s-ctr")
    mine = flow(after)                                          # the request's own flow
    earlier = flow(before - flows.CLOCK_SKEW - timedelta(seconds=2))  # the same pod and port, before it
    assert flows.of_request([earlier, mine], resp) == [mine]
    assert str(resp.started.year) in flows.window(resp)


@pytest.mark.parametrize(("token", "iso"), [
    ("2025-07-25T19:48:16.123456789Z", "2025-07-25T19:48:16.123456+00:00"),  # GNU, BusyBox with nanoseconds
    ("2025-07-25T19:48:16Z", "2025-07-25T19:48:16+00:00"),                    # START_SCRIPT without %N
    ("2025-07-25T19:48:16.", "2025-07-25T19:48:16+00:00"),                    # musl (netshoot, the line)
    ("2025-07-25T19:48:16.%NZ", "2025-07-25T19:48:16+00:00"),                 # glibc strftime (Debian busybox)
    ("2025-07-25T19:48:16.%N", "2025-07-25T19:48:16+00:00"),
    ("2025-07-25T19:48:16.NZ", "2025-07-25T19:48:16+00:00"),
    ("2025-07-25T19:48:16.999999999Z", "2025-07-25T19:48:16.999999+00:00"),  # cut, never rounded up
    ("1753472896.123456789", "2025-07-25T19:48:16.123456+00:00"),            # date +%s.%N
    ("1753472896.", "2025-07-25T19:48:16+00:00"),
    ("1753472896.%N", "2025-07-25T19:48:16+00:00"),
])
def test_every_form_is_read(token: str, iso: str) -> None:
    started = traffic.parse_start_time(token)
    assert started is not None and started.isoformat() == iso


@pytest.mark.parametrize("token", ["Z", "%Y-%m-%dT%H:%M:%S.%NZ", "2025-07-25", "2025-07-25T19:48:16.12x3Z", "yesterday"])
def test_what_is_no_time_is_not_read(token: str) -> None:
    assert traffic.parse_start_time(token) is None


@pytest.mark.parametrize(("stdout", "said"), [
    ("cilab-start Z 172.20.0.10\nok\n",
     "unknown: cilab-l7-1/curl-pod (image nicolaka/netshoot:v0.13) printed the start line "
     "'cilab-start Z 172.20.0.10', whose time is in no form the suite reads"),
    ("sh: 1: date: not found\nok\n",
     "unknown: cilab-l7-1/curl-pod (image nicolaka/netshoot:v0.13) printed 'sh: 1: date: not found' "
     "where the start line (cilab-start <time> <ips>) belongs"),
    ("",
     "unknown: cilab-l7-1/curl-pod (image nicolaka/netshoot:v0.13) printed nothing where the start line "
     "(cilab-start <time> <ips>) belongs"),
])
def test_a_start_that_cannot_be_read_names_the_pod_its_image_and_the_line(stdout: str, said: str) -> None:
    resp = traffic.parse_response(REQ, stdout, "", 0)
    assert resp.started is None
    assert traffic.unknown_start(resp) == said
    window = flows.window(resp)
    assert said in window and "no cilab-start line" not in window


def test_the_ships_images_are_named_too() -> None:
    ship = traffic.Request("cilab-sw-1", "xwing", "POST", "http://deathstar/v1/request-landing", "m", 31000)
    resp = traffic.parse_response(ship, "cilab-start garbage 172.20.1.2\n", "", 0)
    assert "cilab-sw-1/xwing (image quay.io/cilium/json-mock:v1.3.8@sha256:" in traffic.unknown_start(resp)
