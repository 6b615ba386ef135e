"""Transcripts: every primitive call a lab answered, as readable, diff-able YAML.

Format (docs/transcripts.md has the full description)::

    transcript:            # header: what this is and where its values come from
      name: reference
      source: reconstructed-from-seed | recorded
      description: ...
    base: ../reference     # mutants only: the transcript this file overlays
    mutant:                # mutants only: what it breaks and what must fail
      breaks: ...
      expect_failing: [scenario names]
      expect_message: text the failure must contain
    calls:
      - op: node_shell                       # a primitive of cilab.backends.base
        args: {node: k8s-w2, command: ...}  # its arguments, the lookup key
        state: [hubble]                     # lab state it ran in (sorted labels)
        results:                            # what it returned, call after call
          - {stdout: ..., stderr: '', rc: 0}

A transcript path is a YAML file or a folder of them (merged in name order).  In a
mutant, an entry with the same op/args/state as a base entry replaces it; `remove: true`
deletes it.  Loading validates every entry and names file, line and field on error.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cilab.backends.base import PRIMITIVES
from cilab.errors import TranscriptError
from cilab.model import CommandResult, HttpResult

COMMAND_OPS = {"node_shell", "pod_exec", "helm_upgrade", "helm_read", "helm_rollback"}
#: timing of a result (optional): `duration`, the wall seconds the lab took to answer (for a
#: "not yet" answer seen again and again by a poll: from the first such call's start to the
#: last one's end), and `at`, when the first call that got it started, in seconds since the
#: recording worker started; never part of what a call answered
TIMING_KEYS = ("duration", "at")
HTTP_OPS = {"http_get"}
ERROR_KINDS = {"LabUnavailable", "CallFailed", "ServiceNotReady"}


def call_key(op: str, args: dict[str, Any], state: list[str]) -> str:
    """The lookup key of a call: op, canonical args and state."""
    return json.dumps([op, args, sorted(state)], sort_keys=True, separators=(",", ":"))


# --- results <-> YAML -------------------------------------------------------------

def encode_result(op: str, result: Any) -> dict[str, Any]:
    if isinstance(result, BaseException):
        # the recorded kind is the one replay raises (SSHUnreachable is a LabUnavailable)
        kind = next((c.__name__ for c in type(result).__mro__ if c.__name__ in ERROR_KINDS),
                    type(result).__name__)
        return {"error": kind, "message": str(result)}
    if op in COMMAND_OPS:
        return result.to_dict()
    if op in HTTP_OPS:
        return result.to_dict()
    return {"value": result}


def decode_result(op: str, data: dict[str, Any]) -> Any:
    if "error" in data:
        from cilab import errors
        return getattr(errors, data["error"])(data.get("message", ""))
    if op in COMMAND_OPS:
        return CommandResult.from_dict(data)
    if op in HTTP_OPS:
        return HttpResult.from_dict(data)
    return data.get("value")


# --- secret scrubbing ---------------------------------------------------------------

REDACTED = "<redacted by cilab>"
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.S)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# "key: value" / "key=value" / "key": "value" in free text (kubeconfigs, env dumps, logs)
_KV = re.compile(r'(?i)(\b(?:client-key-data|client-certificate-data|client_key_data|token|password|passwd|'
                 r'secret|api[_-]?key)"?\s*[:=]\s*"?)(?!<redacted)([^\s",}]{4,})')
_SECRET_KEYS = {"client-key-data", "client-certificate-data", "certificate-authority-data",
                "token", "password", "client_key_data", "client_certificate_data"}


def scrub(obj: Any) -> Any:
    """Remove secret material from a recorded value (applied at write time)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        is_secret = obj.get("kind") == "Secret"
        for key, value in obj.items():
            if is_secret and key in ("data", "stringData") and isinstance(value, dict):
                out[key] = {k: REDACTED for k in value}
            elif key in _SECRET_KEYS and isinstance(value, str) and value:
                out[key] = REDACTED
            elif key == "metadata" and isinstance(value, dict):
                meta = dict(value)
                annotations = meta.get("annotations")
                if isinstance(annotations, dict) and is_secret:
                    meta["annotations"] = {k: REDACTED if "last-applied" in k else v
                                           for k, v in annotations.items()}
                meta.pop("managedFields", None)
                out[key] = scrub(meta)
            else:
                out[key] = scrub(value)
        return out
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    if isinstance(obj, str):
        text = _PEM.sub(REDACTED, obj)
        text = _JWT.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        return _KV.sub(lambda m: m.group(1) + REDACTED, text)
    return obj


# --- YAML loading with line numbers ------------------------------------------------

# libyaml's parser when PyYAML was built with it (the PyPI wheels are): 10x faster on big
# transcripts; marks (line numbers) come through either way
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != "__line__"}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data and not any(c in data for c in "\r\t") and \
        not any(line != line.rstrip() for line in data.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_presenter)


@dataclass
class Entry:
    op: str
    args: dict[str, Any]
    state: list[str]
    results: list[dict[str, Any]]
    origin: str = ""

    @property
    def key(self) -> str:
        return call_key(self.op, self.args, self.state)


@dataclass
class Fault:
    """A rule that answers every matching call (fault injection), optionally only `times` times.

    `match` holds `op` and argument patterns: strings are shell-style globs, a
    `command_prefix` list matches the start of a pod_exec/node_shell command, a
    `command_has` list names words that must all be words of the command (anywhere: a
    request's URL, whatever client port it was sent from).  `times`
    counts the matching calls of a scenario; with `per_call`, each distinct call (op,
    arguments, state) is counted on its own, so *every* call answers the fault `times`
    times before its recorded answer.
    """
    name: str
    match: dict[str, Any]
    results: list[dict[str, Any]]
    times: int | None = None
    per_call: bool = False

    def matches(self, op: str, args: dict[str, Any]) -> bool:
        import fnmatch
        for key, want in self.match.items():
            if key == "op":
                if op != want:
                    return False
            elif key == "command_prefix":
                cmd = args.get("command")
                cmd = cmd.split() if isinstance(cmd, str) else list(cmd or [])
                if cmd[:len(want)] != list(want):
                    return False
            elif key == "command_has":
                cmd = args.get("command")
                words = set(cmd.split() if isinstance(cmd, str) else list(cmd or []))
                if not set(want) <= words:
                    return False
            else:
                have = args.get(key)
                if isinstance(want, str):
                    if not isinstance(have, str) or not fnmatch.fnmatchcase(have, want):
                        return False
                elif have != want:
                    return False
        return True


@dataclass
class Transcript:
    name: str
    header: dict[str, Any]
    entries: dict[str, Entry] = field(default_factory=dict)
    mutant: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    #: what a fault overlay expects of a run (tests/selftest/test_faults.py)
    expect: dict[str, Any] | None = None

    def lookup(self, op: str, args: dict[str, Any], state: list[str]) -> Entry | None:
        return self.entries.get(call_key(op, args, state))

    def require_durations(self) -> None:
        """For `--replay-timing recorded`: every result must say how long it took.

        Raises TranscriptError (one line, naming the file) for the first file whose
        results lack a `duration`."""
        untimed: dict[str, str] = {}
        timed_files: set[str] = set()
        for entry in self.entries.values():
            where, _, line = entry.origin.rpartition(":")
            for res in entry.results:
                if "duration" in res:
                    timed_files.add(where)
                else:
                    untimed.setdefault(where, line)
        for where, line in untimed.items():
            if where in timed_files:
                raise TranscriptError(f"transcript {where}:{line}: a result has no 'duration' "
                                      "(--replay-timing recorded needs one on every result)")
            raise TranscriptError(f"transcript {where}: holds no call durations (recorded before "
                                  "durations were kept?); --replay-timing recorded needs them, "
                                  "--replay-timing virtual replays it")

    def near_misses(self, op: str, args: dict[str, Any]) -> list[Entry]:
        """Entries with the same op and args in other states (for a helpful miss)."""
        probe = json.dumps(args, sort_keys=True)
        return [e for e in self.entries.values()
                if e.op == op and json.dumps(e.args, sort_keys=True) == probe]


def _fail(path: Path, line: Any, msg: str) -> TranscriptError:
    where = f"{path}:{line}" if line else str(path)
    return TranscriptError(f"transcript {where}: {msg}")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TranscriptError(f"transcript {path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(path, line, f"not valid YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise _fail(path, 1, "top level must be a mapping with 'transcript' and 'calls'")
    return doc


def _parse_entry(path: Path, raw: Any, index: int) -> tuple[Entry, bool]:
    if not isinstance(raw, dict):
        raise _fail(path, None, f"calls[{index}] must be a mapping")
    line = raw.get("__line__")
    op = raw.get("op")
    if op not in PRIMITIVES:
        raise _fail(path, line, f"calls[{index}].op: unknown probe call {op!r} "
                                f"(known: {', '.join(sorted(PRIMITIVES))})")
    args = raw.get("args")
    if not isinstance(args, dict):
        raise _fail(path, line, f"calls[{index}].args must be a mapping")
    state = raw.get("state", [])
    if not isinstance(state, list) or not all(isinstance(s, str) for s in state):
        raise _fail(path, line, f"calls[{index}].state must be a list of labels")
    remove = bool(raw.get("remove", False))
    results = raw.get("results")
    if not remove:
        if not isinstance(results, list) or not results:
            raise _fail(path, line, f"calls[{index}].results must be a non-empty list")
        for j, res in enumerate(results):
            rline = res.get("__line__") if isinstance(res, dict) else line
            if not isinstance(res, dict):
                raise _fail(path, line, f"calls[{index}].results[{j}] must be a mapping")
            if "error" in res:
                if res["error"] not in ERROR_KINDS:
                    raise _fail(path, rline, f"calls[{index}].results[{j}].error: "
                                             f"{res['error']!r} is not one of {sorted(ERROR_KINDS)}")
            elif op in COMMAND_OPS:
                if "stdout" not in res or not isinstance(res.get("rc", 0), int):
                    raise _fail(path, rline, f"calls[{index}].results[{j}]: a command result "
                                             "needs 'stdout' (and an integer 'rc')")
            elif op in HTTP_OPS:
                if not isinstance(res.get("status"), int):
                    raise _fail(path, rline, f"calls[{index}].results[{j}].status must be an integer")
            elif "value" not in res:
                raise _fail(path, rline, f"calls[{index}].results[{j}] needs 'value'")
            for timing in TIMING_KEYS:
                if timing in res and (isinstance(res[timing], bool) or not isinstance(res[timing], (int, float))
                                      or res[timing] < 0):
                    raise _fail(path, rline, f"calls[{index}].results[{j}].{timing} must be a number of "
                                             "seconds >= 0")
    entry = Entry(op=op, args=_strip_lines(args), state=sorted(state),
                  results=_strip_lines(results or []), origin=f"{path}:{line}")
    return entry, remove


def _load_file(path: Path, seen: set[Path]) -> Transcript:
    path = path.resolve()
    if path in seen:
        raise TranscriptError(f"transcript {path}: 'base' forms a cycle")
    seen = seen | {path}
    doc = _read_yaml(path)
    header = doc.get("transcript")
    if not isinstance(header, dict) or not header.get("name"):
        raise _fail(path, doc.get("__line__"), "missing 'transcript' header with a 'name'")
    base_ref = doc.get("base")
    if base_ref is not None:
        if not isinstance(base_ref, str):
            raise _fail(path, doc.get("__line__"), "'base' must be a path")
        base_path = (path.parent / base_ref)
        if not base_path.exists():
            raise _fail(path, doc.get("__line__"), f"base transcript {base_ref!r} does not exist")
        transcript = _load(base_path, seen)
        transcript.name = header["name"]
        transcript.header = _strip_lines(header)
        transcript.files.append(path)
    else:
        transcript = Transcript(name=header["name"], header=_strip_lines(header), files=[path])
    if "mutant" in doc:
        mutant = doc["mutant"]
        if not isinstance(mutant, dict) or not isinstance(mutant.get("expect_failing"), list):
            raise _fail(path, doc.get("__line__"), "'mutant' needs a list 'expect_failing'")
        transcript.mutant = _strip_lines(mutant)
    for i, raw in enumerate(doc.get("faults") or []):
        line = raw.get("__line__") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or not isinstance(raw.get("match"), dict):
            raise _fail(path, line, f"faults[{i}] needs a 'match' mapping")
        op = raw["match"].get("op")
        if op is not None and op not in PRIMITIVES:
            raise _fail(path, line, f"faults[{i}].match.op: unknown probe call {op!r}")
        for words in ("command_prefix", "command_has"):
            given = raw["match"].get(words)
            if given is not None and (not isinstance(given, list) or not given
                                      or not all(isinstance(w, str) for w in given)):
                raise _fail(path, line, f"faults[{i}].match.{words} must be a non-empty list of strings")
        results = raw.get("results")
        if not isinstance(results, list) or not results or not all(isinstance(r, dict) for r in results):
            raise _fail(path, line, f"faults[{i}].results must be a non-empty list of mappings")
        times = raw.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise _fail(path, line, f"faults[{i}].times must be a positive integer")
        per_call = raw.get("per_call", False)
        if not isinstance(per_call, bool) or (per_call and times is None):
            raise _fail(path, line, f"faults[{i}].per_call must be true or false, and needs 'times'")
        transcript.faults.append(Fault(str(raw.get("name", f"fault {i}")), _strip_lines(raw["match"]),
                                       _strip_lines(results), times, per_call))
    if "expect" in doc:
        transcript.expect = _strip_lines(doc["expect"])
    calls = doc.get("calls", [])
    if not isinstance(calls, list):
        raise _fail(path, doc.get("__line__"), "'calls' must be a list")
    for i, raw in enumerate(calls):
        entry, remove = _parse_entry(path, raw, i)
        if remove:
            if entry.key not in transcript.entries:
                raise _fail(path, raw.get("__line__"), f"calls[{i}]: 'remove' names no base entry")
            del transcript.entries[entry.key]
        else:
            replaced = transcript.entries.get(entry.key)
            if replaced is not None:
                _inherit_durations(entry, replaced)
            transcript.entries[entry.key] = entry
    return transcript


def _inherit_durations(entry: Entry, replaced: Entry) -> None:
    """An overlay's result without a duration takes the one of the result it replaces
    (by position, the last repeating): a mutant changes what the lab answered, not how
    long it took."""
    timed = [r.get("duration") for r in replaced.results]
    if not any(d is not None for d in timed):
        return
    for j, res in enumerate(entry.results):
        if "duration" not in res:
            inherited = timed[min(j, len(timed) - 1)]
            if inherited is not None:
                res["duration"] = inherited


def _load(path: Path, seen: set[Path]) -> Transcript:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if not files:
            raise TranscriptError(f"transcript {path}: folder holds no .yaml files")
        merged: Transcript | None = None
        for f in files:
            part = _load_file(f, seen)
            if merged is None:
                merged = part
                merged.name = path.name
            else:
                merged.entries.update(part.entries)
                merged.files.extend(part.files)
                merged.faults.extend(part.faults)
                merged.mutant = merged.mutant or part.mutant
        assert merged is not None
        return merged
    return _load_file(path, seen)


def load_transcript(path: str | Path) -> Transcript:
    """Load a transcript file or folder; raises TranscriptError naming file/line/field."""
    p = Path(path)
    if not p.exists():
        raise TranscriptError(f"transcript {p}: no such file or folder")
    return _load(p, set())


# --- recording ------------------------------------------------------------------------

class Recorder:
    """Collects calls of a real backend and writes them as a transcript file.

    Results are scrubbed of secrets before they are kept.  A call repeated in the same
    state appends to that entry's result sequence unless the result is unchanged.
    """

    def __init__(self, path: str | Path, *, name: str, description: str,
                 lab: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        import datetime
        import time
        self.header = {"name": name, "source": "recorded", "description": description,
                       "lab": lab or {},
                       "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._scenario = 0
        #: key -> the scenario in which the entry's last result was last seen
        self._seen_in: dict[str, int] = {}
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            probe = parent / f".cilab-write-test-{id(self)}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            from cilab.errors import ConfigError
            raise ConfigError(f"--record: cannot write to {parent} ({exc.strerror or exc})") from None

    def begin_scenario(self, name: str) -> None:
        """A new scenario: a repeated answer no longer extends the previous one's duration."""
        with self._lock:
            self._scenario += 1

    def add(self, op: str, args: dict[str, Any], state: list[str], result: Any,
            started: float | None = None, duration: float | None = None) -> None:
        """Keep a call's result; `started` (time.monotonic()) and `duration` (seconds) time it."""
        encoded = scrub(encode_result(op, result))
        clean_args = scrub(args)
        key = call_key(op, clean_args, state)
        timed = started is not None and duration is not None
        with self._lock:
            entry = self._entries.get(key)
            if timed:
                at = max(0.0, started - self._start)
                timing = {"duration": round(duration, 3), "at": round(at, 3)}
            else:
                timing = {}
            last = None if entry is None else {k: v for k, v in entry.results[-1].items()
                                               if k not in TIMING_KEYS}
            if entry is None:
                self._entries[key] = Entry(op, clean_args, sorted(state), [{**encoded, **timing}])
            elif last != encoded:
                entry.results.append({**encoded, **timing})
            elif timed and self._seen_in.get(key) == self._scenario and "at" in entry.results[-1]:
                # the same answer again in the same scenario: a poll that saw "not yet" once
                # more; the answer's duration spans every call that got it
                first = entry.results[-1]
                first["duration"] = round(at + duration - first["at"], 3)
            self._seen_in[key] = self._scenario

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> Path:
        doc = {"transcript": self.header,
               "calls": [{"op": e.op, "args": e.args, "state": e.state, "results": e.results}
                         for e in self._entries.values()]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False,
                                 allow_unicode=True, width=120), encoding="utf-8")
        tmp.replace(self.path)
        return self.path
