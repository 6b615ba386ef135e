"""How a request's outcome is read (curl's own output) and which flows belong to it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cilab.parsers.hubble import Endpoint, Flow
from cilab.probes import flows, traffic

REQ = traffic.Request("cilab-sw-1", "xwing", "POST",
                      "http://deathstar.cilab-sw-1.svc.cluster.local/v1/request-landing", "run-abc", 31337)
START = "cilab-start 2025-07-25T18:04:20.081532114Z 172.20.1.160\n"
TRAILER = "\ncilab-curl code={code} remote_ip={ip} namelookup={lookup} connect={connect} total={total}"

# curl 7.88.1 (quay.io/cilium/json-mock, Debian 12) with -v, the connect attempt timing out
CURL7_CONNECT_TIMEOUT = ("*   Trying 10.96.41.44:80...\n* Connection timed out after 2001 milliseconds\n"
                         "* Closing connection 0\ncurl: (28) Connection timed out after 2001 milliseconds\n")
# curl 8.14.1 (nicolaka/netshoot) with -v, the connect attempt timing out
CURL8_CONNECT_TIMEOUT = (
    "* Host webpod.ns.svc.cluster.local:80 was resolved.\n* IPv6: (none)\n* IPv4: 10.96.166.184\n"
    "*   Trying 10.96.166.184:80...\n* ipv4 connect timeout after 1999ms, move on!\n"
    "* Failed to connect to webpod.ns.svc.cluster.local port 80 after 2002 ms: Timeout was reached\n"
    "* closing connection #0\n"
    "curl: (28) Failed to connect to webpod.ns.svc.cluster.local port 80 after 2002 ms: Timeout was reached\n")
RESOLVER_TIMEOUT = "* Resolving timed out after 2000 milliseconds\n* Closing connection 0\n" \
                   "curl: (28) Resolving timed out after 2000 milliseconds\n"
NO_HOST = "* Could not resolve host: deathstar.cilab-sw-1.svc.cluster.local\n* Closing connection 0\n" \
          "curl: (6) Could not resolve host: deathstar.cilab-sw-1.svc.cluster.local\n"
REFUSED = ("*   Trying 10.96.41.44:80...\n* connect to 10.96.41.44 port 80 failed: Connection refused\n"
           "* Failed to connect to deathstar.cilab-sw-1.svc.cluster.local port 80 after 3 ms: "
           "Couldn't connect to server\n* Closing connection 0\ncurl: (7) Failed to connect to "
           "deathstar.cilab-sw-1.svc.cluster.local port 80 after 3 ms: Couldn't connect to server\n")
AFTER_CONNECT = ("*   Trying 10.96.41.44:80...\n* Connected to deathstar.cilab-sw-1.svc.cluster.local (10.96.41.44) "
                 "port 80 (#0)\n> POST /v1/request-landing HTTP/1.1\n* Operation timed out after 5001 milliseconds "
                 "with 0 bytes received\ncurl: (28) Operation timed out after 5001 milliseconds with 0 bytes received\n")


def response(stderr: str, rc: int, *, body: str = "", code: str = "000", ip: str = "", lookup: str = "0.004120",
             connect: str = "0.000000", total: str = "2.001377", start: str = START) -> traffic.Response:
    stdout = start + body + TRAILER.format(code=code, ip=ip, lookup=lookup, connect=connect, total=total)
    return traffic.parse_response(REQ, stdout, stderr, rc)


def test_the_command_never_carries_a_wall_clock_value() -> None:
    argv = traffic.curl_argv(REQ)
    assert argv[:4] == ["sh", "-c", traffic.START_SCRIPT, "sh"]
    assert argv[4:] == ["curl", "-sS", "-v", "--connect-timeout", "2", "--max-time", "5", "--local-port", "31337",
                        "-X", "POST", "-w", traffic.TRAILER, REQ.url]
    assert traffic.curl_argv(REQ) == argv  # the same request, the same call: replayable


def test_start_line_body_and_trailer_are_read() -> None:
    resp = response("*   Trying 10.96.41.44:80...\n* Connected to deathstar (10.96.41.44) port 80 (#0)\n", 0,
                    body="Ship landed\n", code="200", ip="10.96.41.44", connect="0.005", total="0.012")
    assert (resp.status, resp.body, resp.remote_ip, resp.tried) == (200, "Ship landed\n", "10.96.41.44", ("10.96.41.44",))
    assert resp.started is not None and resp.started.isoformat() == "2025-07-25T18:04:20.081532+00:00"
    assert resp.client_ips == ("172.20.1.160",)
    assert (resp.time_namelookup, resp.time_connect, resp.time_total) == (0.00412, 0.005, 0.012)


@pytest.mark.parametrize("printed", ["2025-07-25T18:04:20.%NZ", "2025-07-25T18:04:20.NZ"])
def test_a_date_without_nanoseconds_gives_the_whole_second(printed: str) -> None:
    resp = response("", 0, body="ok\n", code="200", start=f"cilab-start {printed} 172.20.0.241 \n")
    assert resp.started is not None and resp.started.isoformat() == "2025-07-25T18:04:20+00:00"
    assert resp.client_ips == ("172.20.0.241",)


def test_a_missing_start_line_leaves_the_start_unknown() -> None:
    resp = response("", 0, body="Ship landed\n", code="200", start="")
    assert (resp.started, resp.client_ips, resp.status, resp.body) == (None, (), 200, "Ship landed\n")


@pytest.mark.parametrize("stderr", [CURL7_CONNECT_TIMEOUT, CURL8_CONNECT_TIMEOUT])
def test_a_connect_timeout_to_the_resolved_address_is_a_policy_drop(stderr: str) -> None:
    resp = response(stderr, 28)
    address = resp.tried[0]
    assert traffic.deny_problem(resp, address) is None
    assert traffic.deny_problem(resp) is None
    assert "expected a connect attempt to 10.0.0.9" in traffic.deny_problem(resp, "10.0.0.9")


@pytest.mark.parametrize(("stderr", "rc", "kw", "seen"), [
    (RESOLVER_TIMEOUT, 28, {"lookup": "0.000000", "total": "2.000211"},
     "could not resolve deathstar.cilab-sw-1.svc.cluster.local (curl 28 after 2.00021 s: Resolving timed out"),
    (NO_HOST, 6, {"lookup": "0.000000"}, "could not resolve deathstar.cilab-sw-1.svc.cluster.local (curl 6"),
    (REFUSED, 7, {"total": "0.003"}, "the connection to deathstar.cilab-sw-1.svc.cluster.local failed (curl 7"),
    (AFTER_CONNECT, 28, {"connect": "0.001", "ip": "10.96.41.44", "total": "5.001"},
     "no answer (curl 28 after 5.001 s: Operation timed out after 5001 milliseconds with 0 bytes received)"),
    ("", 0, {"code": "403", "body": "Access denied\r\n", "connect": "0.001"}, "HTTP 403 'Access denied'"),
    ("", 0, {"code": "503", "body": "upstream connect error\n", "connect": "0.001"}, "HTTP 503 'upstream connect error'"),
])
def test_anything_else_is_not_a_policy_drop_and_says_what_it_was(stderr: str, rc: int, kw: dict, seen: str) -> None:
    problem = traffic.deny_problem(response(stderr, rc, **kw), "10.96.41.44")
    assert problem is not None and problem.startswith(seen), problem


# --- which flows belong to a request ----------------------------------------------------------------

XWING = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.1.160", port=31337)
DEATHSTAR = Endpoint(namespace="cilab-sw-1", pod_name="deathstar-8c4c77fb7-nnzkt", ip="172.20.2.219", port=80)


def drop(time: str, src: Endpoint = XWING) -> Flow:
    return Flow(time=time, verdict="DROPPED", drop_reason_desc="POLICY_DENIED", source=src, destination=DEATHSTAR,
                node_name="k8s-w2")


SENT = response(CURL7_CONNECT_TIMEOUT, 28)


def test_a_flow_of_the_request_belongs() -> None:
    mine = drop("2025-07-25T18:04:20.112738921Z")
    assert flows.of_request([mine], SENT) == [mine]


def test_a_flow_before_the_request_started_never_belongs() -> None:
    # the same pod, address and pinned port, a minute earlier: an earlier run or an earlier try
    assert flows.of_request([drop("2025-07-25T18:03:20.112738921Z")], SENT) == []
    # within the clock-skew allowance it still counts (the node clocks may differ that much)
    within = (SENT.started - flows.CLOCK_SKEW + timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(flows.of_request([drop(within)], SENT)) == 1
    assert flows.of_request([drop(None)], SENT) == []  # no time: it cannot be shown to be the request's


def test_a_flow_of_another_address_of_the_same_pod_name_never_belongs() -> None:
    other = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.2.77", port=31337)
    assert flows.of_request([drop("2025-07-25T18:04:20.112738921Z", other)], SENT) == []


def test_another_port_or_an_unknown_start_never_belongs() -> None:
    other_port = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.1.160", port=40112)
    assert flows.of_request([drop("2025-07-25T18:04:20.112738921Z", other_port)], SENT) == []
    unknown = response(CURL7_CONNECT_TIMEOUT, 28, start="")
    assert flows.of_request([drop("2025-07-25T18:04:20.112738921Z")], unknown) == []
    assert ("flows since unknown: cilab-sw-1/xwing (image quay.io/cilium/json-mock:v1.3.8@sha256:"
            in flows.window(unknown)), flows.window(unknown)


def test_an_http_flow_with_the_marker_belongs_on_any_port_of_the_client() -> None:
    client = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.1.160", port=51000)
    f = Flow(time="2025-07-25T18:04:20.2Z", http_url=f"http://x/?cilab={REQ.marker}", source=client,
             destination=DEATHSTAR)
    assert flows.of_request([f], SENT) == [f]
    stranger = Endpoint(namespace="cilab-sw-1", pod_name="tiefighter", ip="172.20.2.9", port=51000)
    assert flows.of_request([Flow(time=f.time, http_url=f.http_url, source=stranger, destination=DEATHSTAR)], SENT) == []


def test_the_clients_other_flows_belong_by_time_and_address_on_any_port() -> None:
    # the xwing's DNS lookup: its own source port, the request's window and the client's address
    lookup = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.1.160", port=45001)
    coredns = Endpoint(namespace="kube-system", pod_name="coredns-674b8bbfcf-2sbw2", ip="172.20.0.51", port=53)
    mine = Flow(time="2025-07-25T18:04:20.09Z", source=lookup, destination=coredns)
    assert flows.from_client([mine], SENT) == [mine]
    assert flows.of_request([mine], SENT) == []  # not the request's connection
    earlier = Flow(time="2025-07-25T18:03:20.09Z", source=lookup, destination=coredns)
    moved = Endpoint(namespace="cilab-sw-1", pod_name="xwing", ip="172.20.2.77", port=45001)
    assert flows.from_client([earlier, Flow(time=mine.time, source=moved, destination=coredns)], SENT) == []
    # trace-sock flows carry no source address: only the window applies to them
    sock = Flow(time=mine.time, source=Endpoint(namespace="cilab-sw-1", pod_name="xwing"), destination=coredns)
    assert flows.since([sock, Flow(time=earlier.time, source=sock.source, destination=coredns)], SENT) == [sock]
    assert flows.since([sock], response(CURL7_CONNECT_TIMEOUT, 28, start="")) == []


@pytest.mark.parametrize(("name", "node"), [
    ("k8s-w1", "k8s-w1"),                    # cluster.name default: the node alone
    ("kind-kind/kind-worker", "kind-worker"),  # Cilium's flow-export example on a named cluster
    ("lab/k8s-ctr", "k8s-ctr"),
    (None, None),
])
def test_node_names_as_hubble_writes_them(name: str | None, node: str | None) -> None:
    assert flows.node_of(name) == node


# --- positive requests: sent once the Service's endpoints are its pods, retried while "not yet" ---


def _pod(name: str, ip: str | None, ready: bool = True) -> dict:
    status: dict = {"phase": "Running" if ready else "Pending",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name}, "status": status}


def _slice(*ips: str, not_ready: tuple[str, ...] = ()) -> dict:
    return {"kind": "EndpointSlice", "ports": [{"port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ip not in not_ready}}
                          for ip in (*ips, *not_ready)]}


class _Lab:
    """Just enough of a Lab: EndpointSlices to list, curl outputs to hand out in turn."""

    def __init__(self, slices: list | None = None, outputs: list | None = None) -> None:
        from cilab.retry import VirtualClock
        self.info = {"run_id": "unit"}
        self.slices = slices or []
        self.outputs = list(outputs or [])
        self.sent: list[list[str]] = []
        self.typed: list[str | None] = []
        self.clock = VirtualClock()
        self.attached: list[tuple[str, str]] = []

    def attach(self, name: str, body: str) -> None:
        self.attached.append((name, body))

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> list:
        assert (kind, label_selector) == ("EndpointSlice", "kubernetes.io/service-name=webpod")
        return self.slices

    def when_ready(self, call, what: str):  # noqa: ANN001
        return call()

    def exec(self, namespace: str, pod: str, container, argv: list[str], timeout: float,  # noqa: ANN001
             typed: str | None = None):
        from cilab.model import CommandResult
        self.sent.append(argv)
        self.typed.append(typed)
        stdout, stderr, rc = self.outputs.pop(0) if len(self.outputs) > 1 else self.outputs[0]
        return CommandResult(stdout, stderr, rc)

    def eventually(self, check, *, what: str, budget="default"):  # noqa: ANN001
        from cilab.retry import eventually
        return eventually(check, what=what, budget=budget, clock=self.clock)


WEBPODS = [_pod("webpod-697b545f57-b2xst", "172.20.2.207"), _pod("webpod-697b545f57-ntmqj", "172.20.1.179")]


def test_the_endpoints_must_be_exactly_the_ready_pods() -> None:
    from cilab.probes import k8s
    k8s.check_endpoints_are(_Lab([_slice("172.20.2.207", "172.20.1.179")]), "ns", "webpod", WEBPODS, "webpod")
    # an endpoint that is not ready yet is not a backend; an extra one is not a webpod pod
    for slices, seen in (([_slice("172.20.2.207", not_ready=("172.20.1.179",))], "saw 172.20.2.207"),
                         ([_slice("172.20.2.207", "172.20.1.179", "172.20.1.32")],
                          "saw 172.20.1.179, 172.20.1.32, 172.20.2.207"),
                         ([], "saw none")):
        with pytest.raises(AssertionError) as err:
            k8s.check_endpoints_are(_Lab(slices), "ns", "webpod", WEBPODS, "webpod")
        assert str(err.value).splitlines()[0] == ("Service webpod: expected its endpoints to be exactly the webpod pods "
                                  f"172.20.1.179, 172.20.2.207, {seen}")
    # a pod that is not Ready is not expected behind the Service; no Ready pod never passes
    k8s.check_endpoints_are(_Lab([_slice("172.20.2.207")]), "ns", "webpod",
                            [WEBPODS[0], _pod("webpod-697b545f57-ntmqj", "172.20.1.179", ready=False)], "webpod")
    with pytest.raises(AssertionError, match=r"webpod pods \(none Ready\), saw none"):
        k8s.check_endpoints_are(_Lab([]), "ns", "webpod", [], "webpod")


def _out(code: str, body: str = "", rc: int = 0, stderr: str = "") -> tuple[str, str, int]:
    connected = rc == 0  # curl connected whenever an HTTP answer came back
    return START + body + TRAILER.format(code=code, ip="10.96.166.184" if connected else "", lookup="0.001",
                                         connect="0.002" if connected else "0.000000", total="0.003"), stderr, rc


# the socket LB with no backend for the Service yet: connect() fails with EHOSTUNREACH (curl 7)
NO_ROUTE = ("*   Trying 10.96.41.44:80...\n* connect to 10.96.41.44 port 80 failed: No route to host\n"
            "* Failed to connect to webpod.ns.svc.cluster.local port 80 after 1 ms: No route to host\n"
            "curl: (7) Failed to connect to webpod.ns.svc.cluster.local port 80 after 1 ms: No route to host\n")
NOT_RESOLVED = "* Could not resolve host: webpod.ns.svc.cluster.local\ncurl: (6) Could not resolve host: " \
               "webpod.ns.svc.cluster.local\n"
CONNECT_TIMEOUT = CURL7_CONNECT_TIMEOUT


def test_a_positive_request_is_made_again_while_the_lab_lags() -> None:
    """Lag is waited out: the socket LB's EHOSTUNREACH, Envoy's 'no healthy upstream', a
    name not resolvable yet; each attempt is a new request from a new client port."""
    lab = _Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE), _out("503", "no healthy upstream"),
                        _out("000", rc=6, stderr=NOT_RESOLVED),
                        _out("200", "Hostname: webpod-697b545f57-b2xst\n")])
    resp = traffic.send_positive(lab, "ns", "curl-pod", "GET", "http://webpod.ns.svc.cluster.local/")  # type: ignore[arg-type]
    assert resp.status == 200 and resp.attempt == 4 and len(lab.sent) == 4
    ports = [argv[argv.index("--local-port") + 1] for argv in lab.sent]
    assert len(set(ports)) == 4  # each attempt is a new request: fresh marker and client port
    report = lab.attached[-1]
    assert report[0].startswith("attempts: curl-pod: GET") and all(
        f"attempt {n} (from port {p}" in report[1] for n, p in enumerate(ports, 1))
    assert [line.split(": ")[1] for line in report[1].splitlines()[2:]] == ["lag", "lag", "lag", "answer"]


def test_an_answer_that_is_not_a_5xx_is_judged_not_retried() -> None:
    lab = _Lab(outputs=[_out("403", "Access denied\n")])
    resp = traffic.send_positive(lab, "ns", "curl-pod", "GET", "http://webpod.ns.svc.cluster.local/")  # type: ignore[arg-type]
    assert resp.status == 403 and len(lab.sent) == 1


@pytest.mark.parametrize("output, cause", [
    (_out("000", rc=7, stderr=REFUSED), "the connection to webpod.ns.svc.cluster.local failed (curl 7"),
    (_out("500", "Internal Server Error\n"), "the backend answered HTTP 500 'Internal Server Error'"),
    (_out("503", "upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
                 "transport failure reason: delayed connect error: 113"),
     "Envoy could not get an answer from the backend (HTTP 503 'upstream connect error"),
])
def test_an_attempt_that_reached_a_backend_and_failed_fails_at_once_naming_the_backend(
        output: tuple[str, str, int], cause: str) -> None:
    lab = _Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE), output, _out("200", "Hostname: webpod\n")])
    with pytest.raises(AssertionError) as err:
        traffic.send_positive(lab, "ns", "curl-pod", "GET", "http://webpod.ns.svc.cluster.local/",  # type: ignore[arg-type]
                              keep_last=True, backend_of=lambda resp: f"webpod-b2xst on k8s-w1 (attempt {resp.attempt})")
    text = str(err.value)
    assert "attempt 2 of 2 (from port" in text and "reached a backend and failed (backend: webpod-b2xst on " \
        "k8s-w1 (attempt 2))" in text and cause in text
    assert "attempt 1 (from port" in text and ": lag: " in text  # every attempt is in the message
    assert len(lab.sent) == 2 and "attempts: curl-pod" in lab.attached[-1][0]


def test_a_timed_out_attempt_dropped_by_policy_fails_though_a_later_one_landed() -> None:
    lab = _Lab(outputs=[_out("000", rc=28, stderr=CONNECT_TIMEOUT), _out("200", "Ship landed\n")])
    looked: list[int] = []

    def drop(resp: traffic.Response) -> str | None:
        looked.append(resp.attempt)
        return "tiefighter -> deathstar-nnzkt L3_L4 DROPPED POLICY_DENIED (TCP Flags: SYN)"
    with pytest.raises(AssertionError, match=r"attempt 1 of 2 \(from port \d+\) was dropped by policy "
                                             r"\(tiefighter -> deathstar-nnzkt L3_L4 DROPPED POLICY_DENIED"):
        traffic.send_positive(lab, "ns", "tiefighter", "POST", "http://deathstar.ns.svc.cluster.local/v1/request-landing",  # type: ignore[arg-type]
                              marker_param=None, policy_drop_of=drop)
    assert looked == [1]
    ok = _Lab(outputs=[_out("000", rc=28, stderr=CONNECT_TIMEOUT), _out("200", "Ship landed\n")])
    resp = traffic.send_positive(ok, "ns", "tiefighter", "POST", "http://deathstar.ns.svc.cluster.local/v1/request-landing",  # type: ignore[arg-type]
                                 marker_param=None, policy_drop_of=lambda resp: None)
    assert resp.status == 200 and resp.attempt == 2  # a timeout its flows do not show dropped is lag


def test_a_positive_request_never_answered_reports_the_last_try_or_returns_it() -> None:
    lab = _Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE)])
    with pytest.raises(AssertionError, match=r"not true within .*last observed: curl-pod: GET .*lag: the client's "
                                             r"node has no backend for the Service yet"):
        traffic.send_positive(lab, "ns", "curl-pod", "GET", "http://webpod.ns.svc.cluster.local/")  # type: ignore[arg-type]
    kept = traffic.send_positive(_Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE)]), "ns", "curl-pod", "GET",  # type: ignore[arg-type]
                                 "http://webpod.ns.svc.cluster.local/", keep_last=True)
    assert kept.status is None and kept.rc == 7
    assert kept.attempt > 1 and f"(the last of {kept.attempt} requests, each from a new client port)" in \
        traffic.describe_outcome(kept)


def test_a_request_whose_answer_is_a_5xx_waits_only_for_lag() -> None:
    """The deathstar's exhaust port answers its panic with HTTP 503: that is its answer
    (`app_5xx_is_answer`), for the Then step to judge."""
    lab = _Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE), _out("503", "Panic: deathstar exploded\n")])
    resp = traffic.send_positive(lab, "ns", "tiefighter", "PUT", "http://deathstar.ns.svc.cluster.local/v1/exhaust-port",  # type: ignore[arg-type]
                                 marker_param=None, app_5xx_is_answer=True)
    assert resp.status == 503 and resp.attempt == 2 and len(lab.sent) == 2


def test_no_route_to_a_pods_own_ip_is_no_lag() -> None:
    """Without a Service (a request to one pod's IP) there is no socket LB backend to wait
    for: `No route to host` fails at once, naming the pod asked."""
    lab = _Lab(outputs=[_out("000", rc=7, stderr=NO_ROUTE), _out("200", "Ship landed\n")])
    with pytest.raises(AssertionError, match=r"attempt 1 of 1 \(from port \d+\) reached a backend and failed "
                                             r"\(backend: deathstar-m8q2b on k8s-w1\): .*No route to host"):
        traffic.send_positive(lab, "ns", "tiefighter", "POST", "http://172.20.1.167/v1/request-landing",  # type: ignore[arg-type]
                              marker_param=None, via_service=False, backend_of=lambda resp: "deathstar-m8q2b on k8s-w1")
    assert len(lab.sent) == 1


def test_the_failed_attempts_command_is_the_last_one_the_student_is_shown() -> None:
    """A failed step names its last commands to run by hand (`Lab.step_commands`): the failed
    attempt's curl stays among them, after the Hubble look-up that named its backend."""
    class _Typed(_Lab):
        def __init__(self, outputs: list) -> None:
            super().__init__(outputs=outputs)
            self.step_commands: list[str] = []

        def exec(self, namespace: str, pod: str, container, argv: list[str], timeout: float,  # noqa: ANN001
                 typed: str | None = None):
            self.step_commands.append(f"curl attempt {len(self.sent) + 1}")
            return super().exec(namespace, pod, container, argv, timeout, typed)
    lab = _Typed([_out("000", rc=7, stderr=NO_ROUTE), _out("000", rc=7, stderr=REFUSED)])

    def lookup(resp: traffic.Response) -> str:
        lab.step_commands.append("hubble observe --namespace ns")
        return "webpod-b2xst on k8s-w2"
    with pytest.raises(AssertionError, match="attempt 2 of 2"):
        traffic.send_positive(lab, "ns", "curl-pod", "GET", "http://webpod.ns.svc.cluster.local/",  # type: ignore[arg-type]
                              backend_of=lookup)
    assert lab.step_commands == ["curl attempt 1", "hubble observe --namespace ns", "curl attempt 2"]


@pytest.mark.parametrize("ship, method, path, policy, allowed", [
    ("xwing", "POST", "/v1/request-landing", None, True),           # seed 1685-1692
    ("tiefighter", "PUT", "/v1/exhaust-port", None, True),
    ("xwing", "POST", "/v1/request-landing", "l3l4", False),        # seed 1923-1924
    ("tiefighter", "POST", "/v1/request-landing", "l3l4", True),    # seed 1934-1935
    ("tiefighter", "PUT", "/v1/exhaust-port", "l3l4", True),        # seed 2021-2030
    ("tiefighter", "POST", "/v1/request-landing", "l7", True),      # seed 2161-2163
    ("tiefighter", "PUT", "/v1/exhaust-port", "l7", False),         # 403 Access denied
    ("xwing", "POST", "/v1/request-landing", "l7", False),
])
def test_which_star_wars_requests_the_policy_allows(ship: str, method: str, path: str, policy: str | None,
                                                    allowed: bool) -> None:
    """An allowed request is made again while unanswered; a denied one is sent once."""
    from cilab.probes import starwars
    assert starwars.allowed(ship, method, path, policy) is allowed


def test_the_report_names_a_request_by_the_command_the_student_types() -> None:
    """The attachment of a request is named `kubectl exec -n NS POD -- curl -s -XPOST URL`; the
    start line, -v, the timeouts, the pinned port and the -w trailer stay inside it."""
    from cilab.probes.traffic import new_request, send, typed_curl
    lab = _Lab(outputs=[("cilab-start 2025-07-25T19:48:16.123456789Z 172.20.0.10\nShip landed\n"
                         "cilab-curl code=200 remote_ip=10.96.0.5 namelookup=0.001 connect=0.002 total=0.003",
                         "", 0)])
    req = new_request(lab, "ns1", "tiefighter", "POST", "http://deathstar.ns1.svc.cluster.local/v1/request-landing")
    send(lab, req, container="spaceship")
    assert lab.typed == [typed_curl(req)]
    assert typed_curl(req) == ("kubectl exec -n ns1 tiefighter -- curl -s -XPOST "
                               f"'http://deathstar.ns1.svc.cluster.local/v1/request-landing?cilab={req.marker}'")
    assert "sh" not in typed_curl(req).split() and "cilab-start" in " ".join(lab.sent[0])


def test_the_suites_own_filtered_observe_is_checked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """flows.observe: a flow that breaks a part of the filter (here `--type drop`, a
    forwarded trace event) fails at once (retry.Final), naming the flag and the flow."""
    from cilab.parsers.hubble import FlowBatch
    from cilab.retry import Final
    forwarded = Flow(time="2025-07-25T18:04:20.101738921Z", verdict="FORWARDED", source=XWING,
                     destination=DEATHSTAR, node_name="k8s-w1", event_type=4)
    dropped = Flow(time="2025-07-25T18:04:20.112738921Z", verdict="DROPPED", drop_reason_desc="POLICY_DENIED",
                   source=XWING, destination=DEATHSTAR, node_name="k8s-w2", event_type=1)
    asked: list[tuple[str, ...]] = []

    def answer(lab: object, *args: str, scope: str | None = None, last: int = 1000) -> FlowBatch:
        asked.append(args)
        return FlowBatch(flows=list(batch))
    monkeypatch.setattr(flows.hubble, "observe", answer)
    batch = [dropped]
    assert flows.observe(object(), "cilab-sw-1", "--type", "drop") == [dropped]
    assert asked == [("--namespace", "cilab-sw-1", "--type", "drop")]
    batch = [dropped, forwarded]
    with pytest.raises(Final) as failed:
        flows.observe(object(), "cilab-sw-1", "--type", "drop")
    assert "--type drop is broken by 1 flow(s)" in str(failed.value)
    assert "cilab-sw-1/xwing" in str(failed.value) and "event type 4" in str(failed.value)


def test_no_answer_at_all_names_the_attempt_the_policy_dropped() -> None:
    """When the budget runs out with no answer, a timed-out attempt whose own flows show a
    policy drop is the cause named (not the last observation only); also with keep_last,
    where the Then step would otherwise say only that the request timed out."""
    for keep_last in (False, True):
        lab = _Lab(outputs=[_out("000", rc=28, stderr=CONNECT_TIMEOUT)])
        looked: list[int] = []

        def drop(resp: traffic.Response) -> str | None:
            looked.append(resp.attempt)
            return "tiefighter -> deathstar-nnzkt L3_L4 DROPPED POLICY_DENIED (TCP Flags: SYN)" if resp.attempt == 2 else None
        with pytest.raises(AssertionError, match=r"attempt 2 of \d+ \(from port \d+\) was dropped by policy \(tiefighter "
                                                 r"-> deathstar-nnzkt L3_L4 DROPPED POLICY_DENIED .*\), and no attempt "
                                                 r"of \d+ was answered"):
            traffic.send_positive(lab, "ns", "tiefighter", "POST", "http://deathstar.ns.svc.cluster.local/v1/request-landing",  # type: ignore[arg-type]
                                  marker_param=None, policy_drop_of=drop, keep_last=keep_last)
        assert looked == [1, 2] and len(lab.sent) > 2
    kept = traffic.send_positive(_Lab(outputs=[_out("000", rc=28, stderr=CONNECT_TIMEOUT)]), "ns", "tiefighter", "POST",  # type: ignore[arg-type]
                                 "http://deathstar.ns.svc.cluster.local/v1/request-landing", marker_param=None,
                                 policy_drop_of=lambda resp: None, keep_last=True)
    assert kept.rc == 28   # no drop in its flows: the last response, for the Then step to judge
