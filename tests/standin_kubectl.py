#!/usr/bin/env python3
"""A stand-in `kubectl` for tests: the commands cilab/monitoring.py runs on the control
plane, against a fake API server (tests/unit/fake_apiserver.py).

* `--kubeconfig K apply -f URL`: server-side applies every document of the manifest URL
  names, printing `kind/name created` lines as kubectl does;
* `--kubeconfig K get -f URL --ignore-not-found -o name`: `kind/name` of each object of the
  manifest that exists;
* `--kubeconfig K delete -f URL --ignore-not-found ...`: deletes each object of the manifest
  (`kind "name" deleted` lines);
* `--kubeconfig K patch svc -n NS NAME -p JSON`: merges the patch into the Service
  (server-side apply of the merged object).

No URL is ever fetched: `$CILAB_STANDIN_MANIFESTS` is a folder, and a URL means the file of
the same base name there (a manifest the test wrote).  Every call is appended to
`$CILAB_STANDIN_MANIFESTS/kubectl.log`.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

PLURALS = {"Namespace": ("v1", "namespaces", False), "ConfigMap": ("v1", "configmaps", True),
           "Service": ("v1", "services", True), "Deployment": ("apps/v1", "deployments", True)}


def _opt(argv: list[str], *names: str) -> str | None:
    for name in names:
        if name in argv:
            return argv[argv.index(name) + 1]
    return None


def _path(obj: dict[str, Any]) -> str:
    api, plural, namespaced = PLURALS[obj["kind"]]
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    meta = obj["metadata"]
    ns = f"/namespaces/{meta.get('namespace', 'default')}" if namespaced else ""
    return f"{base}{ns}/{plural}/{meta['name']}"


class API:
    def __init__(self, kubeconfig: str) -> None:
        kc = yaml.safe_load(Path(kubeconfig).read_text())
        self.server = kc["clusters"][0]["cluster"]["server"]
        self.token = kc["users"][0]["user"]["token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        query = "?fieldManager=kubectl&force=true" if method == "PATCH" else ""
        req = urllib.request.Request(self.server + path + query, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/apply-patch+yaml",
                                              "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def main(argv: list[str]) -> int:
    folder = Path(os.environ["CILAB_STANDIN_MANIFESTS"])
    with open(folder / "kubectl.log", "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    api = API(_opt(argv, "--kubeconfig") or os.environ["KUBECONFIG"])
    url = _opt(argv, "-f")
    docs = [d for d in yaml.safe_load_all((folder / url.rsplit("/", 1)[-1]).read_text()) if d] if url else []
    verb = next(a for a in argv if a in ("apply", "get", "delete", "patch"))
    if verb == "apply":
        for obj in docs:
            existed = api.call("GET", _path(obj)) is not None
            api.call("PATCH", _path(obj), obj)
            print(f"{obj['kind'].lower()}/{obj['metadata']['name']} {'configured' if existed else 'created'}")
    elif verb == "get":
        for obj in docs:
            if api.call("GET", _path(obj)) is not None:
                print(f"{obj['kind'].lower()}/{obj['metadata']['name']}")
    elif verb == "delete":
        for obj in reversed(docs):
            if api.call("GET", _path(obj)) is not None:
                api.call("DELETE", _path(obj))
                print(f'{obj["kind"].lower()} "{obj["metadata"]["name"]}" deleted')
    else:  # patch svc -n NS NAME -p JSON
        ns, patch = _opt(argv, "-n"), json.loads(_opt(argv, "-p") or "{}")
        name = argv[argv.index("svc") + 1] if argv[argv.index("svc") + 1] != "-n" else argv[argv.index("svc") + 3]
        path = _path({"kind": "Service", "metadata": {"name": name, "namespace": ns}})
        svc = api.call("GET", path)
        if svc is None:
            print(f'Error from server (NotFound): services "{name}" not found', file=sys.stderr)
            return 1
        svc["spec"].update(patch["spec"])
        api.call("PATCH", path, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                                 "spec": svc["spec"]})
        print(f"service/{name} patched")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
