"""The feature files say what the write-up shows and what it does not (issue 17 point 5).

Students read features/*.feature as study material next to the write-up (the seed), so:

* every command the feature tells them to type is one the write-up types, or it is marked as
  beyond the write-up: a command line in a description is introduced by a sentence that
  says "beyond the write-up" (or ends with such a parenthetical), and a scenario whose
  `I run "..."` step types a command the write-up never types is tagged @beyond_writeup,
  says "Beyond the write-up" in its description and names every flag the write-up never
  uses; the feature's description explains the tag.  A mark is honest: a marked command is
  one the write-up does not type, a tagged scenario has such a command;
* every `{placeholder}` a step or an Examples cell uses is explained in the feature's own
  description, and the description explains no placeholder that no step uses;
* every table lines up, so the columns a student reads are columns;
* the write-up's order holds where it teaches one: `hubble status` through the port-forward
  before `hubble config view`, and rule1 deleted after every scenario that has it in force;
* the seed's webpod anti-affinity selects no pod; the suite's manifest selects the replicas
  themselves, and the L7 chapter says so.

"Typed by the write-up" compares commands the way a student would: the write-up's aliases
(`kc` for kubectl), `-it` on kubectl exec, `-f` on hubble observe, a trailing `| grep ...`
and `cmd&` against `cmd &` do not make another command; `<...>` in the feature stands for
any value; the flags of `hubble observe` may come in any order, `{ns}/pod` is the seed's
`pod` (its namespace default) and `{xwing identity}` its `$XWINGID`.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

from tools import seed_notes

ROOT = Path(__file__).resolve().parents[2]
FEATURES = sorted((ROOT / "features").glob("*.feature"))
BEYOND = re.compile(r"beyond the write-up", re.I)
TAG = "@beyond_writeup"
#: the first word of a command line in a description (the write-up's aliases included)
PROGRAMS = {"kubectl", "kc", "hubble", "cilium", "curl", "ss", "helm", "iptables", "iptables-save",
            "c0", "c1", "c2"}
PLACEHOLDER = re.compile(r"\{[a-z][a-z ]*\}")
RUN = re.compile(r'^I run "(?P<cmd>[^"]+)" on ')
PROMPT = re.compile(r"^\(⎈\|[^)]*\)\s*\S+@\S+\s*[#$]\s*")
#: the write-up's placeholders for the suite's: the seed runs in "default" and names identities by variable
SEED_FORM = {"{xwing identity}": "$XWINGID", "{deathstar identity}": "$DEATHSTARID"}
SHORT_FLAGS = {"-t": "--type", "-n": "--namespace", "-f": "--follow", "-o": "--output"}


def _parse(path: Path) -> dict[str, Any]:
    return Parser().parse(TokenScanner(path.read_text(encoding="utf-8")))["feature"]


def _scenarios(feature: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["scenario"] for c in feature["children"] if "scenario" in c and c["scenario"]["keyword"] != "Background"]


def _rows(scenario: dict[str, Any]) -> list[dict[str, str]]:
    """One dict of outline parameters per Examples row ([{}] for a plain scenario)."""
    rows = []
    for ex in scenario.get("examples") or []:
        head = [c["value"] for c in ex["tableHeader"]["cells"]]
        rows += [dict(zip(head, (c["value"] for c in r["cells"]))) for r in ex["tableBody"]]
    return rows or [{}]


def _expand(text: str, row: dict[str, str]) -> str:
    for k, v in row.items():
        text = text.replace(f"<{k}>", v)
    return text


# --- commands, the write-up's and the feature's ------------------------------------------------------------------


def _strip_pipes(cmd: str) -> str:
    """`cmd | grep x` -> `cmd` (a filter on the output is not another command), quotes respected."""
    for m in re.finditer(r"\s\|\s*(grep|jq)\b", cmd):
        head = cmd[:m.start()]
        if not head.count("'") % 2 and not head.count('"') % 2:
            return head.rstrip()
    return cmd


def _split(cmd: str) -> list[str]:
    """`a ; b` -> [a, b] outside quotes."""
    parts, cur, quote = [], "", ""
    for ch in cmd:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return [p.strip() for p in parts + [cur] if p.strip()]


def normalize(cmd: str) -> str:
    cmd = re.sub(r"\s+", " ", cmd).strip().rstrip("\\").strip()
    cmd = re.sub(r"\s*&$", " &", cmd)
    cmd = re.sub(r"^kc ", "kubectl ", cmd)
    if cmd.startswith("kubectl "):
        cmd = re.sub(r" -(it|ti)(?= )", "", cmd)
    cmd = _strip_pipes(cmd)
    if cmd.startswith("hubble observe"):
        cmd = " ".join(t for t in cmd.split() if t not in ("-f", "--follow"))
    return cmd


def observe_flags(cmd: str) -> tuple[tuple[str, str], ...] | None:
    """`hubble observe` flags as sorted (flag, value) pairs in the seed's form, or None."""
    words = cmd.split()
    if words[:2] != ["hubble", "observe"]:
        return None
    for k, v in SEED_FORM.items():
        cmd = cmd.replace(k, v)
    cmd = re.sub(r"\{ns\}/", "", cmd).replace("{ns}", "default")
    words = cmd.split()[2:]
    pairs, i = [], 0
    while i < len(words):
        flag = SHORT_FLAGS.get(words[i], words[i])
        value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else ""
        i += 2 if value else 1
        if flag == "--follow" or (flag == "--output" and value == "compact"):
            continue
        pairs.append((flag, value))
    return tuple(sorted(pairs))


@lru_cache(maxsize=1)
def seed_commands() -> frozenset[str]:
    """Every line of the write-up as a normalized command (the prompt and a `# note` cut off)."""
    out = set()
    for line in seed_notes.find_seed().read_text(encoding="utf-8").splitlines():
        line = PROMPT.sub("", line.strip())
        line = re.split(r"\s+#\s", line, maxsplit=1)[0].rstrip("*")
        if line:
            out.update(normalize(p) for p in _split(line))
    return frozenset(out)


@lru_cache(maxsize=1)
def seed_observe() -> frozenset[tuple[tuple[str, str], ...]]:
    return frozenset(f for f in (observe_flags(c) for c in seed_commands()) if f is not None)


def typed_by_writeup(cmd: str) -> bool:
    for part in _split(re.sub(r"\s{2,}\([^)]*\)\s*$", "", cmd)):
        norm = normalize(part)
        flags = observe_flags(norm)
        if flags is not None and flags in seed_observe():
            continue
        pattern = re.sub(r"<[^>]*>", ".+", re.escape(norm).replace(r"\<", "<").replace(r"\>", ">"))
        if not any(re.fullmatch(pattern, s) for s in seed_commands()):
            return False
    return True


def description_commands(description: str) -> Iterator[tuple[str, bool]]:
    """(command, marked) for each command line of a description: a line whose first word is
    a program the student runs; marked when it ends with a "(beyond the write-up ...)"
    parenthetical or when the sentence that introduces its block says "beyond the write-up"."""
    intro, in_block = "", False
    for raw in description.splitlines():
        line = raw.strip()
        first = line.split(" ", 1)[0] if line else ""
        if first in PROGRAMS and raw.startswith("  "):
            tail = re.search(r"\s{2,}\(([^)]*)\)\s*$", line)
            in_block = True
            yield line, bool(BEYOND.search(intro) or (tail and BEYOND.search(tail.group(1))))
        elif line.startswith("--"):
            continue   # a continued command (helm --set ...)
        elif not line:
            intro, in_block = "", False
        else:   # the sentences since the last block or blank line introduce the next block
            intro, in_block = (line if in_block else f"{intro} {line}"), False


def _features() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, _parse(p)) for p in FEATURES]


# --- the tests -------------------------------------------------------------------------------------------------------


def test_every_command_line_in_a_description_is_typed_by_the_writeup_or_marked() -> None:
    wrong = []
    for path, feature in _features():
        texts = [(feature["location"]["line"], feature["description"])]
        texts += [(s["location"]["line"], s["description"]) for s in _scenarios(feature)]
        for line, text in texts:
            for cmd, marked in description_commands(text):
                typed = typed_by_writeup(cmd)
                if not typed and not marked:
                    wrong.append(f"{path.name} near line {line}: `{cmd}` is not typed by the write-up and not "
                                 "marked beyond the write-up")
                elif typed and marked:
                    wrong.append(f"{path.name} near line {line}: `{cmd}` is marked beyond the write-up, "
                                 "but the write-up types it")
    assert not wrong, "\n".join(wrong)


def test_a_scenario_that_types_a_command_the_writeup_never_types_is_tagged_and_says_so() -> None:
    wrong = []
    for path, feature in _features():
        tagged_any = False
        for s in _scenarios(feature):
            where = f"{path.name}:{s['location']['line']} ({s['name']})"
            tagged = TAG in {t["name"] for t in s["tags"]}
            tagged_any |= tagged
            beyond = []
            for row in _rows(s):
                for step in s["steps"]:
                    m = RUN.match(_expand(step["text"], row))
                    if m and not typed_by_writeup(m["cmd"]):
                        beyond.append(m["cmd"])
            marked_lines = [c for c, marked in description_commands(s["description"]) if marked]
            if beyond and not tagged:
                wrong.append(f"{where}: types {', '.join(f'`{c}`' for c in beyond)}, which the write-up never "
                             f"types, but is not tagged {TAG}")
            if tagged and not (beyond or marked_lines):
                wrong.append(f"{where}: tagged {TAG}, but every command it types is the write-up's")
            if (beyond or tagged) and not BEYOND.search(s["description"]):
                wrong.append(f"{where}: its description does not say what is beyond the write-up")
            seed_flags = {f for flags in seed_observe() for f, _ in flags}
            for cmd in beyond:
                for flag, _ in observe_flags(normalize(cmd)) or ():
                    if flag not in seed_flags and flag not in s["description"]:
                        wrong.append(f"{where}: `{cmd}` uses {flag}, which the write-up never types, and the "
                                     "description does not name it")
        if tagged_any and TAG not in feature["description"]:
            wrong.append(f"{path.name}: its scenarios are tagged {TAG}, but the feature's description does not "
                         "explain the tag")
    assert not wrong, "\n".join(wrong)


def test_every_placeholder_is_explained_in_the_features_description() -> None:
    wrong = []
    for path, feature in _features():
        used: set[str] = set()
        for s in _scenarios(feature):
            used.update(PLACEHOLDER.findall(" ".join(st["text"] for st in s["steps"])))
            for row in _rows(s):
                used.update(PLACEHOLDER.findall(" ".join(row.values())))
        described = set(re.findall(r"`(\{[a-z][a-z ]*\})`", feature["description"]))
        wrong += [f"{path.name}: steps use {p}, which the feature's description does not explain (in backticks)"
                  for p in sorted(used - described)]
        wrong += [f"{path.name}: the description explains {p}, which no step uses"
                  for p in sorted(described - used)]
    assert not wrong, "\n".join(wrong)


def _tables(path: Path) -> Iterator[tuple[int, list[str]]]:
    block: list[str] = []
    start = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines() + [""], 1):
        if line.strip().startswith("|"):
            if not block:
                start = n
            block.append(line.rstrip())
        elif block:
            yield start, block
            block = []


def _bars(line: str) -> list[int]:
    return [i for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\")]


@pytest.mark.parametrize("path", FEATURES, ids=lambda p: p.name)
def test_every_table_is_aligned(path: Path) -> None:
    wrong = []
    for start, rows in _tables(path):
        first = _bars(rows[0])
        wrong += [f"{path.name}:{start + i}: the column bars at {_bars(r)} do not line up with line {start}'s "
                  f"{first}" for i, r in enumerate(rows) if _bars(r) != first]
    assert not wrong, "\n".join(wrong)


def test_the_alignment_check_sees_a_misaligned_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.feature"
    bad.write_text("Feature: x\n  Scenario: y\n    Given z:\n      | a | b |\n      | long | b |\n")
    with pytest.raises(AssertionError, match="do not line up"):
        test_every_table_is_aligned(bad)


def test_the_command_matching_tells_the_writeups_commands_from_others() -> None:
    assert typed_by_writeup("hubble observe --from-identity {xwing identity}")
    assert typed_by_writeup("hubble observe --from-identity {xwing identity} --protocol udp")
    assert typed_by_writeup("hubble observe -t l7")
    assert typed_by_writeup("kubectl get svc,ep -n kube-system hubble-relay")      # seed: `kc get svc,ep ...`
    assert typed_by_writeup("cilium hubble port-forward &")                        # seed: `port-forward&`
    assert typed_by_writeup("cilium config view | grep kube-proxy-replacement")
    assert not typed_by_writeup("hubble observe --from-pod {ns}/xwing")
    assert not typed_by_writeup("hubble observe --namespace kube-system")
    assert not typed_by_writeup("hubble observe --pod {ns}/xwing --protocol tcp")
    assert not typed_by_writeup("iptables-save | grep -E 'KUBE-(SERVICES|SVC-)'")
    assert list(description_commands("  Beyond the write-up:\n    kubectl get ds -n kube-system\n"
                                      "  The write-up types:\n    kubectl get cnp\n")) == [
        ("kubectl get ds -n kube-system", True), ("kubectl get cnp", False)]


def _runs(scenario: dict[str, Any]) -> list[str]:
    return [m["cmd"] for row in _rows(scenario) for st in scenario["steps"] if (m := RUN.match(_expand(st["text"], row)))]


def test_hubble_status_comes_before_hubble_config_view() -> None:
    """The write-up checks `hubble status` through the port-forward (seed 1296-1300), then
    looks at `hubble config view` (seed 1303-1307)."""
    scenarios = _scenarios(_parse(ROOT / "features" / "hubble_cli.feature"))
    status = [i for i, s in enumerate(scenarios) if "hubble status" in _runs(s)
              and any("port-forwarded" in st["text"] for st in s["steps"])]
    config = [i for i, s in enumerate(scenarios) if "hubble config view" in _runs(s)]
    assert status and config and min(status) < min(config), (
        f"hubble_cli.feature: expected hubble status through the port-forward (scenarios {status}) before "
        f"hubble config view (scenarios {config})")


def test_rule1_is_deleted_after_every_scenario_that_has_it_in_force() -> None:
    """The write-up deletes rule1 in its cleanup (seed 2171-2192), after the L7 policy."""
    scenarios = _scenarios(_parse(ROOT / "features" / "starwars.feature"))
    texts = [[st["text"] for st in s["steps"]] for s in scenarios]
    deleting = [i for i, t in enumerate(texts) if "rule1 is deleted" in t]
    in_force = [i for i, t in enumerate(texts) if "rule1 is deleted" not in t
                and any("rule1" in x and ("in force" in x or "updated" in x) for x in t)]
    assert deleting and in_force and min(deleting) > max(in_force), (
        f"starwars.feature: the scenario deleting rule1 ({[scenarios[i]['name'] for i in deleting]}) must come after "
        f"every scenario with rule1 in force, the last being {scenarios[max(in_force)]['name']!r}")


def test_the_l7_chapter_says_the_suites_webpod_anti_affinity_fixes_the_seeds() -> None:
    seed = seed_notes.find_seed().read_text(encoding="utf-8")
    assert re.search(r"podAntiAffinity:(?:\n.*){1,8}\n\s*- sample-app", seed), "the seed's term no longer reads sample-app"
    docs = list(yaml.safe_load_all((ROOT / "fixtures" / "manifests" / "webpod" / "webpod.yaml").read_text()))
    deploy = next(d for d in docs if d and d["kind"] == "Deployment")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    terms = deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert any(t["labelSelector"].get("matchLabels", {}).items() <= labels.items()
               and t["topologyKey"] == "kubernetes.io/hostname" for t in terms), (
        f"the webpod manifest's anti-affinity {terms} does not select its own pods {labels}")
    text = (ROOT / "features" / "l7_visibility.feature").read_text(encoding="utf-8")
    assert "`app=sample-app`" in text and "`app=webpod`" in text and "fixtures/manifests/webpod/webpod.yaml" in text, (
        "l7_visibility.feature must say that the seed's anti-affinity selects app=sample-app and the suite's "
        "manifest selects app=webpod")
