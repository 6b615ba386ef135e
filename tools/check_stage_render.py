"""Render the Cilium chart at the pinned version with each stage's values and check the
cilium-config entries the features rely on (the nightly's cheap first job, before any VM).

    python tools/check_stage_render.py --version 1.17.6 [--helm PATH] [--out DIR]

For each stage (base, hubble, redaction: the layers of provisioning/helm/) it runs

    helm template cilium cilium --repo https://helm.cilium.io/ --version V \
         --namespace kube-system -f base.yaml [-f hubble.yaml [-f redaction.yaml]]

and checks the ConfigMap kube-system/cilium-config:

* base: `enable-hubble` is "false" and no `hubble-*` key is rendered at all (the before-
  Hubble scenario and the stage detection read exactly that);
* hubble: Hubble on, its gRPC listener :4244, the metrics server :9965 with the metric list
  of hubble.yaml, the flow export file, Prometheus :9962 / :9963, and no redaction key;
* redaction: the hubble entries plus cilab.stages.STAGE_CONFIG["redaction"].

Exit 0 when every stage renders what the features expect; otherwise one line per problem.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cilab.stages import CHART_REPO, HELM_DIR, STAGE_CONFIG, STAGE_LAYERS  # noqa: E402


def hubble_metrics() -> str:
    """cilium-config's `hubble-metrics`: the list of hubble.yaml joined by spaces."""
    values = yaml.safe_load((HELM_DIR / "hubble.yaml").read_text(encoding="utf-8"))
    return " ".join(values["hubble"]["metrics"]["enabled"])


def expected(stage: str) -> tuple[dict[str, str], list[str]]:
    """(entries that must be rendered with these values, key prefixes that must be absent)."""
    if stage == "base":
        return {"enable-hubble": "false"}, ["hubble-", "enable-hubble-"]
    want = {"enable-hubble": "true", "enable-hubble-open-metrics": "true",
            "hubble-listen-address": ":4244", "hubble-metrics-server": ":9965",
            "hubble-metrics": hubble_metrics(),
            "hubble-export-file-path": "/var/run/cilium/hubble/events.log",
            "prometheus-serve-addr": ":9962", "operator-prometheus-serve-addr": ":9963"}
    want.update(STAGE_CONFIG.get(stage, {}))
    return want, ([] if stage == "redaction" else ["hubble-redact-"])


def cilium_config(docs: list[Any]) -> dict[str, str] | None:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "ConfigMap" and \
                (doc.get("metadata") or {}).get("name") == "cilium-config":
            return {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
    return None


def check_rendered(stage: str, docs: list[Any]) -> list[str]:
    """Problems with one stage's rendered manifests (empty when it is as expected)."""
    cfg = cilium_config(docs)
    if cfg is None:
        return [f"{stage}: no ConfigMap cilium-config in the rendered chart"]
    want, absent = expected(stage)
    problems = [f"{stage}: cilium-config {key}: expected {value!r}, rendered "
                f"{cfg[key]!r}" if key in cfg else f"{stage}: cilium-config {key}: expected {value!r}, not rendered"
                for key, value in want.items() if cfg.get(key) != value]
    stray = sorted(k for k in cfg if any(k.startswith(p) for p in absent) and k not in want)
    if stray:
        problems.append(f"{stage}: cilium-config renders {', '.join(stray)}, which this stage must not have")
    return problems


def render(helm: str, version: str, stage: str) -> list[Any]:
    argv = [helm, "template", "cilium", "cilium", "--repo", CHART_REPO, "--version", version,
            "--namespace", "kube-system"]
    for layer in STAGE_LAYERS[stage]:
        argv += ["-f", str(HELM_DIR / f"{layer}.yaml")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{stage}: helm template failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}")
    return list(yaml.safe_load_all(proc.stdout))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", required=True, help="Cilium chart version (versions.env CILIUM_VERSION)")
    ap.add_argument("--helm", default=shutil.which("helm") or "helm")
    ap.add_argument("--out", type=Path, default=None, help="keep each stage's rendered cilium-config here")
    args = ap.parse_args(argv)
    problems: list[str] = []
    for stage in STAGE_LAYERS:
        docs = render(args.helm, args.version, stage)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"cilium-config-{stage}.yaml").write_text(
                yaml.safe_dump(cilium_config(docs), sort_keys=True), encoding="utf-8")
        found = check_rendered(stage, docs)
        print(f"{stage}: {'ok' if not found else f'{len(found)} problem(s)'}")
        problems += found
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
