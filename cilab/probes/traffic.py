"""Requests made from inside a pod, each one carrying its own marker.

A request is named by a marker that is unique per run and per scenario (the run id, the
scenario's namespace and a counter), carried in the URL query, and its client source port
is pinned with `curl --local-port` (derived from the marker), so Hubble flows of exactly
this request can be told apart from any other scenario's or an earlier run's.  Markers
and ports are deterministic for a given run id, which is what lets a recorded run replay.

The command run in the pod (`curl_argv`) first prints one line, ``cilab-start <time>
<ips>``: the pod's clock (its node's clock) just before curl starts, and the pod's own
addresses (`hostname -i`, from the kubelet's /etc/hosts).  Those are the request's start
and its client IP as the lab saw them: no wall-clock value is ever part of a call's
arguments, so a recorded run replays.  The time is RFC 3339 in UTC, with nanoseconds
where the image's `date` has `%N` and whole seconds where it has not (`START_SCRIPT`,
`parse_start_time`).  Then curl runs with ``--connect-timeout 2`` (the
seed's own timeout, seed 1851/1923, as Cilium's connectivity test uses), ``-v`` (its
``Trying <ip>:<port>...`` lines name the address the name resolved to) and a last
stdout line ``cilab-curl code=... remote_ip=... namelookup=... connect=... total=...``
(`-w`), so a timeout can be told apart by its cause (`deny_problem`).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

from cilab import pod_tools
from cilab.errors import CallFailed
from cilab.lab import Lab

CURL_TIMEOUT_EXIT = 28  # curl: "Operation timeout"
CONNECT_TIMEOUT = 2     # seconds: the seed's `--connect-timeout 2` (seed 1851, 1923)
#: The start line.  `date -u +...%N` prints the nanoseconds with GNU coreutils (json-mock,
#: Debian) and with a BusyBox built with FEATURE_DATE_NANO; a BusyBox built without it hands
#: `%N` to the C library's strftime: musl (nicolaka/netshoot, Alpine) stops at the unknown
#: conversion and prints ``2025-07-25T19:48:16.``, glibc (Debian's busybox) copies it and
#: prints ``2025-07-25T19:48:16.%N``.  The script keeps the fraction only when digits follow
#: the dot, so every image prints an RFC 3339 time (whole seconds where `%N` is missing, which
#: only moves the request's start back by less than a second: a flow is never cut off by it).
#: POSIX sh only (`case`, `${t%%.*}`): dash in json-mock, BusyBox ash in netshoot.
START_SCRIPT = ('t=$(date -u +%Y-%m-%dT%H:%M:%S.%N); case "$t" in *.[0-9]*) ;; *) t=${t%%.*};; esac; '
                'echo "cilab-start ${t}Z $(hostname -i)"; exec "$@"')
TRAILER = ("\ncilab-curl code=%{http_code} remote_ip=%{remote_ip} namelookup=%{time_namelookup} "
           "connect=%{time_connect} total=%{time_total}")
_START_RE = re.compile(r"^cilab-start (?P<time>\S+)(?P<ips>(?: \S+)*)\s*$")
_TRAILER_RE = re.compile(r"^cilab-curl code=(?P<code>\d*) remote_ip=(?P<ip>\S*) namelookup=(?P<lookup>[\d.]*) "
                         r"connect=(?P<connect>[\d.]*) total=(?P<total>[\d.]*)\s*$")
_TRYING_RE = re.compile(r"^\*\s+Trying \[?(?P<ip>[0-9A-Fa-f.:]+?)\]?:(?P<port>\d+)\.\.\.", re.M)
_CURL_ERROR_RE = re.compile(r"^curl: \((?P<rc>\d+)\) (?P<text>.*)$", re.M)
#: curl's texts for a connect that timed out (exit 28), from curl's source, 7.88.0 to 8.21.0:
#: * ``Connection timed out after N milliseconds``: lib/multi.c `multi_handle_timeout`, the
#:   transfer's own timeout (--max-time, or --connect-timeout) ran out while connecting
#:   (7.88-8.19 literally; 8.20+ as "%s timed out", "Connection" once the name is resolved);
#: * ``Connection timeout after N ms``: the happy-eyeballs filter found the time up with an
#:   attempt still running or not yet started (lib/connect.c 7.88-8.15, lib/cf-ip-happy.c 8.16+);
#: * ``Failed to connect to HOST port P after N ms: Timeout was reached``: every attempt failed,
#:   the last with curl's timeout (lib/connect.c 7.88-8.15; lib/cf-ip-happy.c 8.16 adds an
#:   optional ``via PROXY`` before "after", 8.17-8.20 print ``HOST port P`` the same way, 8.21+
#:   print ``HOST:P``, optionally followed by `` via H:P``); the same line ends ``Couldn't
#:   connect to server`` when the socket itself reported ETIMEDOUT (exit 28 then too), and
#:   ``Connection timed out`` in curl before 7.88 (the OS error text);
#: * ``Connection time-out``: the time was already up when the connect started (lib/connect.c
#:   `start_connect`, cf-ip-happy.c 8.16+), before any address was tried.
#: ``Resolving timed out after N milliseconds`` is the resolver's timeout, not a connect.
_CONNECT_TIMEOUT_RE = re.compile(
    r"Connection timed out after \d+ milliseconds"
    r"|Connection timeout after \d+ ms"
    r"|Connection time-out$"
    r"|Failed to connect to \S+(?: port \d+)?(?: via \S+| over \S+)?(?: via \S+ | over proxy \S+ | )?after \d+ ms: "
    r"(?:Timeout was reached|Couldn't connect to server|Connection timed out)$")
_counters: dict[str, itertools.count] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Request:
    namespace: str
    pod: str
    method: str
    url: str            # the URL as sent, marker included
    marker: str
    local_port: int


@dataclass(frozen=True)
class Response:
    request: Request
    rc: int              # curl's exit code (28: timed out)
    status: int | None   # HTTP status, None when no response arrived
    body: str
    stderr: str
    started: datetime | None = None      # the pod's clock when the request started (UTC)
    client_ips: tuple[str, ...] = ()     # the client pod's addresses at that moment
    remote_ip: str = ""                  # curl's %{remote_ip}: set once connected
    tried: tuple[str, ...] = ()          # the addresses curl tried to connect to (-v "Trying")
    time_namelookup: float | None = None
    time_connect: float | None = None    # 0 when no connection was made
    time_total: float | None = None
    attempt: int = 1                     # the n-th request sent for one positive request (`send_positive`)
    start_line: str = ""                 # the first line the command printed (`unknown_start`)

    @property
    def timed_out(self) -> bool:
        return self.rc == CURL_TIMEOUT_EXIT

    @property
    def error(self) -> str:
        """curl's own error text (``Connection timed out after 2001 milliseconds``), or ``""``."""
        found = _CURL_ERROR_RE.findall(self.stderr)
        return found[-1][1].strip() if found else ""

    @property
    def host(self) -> str:
        return urlsplit(self.request.url).hostname or self.request.url


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp (Hubble's nanoseconds, `date`'s %N, or the API server's seconds) in UTC."""
    if not text:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text.strip())
    if not m:
        return None
    frac = (m[2] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if m[3] == "Z" else m[3]
    return datetime.fromisoformat(f"{m[1]}.{frac}{zone}").astimezone(timezone.utc)


#: what may follow the seconds' dot where `date` had no %N (see START_SCRIPT): nothing (musl
#: strftime stops there), or the conversion copied as is (glibc strftime), with or without the Z
_NO_NANOS = ("", "Z", "%N", "%NZ", "N", "NZ")
_START_FORM = re.compile(r"^(?P<secs>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<digits>\d*)(?P<rest>\D*))?$")
_EPOCH_FORM = re.compile(r"^(?P<secs>\d{1,12})(?:\.(?P<digits>\d*)(?P<rest>\D*))?$")


def parse_start_time(token: str) -> datetime | None:
    """The time of a ``cilab-start`` line (the token after ``cilab-start``), in UTC, or None
    when it is none of the forms a pod's `date -u +%Y-%m-%dT%H:%M:%S.%NZ` prints:

    * ``2025-07-25T19:48:16.123456789Z``: GNU coreutils, BusyBox with FEATURE_DATE_NANO;
    * ``2025-07-25T19:48:16Z``: what START_SCRIPT makes of a `date` without %N;
    * ``2025-07-25T19:48:16.`` (musl strftime stopped at %N: BusyBox on Alpine),
      ``2025-07-25T19:48:16.%NZ`` or ``.%N`` (glibc strftime: BusyBox on Debian),
      ``2025-07-25T19:48:16.NZ``: the whole second, in UTC (the script asked for -u);
    * ``1753472896.123456789``, ``1753472896.``, ``1753472896.%N``: `date +%s.%N`, the same
      three ways.

    Fractions are cut to microseconds, never rounded up: a start read late could leave the
    request's own flows out of its window.  The interface the flow matching relies on
    (cilab.probes.flows): a timezone-aware UTC datetime, or None."""
    text = token.strip()
    found = parse_time(text)
    if found is not None:
        return found
    for form in (_START_FORM, _EPOCH_FORM):
        m = form.match(text)
        if m is None:
            continue
        digits, rest = m["digits"] or "", m["rest"] or ""
        if m["digits"] is not None and not (rest in _NO_NANOS and (not digits or rest in ("", "Z"))):
            return None
        micros = int(digits[:6].ljust(6, "0")) if digits else 0
        if form is _START_FORM:
            whole = datetime.fromisoformat(m["secs"] + "+00:00")
        else:
            whole = datetime.fromtimestamp(int(m["secs"]), timezone.utc)
        return whole.replace(microsecond=micros)
    return None


_start_time = parse_start_time  # the name this module used before


@functools.lru_cache(maxsize=None)
def client_images() -> dict[str, tuple[str, ...]]:
    """Pod name -> the images of its containers, for the client pods of the suite's own
    manifests (fixtures/manifests): curl-pod (nicolaka/netshoot), xwing and tiefighter
    (quay.io/cilium/json-mock)."""
    from cilab import manifests
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(manifests.MANIFESTS.rglob("*.yaml")):
        for obj in manifests.load(str(path.relative_to(manifests.MANIFESTS))):
            if obj.get("kind") == "Pod":
                found[obj["metadata"]["name"]] = tuple(
                    c.get("image", "?") for c in (obj.get("spec") or {}).get("containers") or [])
    return found


def unknown_start(resp: Response) -> str:
    """Why the request's start is unknown, naming the pod, its image and the line it printed
    (for a failure message: its flows cannot be told by time)."""
    req = resp.request
    image = ", ".join(client_images().get(req.pod, ())) or "an image not in the suite's manifests"
    line = resp.start_line
    if _START_RE.match(line):
        what = f"printed the start line {line!r}, whose time is in no form the suite reads"
    elif line:
        what = f"printed {line!r} where the start line (cilab-start <time> <ips>) belongs"
    else:
        what = "printed nothing where the start line (cilab-start <time> <ips>) belongs"
    return f"unknown: {req.namespace}/{req.pod} (image {image}) {what}"


def new_request(lab: Lab, namespace: str, pod: str, method: str, url: str,
                marker_param: str | None = "cilab") -> Request:
    """A request with a fresh marker; `marker_param=None` keeps the URL as given."""
    run_id = str(lab.info.get("run_id", "run"))
    key = f"{namespace}/{pod}"
    with _lock:
        counter = _counters.setdefault(f"{run_id}:{key}", itertools.count(1))
        n = next(counter)
    marker = f"{run_id}-{hashlib.sha1(f'{namespace}/{pod}/{n}'.encode()).hexdigest()[:8]}"
    port = 20000 + int(hashlib.sha1(marker.encode()).hexdigest(), 16) % 30000
    if marker_param:
        parts = urlsplit(url)
        query = (parts.query + "&" if parts.query else "") + urlencode({marker_param: marker})
        url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))
    return Request(namespace, pod, method, url, marker, port)


def reset_counters() -> None:
    """Markers restart per scenario, so a scenario's calls are the same whatever ran before."""
    with _lock:
        _counters.clear()


def curl_argv(req: Request, *, max_time: int = 5, extra: tuple[str, ...] = ()) -> list[str]:
    """The command run in the client pod: the start line, then curl (see the module doc)."""
    return ["sh", "-c", START_SCRIPT, "sh",
            "curl", "-sS", "-v", "--connect-timeout", str(CONNECT_TIMEOUT), "--max-time", str(max_time),
            "--local-port", str(req.local_port), "-X", req.method, "-w", TRAILER, *extra, req.url]


def typed_curl(req: Request, extra: tuple[str, ...] = ()) -> str:
    """The request as the student types it (``kubectl exec -n NS xwing -- curl -s -XPOST
    URL``): the start line, -v, the timeouts, the pinned port and the -w trailer are the
    suite's, and stay in the attachment."""
    method = "" if req.method == "GET" else f" -X{req.method}"
    more = "".join(f" {shlex.quote(x)}" for x in extra)
    return f"kubectl exec -n {req.namespace} {req.pod} -- curl -s{method}{more} {shlex.quote(req.url)}"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_response(req: Request, stdout: str, stderr: str, rc: int) -> Response:
    """The start line, the body, and curl's -w trailer of one `curl_argv` run."""
    started: datetime | None = None
    ips: tuple[str, ...] = ()
    first, nl, rest = stdout.partition("\n")
    m = _START_RE.match(first)
    if m:
        started, ips = parse_start_time(m["time"]), tuple(m["ips"].split())
    else:
        rest = stdout
    body, _, last = rest.rpartition("\n")
    t = _TRAILER_RE.match(last)
    if t is None:
        body = rest
        code = ""
        trailer: dict[str, str] = {}
    else:
        code = t["code"]
        trailer = t.groupdict()
    status = int(code) if code.isdigit() and code != "000" else None
    return Response(req, rc, status, body, stderr, started=started, client_ips=ips, start_line=first.rstrip(),
                    remote_ip=trailer.get("ip", ""),
                    tried=tuple(dict.fromkeys(x["ip"] for x in _TRYING_RE.finditer(stderr))),
                    time_namelookup=_float(trailer.get("lookup", "")),
                    time_connect=_float(trailer.get("connect", "")),
                    time_total=_float(trailer.get("total", "")))


def send(lab: Lab, req: Request, *, container: str | None = None, max_time: int = 5,
         extra: tuple[str, ...] = ()) -> Response:
    """curl inside the pod (`curl_argv`), bounded by --connect-timeout and --max-time."""
    # a container that is not there yet ran nothing: only then is the exec made again
    try:
        result = lab.when_ready(lambda: lab.exec(req.namespace, req.pod, container,
                                                 curl_argv(req, max_time=max_time, extra=extra),
                                                 timeout=max_time + 15, typed=typed_curl(req, extra)),
                                what=f"{req.pod} in {req.namespace} runs curl")
    except CallFailed as exc:  # no `sh` in the image: one line, never again (cilab.pod_tools)
        pod_tools.check_exec_error(req.namespace, req.pod, exc)
        raise
    pod_tools.check(req.namespace, req.pod, ("curl", "date", "hostname", "sh"), result)
    return parse_response(req, result.stdout, result.stderr, result.rc)


# --- the attempts of a positive request -------------------------------------------------------
#
# What each attempt of a request that must succeed was (docs/architecture.md, "Attempt outcomes"):
# lag a real lab produces before the path is programmed everywhere, an answer for the Then
# steps to judge, a timeout judged by its own drop flows, or a verdict that fails the scenario.

ANSWER, LAG, TIMED_OUT, FAILED = "answer", "lag", "timed out", "failed"
#: Envoy's local reply when the route's cluster has no host to send to (response flag UH)
ENVOY_NO_UPSTREAM = "no healthy upstream"
#: Envoy's local reply when its connection to the upstream host failed or was reset before
#: the response headers (response flags UF/UC/URX), e.g. "... reset reason: connection
#: failure, transport failure reason: delayed connect error: 113"
ENVOY_UPSTREAM_ERROR = "upstream connect error or disconnect/reset before headers"


@dataclass(frozen=True)
class Attempt:
    """One request sent for a positive request, and what it was (`judge_attempt`)."""
    response: Response
    kind: str     # ANSWER, LAG, TIMED_OUT or FAILED
    cause: str    # what was seen, named by its cause

    def line(self) -> str:
        resp, req = self.response, self.response.request
        start = resp.started.isoformat().replace("+00:00", "Z") if resp.started else "no start line"
        return f"attempt {resp.attempt} (from port {req.local_port}, started {start}): {self.kind}: {self.cause}"


def judge_attempt(resp: Response, *, app_5xx_is_answer: bool = False, via_service: bool = True) -> Attempt:
    """What one attempt of a positive request was (see docs/architecture.md for the sources):

    * lag: the name did not resolve yet (curl 6, or a resolver timeout); the client's node has
      no backend for the Service yet (curl 7 ``No route to host``: Cilium's socket LB rejects
      the connect with EHOSTUNREACH, bpf/bpf_sock.c cil_sock4_connect); Envoy has no upstream
      host yet (HTTP 503 ``no healthy upstream``);
    * timed out: the TCP connect timed out; a policy drop or lag, told apart by the attempt's
      own drop flows (`send_positive`);
    * failed: the attempt reached a backend and failed: refused or reset, no answer after
      connecting, Envoy's ``upstream connect error`` (it tried a backend), a 5xx from the
      application (unless `app_5xx_is_answer`: the deathstar's exhaust port answers 503);
      ``No route to host`` too when the request goes to a pod's own IP (`via_service`
      False): no Service, so no socket LB backend to wait for;
    * answer: any other HTTP answer, for the Then steps to judge."""
    err = resp.error
    if resp.status is not None:
        body = resp.body.strip()
        first = (body.splitlines() or ["(empty body)"])[0]
        if resp.status == 503 and body == ENVOY_NO_UPSTREAM:
            return Attempt(resp, LAG, f"Envoy has no upstream host yet (HTTP 503 {body!r})")
        if body.startswith(ENVOY_UPSTREAM_ERROR):
            return Attempt(resp, FAILED, f"Envoy could not get an answer from the backend (HTTP {resp.status} "
                                         f"{first[:200]!r})")
        if resp.status >= 500 and not app_5xx_is_answer:
            return Attempt(resp, FAILED, f"the backend answered HTTP {resp.status} {first[:80]!r}")
        return Attempt(resp, ANSWER, f"HTTP {resp.status} {first[:80]!r}")
    seen = _outcome(resp)
    if resp.rc == 6 or (resp.rc == CURL_TIMEOUT_EXIT and "Resolving timed out" in err):
        return Attempt(resp, LAG, f"the name is not resolvable yet: {seen}")
    if resp.rc == 7 and "No route to host" in err and via_service:
        return Attempt(resp, LAG, f"the client's node has no backend for the Service yet (socket LB: "
                                  f"EHOSTUNREACH): {seen}")
    if resp.rc == CURL_TIMEOUT_EXIT and _CONNECT_TIMEOUT_RE.search(err) and not resp.time_connect:
        return Attempt(resp, TIMED_OUT, seen)
    return Attempt(resp, FAILED, seen)


def attempts_report(attempts: list[Attempt]) -> str:
    return "\n".join(a.line() for a in attempts)


def send_positive(lab: Lab, namespace: str, pod: str, method: str, url: str, *,
                  marker_param: str | None = "cilab", container: str | None = None, max_time: int = 5,
                  keep_last: bool = False, on_sent: Callable[[Response], None] | None = None,
                  app_5xx_is_answer: bool = False, via_service: bool = True,
                  backend_of: Callable[[Response], str] | None = None,
                  policy_drop_of: Callable[[Response], str | None] | None = None) -> Response:
    """A request that must succeed, sent after the Service's endpoints are the Ready pods
    (and the policy in force is realised).  Each attempt is a new request (fresh marker and
    client port: a port just used may still be in TIME_WAIT, and each attempt's flows stay
    its own) and is judged (`judge_attempt`):

    * lag is waited out: the request is made again within the default budget;
    * an attempt that reached a backend and failed fails at once, naming the attempt and
      the backend (`backend_of`: the pod and its node, from the attempt's own flows);
    * a timed-out attempt is made again, and once an answer came back, or the budget ran out
      with none, every timed-out attempt is judged by its own drop flows (`policy_drop_of`):
      one the policy dropped fails the request, naming that flow, whatever later attempts did.

    Every attempt, with its outcome, is attached to the report.  A request that must be
    denied is never sent through here: it is sent once (`send`).  When no answer comes
    within the budget the last observation is reported (`keep_last`: the last response is
    returned instead, for the caller's Then steps to judge; its `attempt` says how many
    were sent).  `on_sent` sees every response."""
    attempts: list[Attempt] = []
    typed: dict[int, str] = {}  # attempt -> its command as the student types it (`Lab.step_commands`)
    sent = itertools.count(1)
    what = f"{pod}: {method} {url}"

    class _Failed(Exception):
        pass

    def attempt() -> Response:
        req = new_request(lab, namespace, pod, method, url, marker_param=marker_param)
        resp = replace(send(lab, req, container=container, max_time=max_time), attempt=next(sent))
        commands = getattr(lab, "step_commands", None)
        if isinstance(commands, list) and commands:
            typed[resp.attempt] = commands[-1]
        judged = judge_attempt(resp, app_5xx_is_answer=app_5xx_is_answer, via_service=via_service)
        attempts.append(judged)
        if on_sent is not None:
            on_sent(resp)
        if judged.kind == FAILED:
            raise _Failed()
        assert judged.kind == ANSWER, f"{pod}: {method} {req.url}: {judged.kind}: {judged.cause}"
        return resp

    def failure(judged: Attempt, why: str) -> AssertionError:
        req = judged.response.request
        # the failed attempt's command is the one a student runs by hand (the failed step's last
        # commands), not the Hubble look-ups that judged it
        commands, command = getattr(lab, "step_commands", None), typed.get(judged.response.attempt)
        if isinstance(commands, list) and command in commands:
            commands.remove(command)
            commands.append(command)
        return AssertionError(f"{what}: attempt {judged.response.attempt} of {len(attempts)} (from port "
                              f"{req.local_port}) {why}: {judged.cause}" + "\nevery attempt:\n"
                              + attempts_report(attempts))
    def dropped_by_policy() -> tuple[Attempt, str] | None:
        """The first timed-out attempt whose own flows show it DROPPED by policy, with that flow."""
        for judged in attempts:
            if judged.kind == TIMED_OUT and policy_drop_of is not None:
                drop = policy_drop_of(judged.response)
                if drop:
                    return judged, drop
        return None

    try:
        try:
            resp = lab.eventually(attempt, what=f"{pod} gets an HTTP answer from {url}")
        except _Failed:
            last = attempts[-1]
            backend = backend_of(last.response) if backend_of is not None else "not looked up"
            raise failure(last, f"reached a backend and failed (backend: {backend})") from None
        except AssertionError:
            # no attempt was answered: one the policy dropped is the cause, not lag
            dropped = dropped_by_policy()
            if dropped is not None:
                raise failure(dropped[0], f"was dropped by policy ({dropped[1]}), and no attempt of "
                                          f"{len(attempts)} was answered") from None
            if keep_last and attempts:
                return attempts[-1].response
            raise
        dropped = dropped_by_policy()
        if dropped is not None:
            raise failure(dropped[0], f"was dropped by policy ({dropped[1]}), although attempt {resp.attempt} "
                                      "was answered") from None
        return resp
    finally:
        if attempts and lab.attach is not None:
            lab.attach(f"attempts: {what} ({len(attempts)})",
                       f"{what}: {len(attempts)} attempt(s), each a new request from a new client port\n\n"
                       + attempts_report(attempts))


@dataclass(frozen=True)
class PingResult:
    target: str
    rc: int
    sent: int
    received: int


_PING_STATS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def ping(lab: Lab, namespace: str, pod: str, target: str, count: int = 1, wait: int = 2) -> PingResult:
    """`kubectl exec <pod> -- ping -c <count> -W <wait> <target>` (iputils or busybox ping:
    both print "N packets transmitted, M (packets )received"); bounded by -W per packet."""
    # a container that is not there yet ran nothing: only then is the exec made again
    try:
        result = lab.when_ready(lambda: lab.exec(namespace, pod, None,
                                                 ["ping", "-c", str(count), "-W", str(wait), target],
                                                 timeout=count * wait + 15),
                                what=f"{pod} in {namespace} runs ping")
    except CallFailed as exc:  # no `ping` in the image: one line, never again (cilab.pod_tools)
        pod_tools.check_exec_error(namespace, pod, exc)
        raise
    pod_tools.check(namespace, pod, ("ping",), result)
    m = _PING_STATS.search(result.stdout)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return PingResult(target, result.rc, sent, received)


# --- what a request's outcome was --------------------------------------------------------------


def _took(resp: Response) -> str:
    return f" after {resp.time_total:g} s" if resp.time_total else ""


def describe_outcome(resp: Response) -> str:
    """What happened to the request, named by its cause (and, for a positive request sent
    more than once, that this was the last of its attempts)."""
    seen = _outcome(resp)
    if resp.attempt > 1:
        seen += f" (the last of {resp.attempt} requests, each from a new client port)"
    return seen


def _outcome(resp: Response) -> str:
    err = resp.error
    if resp.status is not None:
        first = (resp.body.strip().splitlines() or ["(empty body)"])[0]
        return f"HTTP {resp.status} {first[:80]!r}"
    if resp.rc in (6, 28) and (resp.rc == 6 or "Resolving timed out" in err):
        return f"could not resolve {resp.host} (curl {resp.rc}{_took(resp)}: {err or 'no error text'})"
    if resp.rc == 7:
        return f"the connection to {resp.host} failed (curl 7{_took(resp)}: {err or 'no error text'})"
    if resp.rc == CURL_TIMEOUT_EXIT and _CONNECT_TIMEOUT_RE.search(err):
        where = ", ".join(resp.tried) or "no address tried"
        return f"the connect attempt to {resp.host} ({where}) timed out (curl 28{_took(resp)}: {err})"
    if resp.rc == CURL_TIMEOUT_EXIT:
        return f"no answer (curl 28{_took(resp)}: {err or 'no error text'})"
    return f"curl exit {resp.rc} without an HTTP answer ({err or resp.stderr.strip()[-120:] or 'no error text'})"


def deny_problem(resp: Response, address: str | None = None) -> str | None:
    """None when the response shows what a policy drop looks like from the client: the name
    resolved (curl tried an address, `address` when given: the Service's ClusterIP), and
    the TCP connect to it timed out (curl exit 28 with a connect-timeout error, no
    connection made, no HTTP answer).  Otherwise what was seen instead: a resolver timeout,
    a refused connection, an HTTP answer (a 403 from the proxy, a 5xx), a timeout after
    connecting."""
    seen = describe_outcome(resp)
    connect_timeout = (resp.rc == CURL_TIMEOUT_EXIT and resp.status is None
                       and bool(_CONNECT_TIMEOUT_RE.search(resp.error)) and not resp.time_connect)
    if not connect_timeout or not resp.tried:
        return seen
    if address is not None and address not in resp.tried:
        return f"{seen}; expected a connect attempt to {address}"
    return None
