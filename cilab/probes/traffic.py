"""Requests made from inside a pod, each one carrying its own marker.

A request is named by a marker that is unique per run and per scenario (the run id, the
scenario's namespace and a counter), carried in the URL query, and its client source port
is pinned with `curl --local-port` (derived from the marker), so Hubble flows of exactly
this request can be told apart from any other scenario's or an earlier run's.  Markers
and ports are deterministic for a given run id, which is what lets a recorded run replay.
"""
from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from cilab.lab import Lab

CURL_TIMEOUT_EXIT = 28  # curl: "Operation timeout"
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

    @property
    def timed_out(self) -> bool:
        return self.rc == CURL_TIMEOUT_EXIT


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


def send(lab: Lab, req: Request, *, container: str | None = None, max_time: int = 5,
         extra: tuple[str, ...] = ()) -> Response:
    """curl inside the pod: body on stdout, then a last line with the HTTP status code."""
    argv = ["curl", "-sS", "--max-time", str(max_time), "--local-port", str(req.local_port),
            "-X", req.method, "-w", "\n%{http_code}", *extra, req.url]
    # a container that is not there yet ran nothing: only then is the exec made again
    result = lab.when_ready(lambda: lab.exec(req.namespace, req.pod, container, argv, timeout=max_time + 15),
                            what=f"{req.pod} in {req.namespace} runs curl")
    body, _, code = result.stdout.rpartition("\n")
    status = int(code) if code.strip().isdigit() and code.strip() != "000" else None
    return Response(req, result.rc, status, body, result.stderr)
