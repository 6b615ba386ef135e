"""Check that the `seed N-M` notes of the reference transcript point at the right seed lines.

Every entry of the reference transcript (fixtures/transcripts/reference/) names, in its
`seed` note, the lines of the documented lab (the seed write-up) its values come from:
``seed 1161-1165 (...)``, ``seed 507, 626-629 (...)``.  A note that drifted (the relay
Service said to be at 1156 when the seed prints it at 1164) sends a reader to the wrong
output and hides a value the seed never showed.  This check takes each line range a note
names and requires that those seed lines hold at least one *distinctive* value of the
entry's result: an IP address, a name with a hash or a hyphen, a port or a pid, a message
line.  A value is distinctive when the seed prints it on few lines (a word printed all
over the write-up, such as ``kube-system`` or ``Running``, proves nothing).

Numbers inside a note's parentheses are prose, not references (``(... seed 1923-1924)``
in a reconstructed entry names where a shape comes from, not its values), so only the
ranges outside parentheses are checked.

The seed is found beside the repository: ``../shared/seed/000_1d163ded35c94625.txt``
relative to the repository root (the layout of the project and of CI), or one level
further up (a git worktree under ``wt/``), or where ``CILAB_SEED`` points.  When it is
absent the check fails loudly: it never passes by looking at nothing.

    python tools/seed_notes.py          # exit 1 and one line per wrong note
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

_RANGE = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")
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


def note_ranges(note: str) -> list[tuple[int, int]]:
    """Line ranges a note names outside parentheses, after the word `seed`."""
    if not note.startswith("seed "):
        return []
    depth, outside = 0, []
    for ch in note[len("seed "):]:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            outside.append(ch)
    text = "".join(outside)
    # ranges are a comma-separated list; prose after a ';' or ':' is not a reference
    text = re.split(r"[;:]", text, maxsplit=1)[0]
    ranges = []
    for part in text.split(","):
        m = _RANGE.fullmatch(part.strip())
        if m:
            lo = int(m.group(1))
            ranges.append((lo, int(m.group(2) or lo)))
    return ranges


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


def check_entry(seed: Seed, note: str, results: list[dict[str, Any]],
                args: dict[str, Any] | None = None) -> list[str]:
    """Problems with one entry's note (empty when every range it names holds a value)."""
    problems = []
    ranges = note_ranges(note)
    if not ranges:
        return []
    if all(r.get("value", "x") in (None, [], False) for r in results):
        return []  # "not found": the note points at where the seed shows the absence
    args = args or {}
    plain_args = {k: v for k, v in args.items() if k != "manifest"}
    values = {v for v in values_of(results) | values_of([plain_args]) if _is_candidate(v)}
    distinctive = {v for v in values if 0 < seed.frequency(v) <= MAX_SEED_LINES}
    distinctive |= names_of(args, results)
    for lo, hi in ranges:
        if lo < 1 or hi < lo or hi > len(seed.lines):
            problems.append(f"line range {lo}-{hi} is not in the seed ({len(seed.lines)} lines)")
            continue
        text = seed.text(lo, hi)
        if not any(v.lower() in text for v in distinctive):
            near = seed.best_lines(distinctive)
            problems.append(f"seed {lo}-{hi} holds none of the entry's distinctive values"
                            + (f" (they are printed at lines {', '.join(map(str, near))})" if near
                               else " (the seed prints none of them anywhere)"))
    return problems


def check(reference: Path = REFERENCE, seed_path: Path | None = None) -> list[str]:
    seed = Seed(seed_path or find_seed())
    problems = []
    for path in sorted(reference.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for i, entry in enumerate(doc.get("calls") or []):
            note = entry.get("seed") or ""
            for problem in check_entry(seed, note, entry.get("results") or [], entry.get("args") or {}):
                args = ", ".join(f"{k}={v}" for k, v in entry["args"].items()
                                 if isinstance(v, (str, int)))[:100]
                problems.append(f"{path.name} calls[{i}] {entry['op']} ({args}): note {note[:70]!r}: {problem}")
    return problems


def main() -> int:
    try:
        problems = check()
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
