"""Check that the `seed N-M` notes of the reference transcript point at the values they vouch for.

Every entry of the reference transcript (fixtures/transcripts/reference/) names, in its
`seed` note, the seed lines its values come from, and the values themselves, in backticks,
right after each line range:

    seed 1164 `10.96.174.49` (service/hubble-relay ClusterIP 80/TCP)
    seed 1161 `hubble-relay-5dcd46f5c-tln2s`, 1165 `172.20.2.176:4245` (relay on k8s-w2)
    seed 601-603 `192.168.10.100` `192.168.10.102` (kubectl get node -owide)

A note is right when, for every range it names,

* the range names at least one value, and every value it names is printed on those seed
  lines, exactly (case and characters; runs of blanks count as one blank);
* the range is tight: its first line and its last line each hold one of its values (a
  range that starts on the command or a blank line, or runs past the output, is loose);
* every value is a value of the entry (in its arguments or its results), so the note
  vouches for what the transcript answers and not for a neighbour's value.  An entry
  that answers "not found" (no value) is exempt from this last rule: its note points at
  where the seed shows the absence.

A value the seed does not print is not named in backticks: the note says "reconstructed"
and names its source, in the prose (``seed 1554 `10.96.41.44` (...); readiness 2/2
reconstructed from the Deployment's two replicas, seed 1530``) or as a whole
(``reconstructed (as xwing's in seed 1923-1924)``).  A note that starts with
`reconstructed` must say where from (a seed line, the chart, upstream source, the
facts file, or the suite's own doing: the scenario's namespace and its teardown, what the
agent answers for the suite's own objects).

Numbers inside a note's parentheses and after its first ';' or ':' are prose, not
references, and are not checked.

The seed is found beside the repository: ``../shared/seed/000_1d163ded35c94625.txt``
relative to the repository root (the layout of the project and of CI), or one level
further up (a git worktree under ``wt/``), or where ``CILAB_SEED`` points.  When it is
absent the check fails loudly: it never passes by looking at nothing.

    python tools/seed_notes.py          # exit 1 and one line per wrong note
    python tools/seed_notes.py --hints  # each line also shows the seed lines holding the entry's values
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED_NAME = "000_1d163ded35c94625.txt"
REFERENCE = ROOT / "fixtures" / "transcripts" / "reference"
#: a value the seed prints on more lines than this is not distinctive
MAX_SEED_LINES = 30

_SPEC = re.compile(r"(\d+)(?:\s*-\s*(\d+))?((?:\s*`[^`]+`)*)")
_VALUE = re.compile(r"`([^`]+)`")
_BLANKS = re.compile(r"\s+")
#: where a reconstructed note may say its value comes from
_SOURCE = re.compile(r"seed \d|chart|upstream|facts|source|\.go\b|\.rst\b|\.py\b|manifest|"
                     r"namespace|teardown|the agent|cilium-dbg|the suite|chapter's own|earlier run|restart|"
                     r"rolling out|scraped from|hubble-1\.17|shape", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*[A-Za-z0-9]")
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


class SeedMissing(SystemExit):
    pass


def find_seed() -> Path:
    """The seed write-up, beside the repository; SystemExit naming where it was looked for."""
    env = os.environ.get("CILAB_SEED")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "seed" / SEED_NAME,
                   ROOT.parent.parent / "shared" / "seed" / SEED_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise SeedMissing("seed notes: the seed write-up is not there (looked at "
                      + ", ".join(str(p) for p in candidates)
                      + "); the notes cannot be checked: put shared/ beside the repository "
                        "or set CILAB_SEED")


def _references(note: str) -> str:
    """The reference part of a note: after `seed `, outside parentheses, before a ';' or ':'."""
    depth, outside, quoted = 0, [], False
    for ch in note[len("seed "):]:
        if ch == "`" and depth == 0:
            quoted = not quoted
            outside.append(ch)
        elif quoted:
            outside.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            outside.append(ch)
    text = "".join(outside)
    # a value in backticks may hold ';' or ':' (a URL, a port): cut at the first one outside them
    cut, inside = len(text), False
    for i, ch in enumerate(text):
        if ch == "`":
            inside = not inside
        elif ch in ";:" and not inside:
            cut = i
            break
    return text[:cut]


def _split_specs(text: str) -> list[str]:
    parts, cur, inside = [], [], False
    for ch in text:
        if ch == "`":
            inside = not inside
        if ch == "," and not inside:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def note_specs(note: str) -> list[tuple[int, int, list[str]]]:
    """(first line, last line, the values named for that range) of every range a note names."""
    if not note.startswith("seed "):
        return []
    specs = []
    for part in _split_specs(_references(note)):
        m = _SPEC.match(part)  # a range's values; words after them ("as jsonpb") are prose
        if m:
            lo = int(m.group(1))
            specs.append((lo, int(m.group(2) or lo), _VALUE.findall(m.group(3) or "")))
    return specs


def note_ranges(note: str) -> list[tuple[int, int]]:
    """Line ranges a note names outside parentheses, after the word `seed`."""
    return [(lo, hi) for lo, hi, _ in note_specs(note)]


def _flat(text: str) -> str:
    return _BLANKS.sub(" ", text)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def values_of(results: list[dict[str, Any]]) -> set[str]:
    """Candidate values of an entry's results: tokens and whole output lines."""
    found: set[str] = set()
    for text in _strings(results):
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= 10:
                found.add(line)
        for tok in _TOKEN.findall(text):
            found.add(tok)
            for part in re.split(r"[@]", tok):
                if part:
                    found.add(part)
    return found


def names_of(args: dict[str, Any], results: list[dict[str, Any]]) -> set[str]:
    """The names an entry is about: the object or pod it asks for and the objects it gets back.
    A name counts wherever it is printed (the seed prints `deathstar` on many lines, and a
    note about the deathstar must point at one of them)."""
    names = {str(args[k]) for k in ("name", "pod") if isinstance(args.get(k), str)}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            meta = v.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("name"), str):
                names.add(meta["name"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(results)
    walk(args.get("manifest"))
    return {n for n in names if len(n) >= 4}


def _is_candidate(tok: str) -> bool:
    if _IP.match(tok):
        return True
    if tok.isdigit():
        return len(tok) >= 4  # ports, pids, NodePorts; not counts or exit codes
    if len(tok) < 4:
        return False
    return bool(re.search(r"[\d\-.]", tok)) or len(tok) >= 6 or " " in tok


class Seed:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = path.read_text(encoding="utf-8").splitlines()
        self._lower = [line.lower() for line in self.lines]
        self._freq: Counter[str] = Counter()

    def frequency(self, value: str) -> int:
        if value not in self._freq:
            low = value.lower()
            self._freq[value] = sum(1 for line in self._lower if low in line)
        return self._freq[value]

    def best_lines(self, values: set[str], count: int = 6) -> list[int]:
        """The seed lines holding the most of `values` (most first)."""
        low = [v.lower() for v in values]
        scored = [(sum(v in line for v in low), i + 1) for i, line in enumerate(self._lower)]
        scored = [(n, i) for n, i in scored if n]
        return [i for _, i in sorted(scored, key=lambda t: (-t[0], t[1]))[:count]]

    def text(self, lo: int, hi: int) -> str:
        return "\n".join(self._lower[lo - 1:hi])


def entry_text(args: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """Every string of an entry (keys and values of its arguments and results), blanks folded."""
    return _flat("\n".join(_strings([args, results])))


def check_entry(seed: Seed, note: str, results: list[dict[str, Any]],
                args: dict[str, Any] | None = None) -> list[str]:
    """Problems with one entry's note (empty when it names its values where the seed prints them)."""
    if note.startswith("reconstructed"):
        return [] if _SOURCE.search(note) else ["a reconstructed note names no source (a seed line, "
                                                "the chart, upstream source or the facts file)"]
    specs = note_specs(note)
    if not specs:
        return []
    problems = []
    absent = all(r.get("value", "x") in (None, [], False, "") for r in results) or \
        all((r.get("value") or {}).get("stdout", "x") == "" if isinstance(r.get("value"), dict) and
            "rc" in (r.get("value") or {}) else False for r in results)
    mine = entry_text(args or {}, results)
    for lo, hi, values in specs:
        where = f"seed {lo}" + (f"-{hi}" if hi != lo else "")
        if lo < 1 or hi < lo or hi > len(seed.lines):
            problems.append(f"line range {lo}-{hi} is not in the seed ({len(seed.lines)} lines)")
            continue
        if not values:
            problems.append(f"{where} names no value in backticks (say which value those lines vouch for)")
            continue
        lines = [_flat(line) for line in seed.lines[lo - 1:hi]]
        for v in values:
            fv = _flat(v)
            if not any(fv in line for line in lines):
                near = [i + 1 for i, line in enumerate(seed.lines) if fv in _flat(line)][:6]
                problems.append(f"{where} does not print `{v}`"
                                + (f" (the seed prints it at line {', '.join(map(str, near))})" if near
                                   else " (the seed prints it nowhere: mark it reconstructed, with its source)"))
            elif not absent and fv not in mine:
                problems.append(f"`{v}` is not a value of this entry (the note must vouch for what it answers)")
        if hi > lo:
            for edge, line in (("first", lines[0]), ("last", lines[-1])):
                if not any(_flat(v) in line for v in values):
                    problems.append(f"{where} is loose: its {edge} line holds none of its values "
                                    f"({', '.join(values)})")
    return problems


def load(path: Path) -> dict[str, Any]:
    """A transcript file (the C loader when PyYAML has it: the reference is several MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}


def suggest(seed: Seed, note: str, results: list[dict[str, Any]], args: dict[str, Any]) -> str:
    """For a maintainer fixing a note: within each range the note names, the seed lines that
    hold one of the entry's distinctive values (a value the seed prints on few lines), as
    `first-last `value` `value``.  A hint to read, never written into a note unread."""
    plain = {k: v for k, v in args.items() if k != "manifest"}
    values = {v for v in values_of(results) | values_of([plain]) if _is_candidate(v)}
    distinctive = {v for v in values if 0 < seed.frequency(v) <= MAX_SEED_LINES} | names_of(args, results)
    mine = entry_text(args, results)
    distinctive = {v for v in distinctive if _flat(v) in mine}
    out = []
    for lo, hi, _ in note_specs(note):
        hits = []
        for i in range(max(lo, 1), min(hi, len(seed.lines)) + 1):
            line = _flat(seed.lines[i - 1])
            held = sorted((v for v in distinctive if _flat(v) in line), key=lambda v: (seed.frequency(v), -len(v)))
            if held:
                hits.append((i, held[0]))
        if not hits:
            out.append(f"{lo}-{hi}: none of the entry's values (near: "
                       f"{', '.join(map(str, seed.best_lines(distinctive)))})")
            continue
        (a, va), (b, vb) = hits[0], hits[-1]
        out.append(f"{a} `{va}`" if a == b else f"{a}-{b} `{va}` `{vb}`")
    return ", ".join(out)


def check(reference: Path = REFERENCE, seed_path: Path | None = None, hints: bool = False) -> list[str]:
    seed = Seed(seed_path or find_seed())
    problems = []
    for path in sorted(reference.glob("*.yaml")):
        doc = load(path)
        for i, entry in enumerate(doc.get("calls") or []):
            note = entry.get("seed") or ""
            for problem in check_entry(seed, note, entry.get("results") or [], entry.get("args") or {}):
                args = ", ".join(f"{k}={v}" for k, v in entry["args"].items()
                                 if isinstance(v, (str, int)))[:100]
                problems.append(f"{path.name} calls[{i}] {entry['op']} ({args}): note {note[:70]!r}: {problem}"
                                + (f" [hint: {suggest(seed, note, entry.get('results') or [], entry.get('args') or {})}]"
                                   if hints else ""))
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--hints"]):
        print("usage: python tools/seed_notes.py [--hints]", file=sys.stderr)
        return 2
    try:
        problems = check(hints=argv == ["--hints"])
    except SeedMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"seed notes: {len(problems)} note(s) point at seed lines that do not hold their values")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
