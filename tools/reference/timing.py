"""The timing model of the reference lab: how long each call takes on the documented lab.

The reference transcript is reconstructed, not recorded, so it has no measured durations.
This module gives every result one, in one place, by what the call is (its op, its
command, the kind it reads), so that `--replay-timing recorded` can replay the suite at
the pace of a real lab and tools/benchmark.py can predict its wall time.  Every figure
names its source in the entry's `timing` note: "seed N-M" where the write-up shows a
time (timestamps in its outputs), otherwise "estimated" with the reasoning; nothing here
is a measurement.  A transcript recorded on a real lab (`--record`) carries measured
durations instead and replaces this model (docs/transcripts.md).

Two parts make a result's duration:

* the call's own cost (an API round trip, a `kubectl exec`, a curl bounded by its own
  timeout, a `helm upgrade --wait`);
* for an answer that a poll sees before the final one ("not yet", then "now"), the time
  the lab needs to get past it (a pod starting, a policy being realised, a scrape).  That
  wait is placed on the first "not yet" answer, and sized so that the replayed poll sees
  "now" when a real poll would: at the first attempt of `cilab.retry.eventually`'s
  backoff at or after the condition turns true (`seen_at`).  A change of the backoff thus
  shows in the model after regenerating (tools/reference_lab.py).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from tenacity import wait_exponential


@dataclass(frozen=True)
class Cost:
    seconds: float
    source: str


# --- the call's own cost ---------------------------------------------------------------------

API = Cost(0.05, "estimated: one kube-apiserver request over the lab's host-only network (tens of ms)")
APPLY = Cost(0.1, "estimated: a server-side apply with admission (about 0.1 s)")
EXEC = Cost(0.4, "estimated: a kubectl exec round trip (API server, kubelet, CRI exec stream setup: a few hundred ms)")
DBG = Cost(0.6, "estimated: kubectl exec of cilium-dbg (exec round trip plus the agent's REST API)")
OBSERVE = Cost(1.0, "estimated: kubectl exec of hubble observe reading the agent's flow ring buffer")
SSH = Cost(0.2, "estimated: a command over a pooled SSH connection to a node (about 0.2 s)")
KUBECTL_ON_NODE = Cost(3.0, "estimated: kubectl apply/patch on the control plane of the monitoring example "
                            "(download plus about 15 objects)")
KUBECTL_GET_ON_NODE = Cost(0.3, "estimated: `kubectl get node -owide` on k8s-ctr over SSH (one API list, "
                                "printed as a table: about 0.1 s, plus the SSH command)")
HUBBLE_CLI = Cost(1.2, "estimated: hubble observe run on k8s-ctr over SSH, through the port-forward to Relay, "
                       "which asks the three agents' ring buffers (the seed's `hubble observe` on the node)")
HUBBLE_CLI_STATUS = Cost(0.6, "estimated: hubble status on k8s-ctr over SSH, one gRPC round trip through the "
                              "port-forward to Relay")
PORT_FORWARD_UP = Cost(1.5, "estimated: `cilium hubble port-forward` looks up the hubble-relay Service and opens a "
                            "kubectl port-forward to it before it prints 'Hubble Relay is available' (about 1-2 s); "
                            "the reference shows it up at the first look, so that time is on the first look")
HTTP = Cost(0.05, "estimated: an HTTP GET from the runner to a NodePort or host port on the lab network")
REQUEST = Cost(0.04, "seed 1697-1729: a curl from a pod, DNS lookup to HTTP exchange, took 36 ms "
                     "(17:44:03.781 to .817)")
HELM = Cost(90.0, "estimated: helm upgrade --wait to the Hubble stage: the agents restart on three nodes "
                  "(rolling) and hubble-relay/hubble-ui pull their images and start")
HELM_RESTART = Cost(35.0, "estimated from seed 2951-2994: a stage switch restarts every agent; the redaction upgrade (LAST DEPLOYED 04:55:45 KST = 19:55:45 UTC) "
                          "and the next request's flow (19:56:27) are 42 s apart, the agents' restart included; "
                          "helm upgrade --wait taken as 35 s of it")


def _command(args: dict[str, Any]) -> list[str]:
    cmd = args.get("command") or []
    return cmd.split() if isinstance(cmd, str) else list(cmd)


#: a denied request's SYN is dropped, so curl waits for its connect timeout: the seed's deny
#: (seed 1851, 1923) is `curl ... --connect-timeout 2`, as is Cilium's connectivity test
DENY_CONNECT_TIMEOUT = 2.0


def _curl_bound(argv: list[str]) -> tuple[float, str]:
    """How long a curl that gets no answer takes, and why."""
    if "--connect-timeout" in argv[:-1]:
        return float(argv[argv.index("--connect-timeout") + 1]), "its --connect-timeout"
    # the suite's deny curl carries --connect-timeout 2 from issue 9 on (seed 1851, 1923); a
    # command with only --max-time N is modelled on that bound too, not on N
    for flag in ("--max-time", "-m"):
        if flag in argv[:-1]:
            return min(float(argv[argv.index(flag) + 1]), DENY_CONNECT_TIMEOUT), \
                "the seed's --connect-timeout 2 (seed 1851, 1923; issue 9), within its --max-time"
    return DENY_CONNECT_TIMEOUT, "the seed's --connect-timeout 2 (seed 1851, 1923)"


def call_cost(op: str, args: dict[str, Any], state: list[str], result: dict[str, Any]) -> Cost:
    argv = _command(args)
    if op == "helm_upgrade":
        # from the base install (state []) to Hubble; from Hubble on, a stage switch restarts the agents
        return HELM if not state else HELM_RESTART
    if op in ("k8s_get", "k8s_list", "k8s_delete"):
        return API
    if op == "k8s_apply":
        return APPLY
    if op == "http_get":
        return HTTP
    if op == "node_clock":  # three `date` reads over the node shell
        return Cost(3 * SSH.seconds, f"three reads over the node shell; {SSH.source}")
    if op == "node_shell":
        command = args.get("command", "")
        if " get node" in command and command.startswith("kubectl"):
            return KUBECTL_GET_ON_NODE
        if "kubectl" in command:
            return KUBECTL_ON_NODE
        if command.startswith("hubble observe"):
            return HUBBLE_CLI
        if command.startswith("hubble status"):
            return HUBBLE_CLI_STATUS
        from cilab.probes.hubble_cli import ALIVE_COMMAND
        if command == ALIVE_COMMAND:
            # the first look at the port-forward the scenario just started
            return PORT_FORWARD_UP
        return SSH
    if op == "pod_exec":
        # the suite's requests run `sh -c '<start line>; exec "$@"' sh curl ...` (issue 9)
        if "curl" in argv:
            if result.get("rc", 0) == 7:
                return Cost(EXEC.seconds + REQUEST.seconds,
                            f"estimated: kubectl exec plus a curl whose connect is refused at once; {EXEC.source}")
            if result.get("rc", 0) == 28 or "error" in result:
                bound, why = _curl_bound(argv)
                return Cost(EXEC.seconds + bound,
                            f"estimated: kubectl exec plus a curl that gets no answer, bounded by "
                            f"{why}: {bound:g} s")
            return Cost(EXEC.seconds + REQUEST.seconds, f"{EXEC.source}; {REQUEST.source}")
        if argv[:2] == ["hubble", "observe"]:
            return OBSERVE
        if argv[:1] == ["cilium-dbg"] or argv[:2] == ["hubble", "status"]:
            return DBG
        return EXEC
    return API


# --- how long the lab takes to get past a "not yet" answer ------------------------------------

POD_START = Cost(5.0, "estimated: a pod start with its image cached (scheduling, sandbox, Cilium endpoint, "
                      "readiness) on the lab's 2-vCPU VMs")
POD_PULL = Cost(30.0, "estimated: a pod start that pulls its image first (prometheus/grafana, ~100 MB each)")
POLICY = Cost(2.0, "estimated: an agent imports a policy and regenerates the affected endpoints (1-2 s)")
POLICY_VALID = Cost(1.0, "estimated: the CiliumNetworkPolicy's Valid condition is set within a second "
                         "(seed 1866 shows it True at AGE 9s)")
FLOWS = Cost(1.0, "estimated: a flow reaches the agent's ring buffer and the export file within a second")
RELAY = Cost(10.0, "estimated: Hubble Relay reconnects to restarted agents (peer retry)")
SCRAPE = Cost(10.0, "the monitoring example's prometheus.yml scrapes every 10 s "
                    "(reference/cilium-1.17.6-facts.md, scrape_interval 10s): a new sample waits up to one interval")
STATUS = Cost(1.0, "estimated: a workload's status catches up with what helm --wait already waited for")
PROM_READY = Cost(3.0, "estimated: Prometheus opens its TSDB and replays the WAL before /-/ready answers 200 "
                       "(refused, then 503 Service Unavailable for a few seconds after its pod is ready)")
GRAFANA_READY = Cost(2.0, "estimated: Grafana runs its database migrations at first start before /api/health "
                          "answers (refused for a second or two after its pod is ready)")
ENDPOINTS = Cost(1.0, "estimated: the EndpointSlice controller adds a pod that turned ready within a second")
METRIC = Cost(1.0, "estimated: the agent's Hubble metrics count a flow within a second")
DEFAULT_WAIT = Cost(1.0, "estimated: a condition polled again (generic)")


def progress(op: str, args: dict[str, Any], state: list[str]) -> Cost:
    argv = _command(args)
    kind = args.get("kind")
    ns = args.get("namespace") or ""
    if op in ("k8s_get", "k8s_list"):
        if kind in ("Deployment", "Pod") and ns == "cilium-monitoring" or args.get("name") in ("prometheus", "grafana"):
            return POD_PULL
        if kind in ("Deployment", "Pod") and ns.startswith("cilab-"):
            return POD_START
        if kind == "CiliumNetworkPolicy":
            return POLICY_VALID
        if kind == "EndpointSlice":
            return ENDPOINTS
        if ns == "kube-system":
            return STATUS
    if op == "pod_exec":
        if argv[:2] == ["hubble", "status"]:
            return RELAY
        if argv[:1] == ["cilium-dbg"]:
            return POLICY
        if argv[:2] == ["hubble", "observe"] or argv[:2] == ["sh", "-c"]:
            return FLOWS
    if op == "node_shell" and args.get("command", "").startswith("hubble observe"):
        return FLOWS
    if op == "http_get":
        url = args.get("url", "")
        if "/api/v1/" in url:
            return SCRAPE
        if url.endswith("/metrics"):
            return METRIC
        if url.endswith("/-/ready"):
            return PROM_READY
        if url.endswith("/api/health"):
            return GRAFANA_READY
    return DEFAULT_WAIT


# --- when a poll sees it -----------------------------------------------------------------------

def _backoff() -> tuple[float, float]:
    from cilab.retry import eventually
    params = inspect.signature(eventually).parameters
    return float(params["initial"].default), float(params["maximum"].default)


def waits(n: int) -> list[float]:
    """The first n sleeps of `eventually` between attempts (its default backoff)."""
    initial, maximum = _backoff()
    wait = wait_exponential(multiplier=initial, min=initial, max=maximum)

    class _State:
        def __init__(self, number: int) -> None:
            self.attempt_number = number
    return [float(wait(_State(i))) for i in range(1, n + 1)]  # type: ignore[arg-type]


def seen_at(ready: float) -> float:
    """When a poll that starts at 0 first sees a condition that turns true at `ready`."""
    t, i = 0.0, 0
    while t < ready:
        t += waits(i + 1)[i]
        i += 1
    return t


# --- putting it on the entries ------------------------------------------------------------------

def apply_timing(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with a `duration` on every result and a `timing` note naming the sources."""
    op, args, results = entry["op"], entry["args"], entry["results"]
    notes: list[str] = []
    costs = [call_cost(op, args, entry["state"], r) for r in results]
    durations = [c.seconds for c in costs]
    not_yet = len(results) - 1
    if not_yet > 0:
        wait = progress(op, args, entry["state"])
        # the replay sleeps waits(not_yet) between its polls and pays each answer's own cost:
        # the first "not yet" answer carries the rest, so that "now" comes when a real poll sees it
        replayed = sum(waits(not_yet)) + sum(durations[:-1])
        durations[0] += max(0.0, seen_at(wait.seconds) - replayed)
        notes.append(f"not yet -> now: {wait.seconds:g} s ({wait.source}), seen by eventually's "
                     f"backoff at {seen_at(wait.seconds):g} s")
    seen: list[str] = []
    for c in costs:
        if c.source not in seen:
            seen.append(c.source)
    notes[:0] = seen
    out = dict(entry)
    out["results"] = [{**r, "duration": round(d, 3)} for r, d in zip(results, durations)]
    # keep the entry readable: op, seed, timing, args, state, results
    ordered = {k: out[k] for k in ("op", "seed") if k in out}
    ordered["timing"] = "; ".join(notes)
    ordered.update({k: v for k, v in out.items() if k not in ordered})
    return ordered


def timed(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [apply_timing(c) for c in calls]

