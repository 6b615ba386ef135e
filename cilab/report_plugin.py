"""What the Allure report shows a student, beyond what allure-pytest-bdd writes by itself.

allure-pytest-bdd (2.x) reports a scenario as the harness sees it: every argument of a step
function is a step parameter (the `lab` object, the `ctx` dict of pod JSON), the labels
name the runner's host and thread, and whatever a fixture's teardown attaches lands as
loose attachments after the last step.  A student reads the report beside the write-up,
so this plugin (registered by `cilab.plugin` when allure-pytest-bdd runs):

* keeps as a step's parameters only the Gherkin parameters, the values parsed from the
  step's sentence (``the "tiefighter" requests a landing`` -> ship = tiefighter);
* labels each scenario with the lab it ran on (replay, vagrant or kubeconfig, and its
  nodes) instead of ``host vm`` / ``thread 7827-MainThread``;
* groups everything the scenario's teardown does under one step, "Cleanup: …";
* remembers, per Gherkin step, the commands the student would type for what the step
  looked at (`Lab.step_commands`), so a failed step says what to run by hand.
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

CLEANUP_STEP = "Cleanup: what the scenario created is deleted, the lab is left as found"
#: item stash: the student's commands of the step that failed (for the failure message)
FAILED_COMMANDS_KEY = pytest.StashKey[list[str]]()


def _listener(config: pytest.Config) -> Any:
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "PytestBDDListener" and hasattr(plugin, "lifecycle"):
            return plugin
    return None


def _the_lab(config: pytest.Config) -> Any:
    from cilab.plugin import LAB_KEY
    return config.stash.get(LAB_KEY, None)


def lab_label(config: pytest.Config, lab: Any) -> str:
    """``replay lab (fixtures/transcripts/reference): k8s-ctr, k8s-w1, k8s-w2``; on a lab whose
    nodes have other names, each with its write-up name: ``cp-1 (k8s-ctr), node-a (k8s-w1), ...``."""
    opt = config.option
    nodes: list[str] = []
    where = ""
    if lab is not None:
        header_nodes = ((lab.info.get("header") or {}).get("lab") or {}).get("nodes") or {}
        nodes = list(header_nodes) if isinstance(header_nodes, dict) else []
        names = getattr(lab.backend, "node_names", None)
        if not nodes and callable(names):
            try:
                nodes = list(names())
            except Exception:  # a label must never break a scenario
                nodes = []
    if opt.lab == "replay":
        from cilab.plugin import REFERENCE_TRANSCRIPT, REPO_ROOT
        where = str(opt.transcript or REFERENCE_TRANSCRIPT.relative_to(REPO_ROOT))
    elif opt.lab == "vagrant":
        from cilab.plugin import vagrant_dir
        where = str(vagrant_dir(config))
    else:
        where = f"{opt.kubeconfig}" + (f", context {opt.context}" if getattr(opt, "context", None) else "")
    text = f"{opt.lab} lab ({where})"
    if lab is not None:
        from cilab.roles import of_lab
        roles = of_lab(lab)
        if roles.renamed:  # the lab's names, with the write-up's name of each node's role
            named = {v: k for k, v in roles.by_write_up_name().items()}
            nodes = [f"{n} ({named[n]})" if n in named else n for n in nodes or named]
    return text + (f": {', '.join(nodes)}" if nodes else "")


def _label_with_the_lab(item: pytest.Item, listener: Any, uuid: str) -> None:
    """``host vm`` / ``thread 7827-MainThread`` -> the lab and the pytest worker (set at the
    scenario's end, when the session's lab exists whatever the scenario did)."""
    from allure_commons.model2 import Label
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    with listener.lifecycle.update_test_case(uuid=uuid) as result:
        if result is None:
            return
        result.labels = [label for label in result.labels if label.name not in ("host", "thread")]
        result.labels.append(Label(name="host", value=lab_label(item.config, _the_lab(item.config))))
        result.labels.append(Label(name="thread", value=f"pytest worker {worker}" if worker else "pytest"))


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_before_step(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                           step_func: Any) -> None:
    lab = _the_lab(request.config)
    if lab is not None:
        lab.begin_step()


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_step_call(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                                step_func: Any, step_func_args: dict[str, Any]) -> None:
    """After allure-pytest-bdd listed every argument of the step function as a parameter:
    keep only those parsed from the step's own sentence (and an outline's <placeholders>)."""
    listener = _listener(request.config)
    if listener is None:
        return
    from allure_pytest_bdd.steps import get_step_uuid
    from pytest_bdd.scenario import get_step_function, parse_step_arguments
    context = get_step_function(request=request, step=step)
    gherkin = set(parse_step_arguments(step=step, context=context)) if context is not None else set()
    with listener.lifecycle.update_step(uuid=get_step_uuid(step)) as result:
        if result is not None:
            result.parameters = [p for p in result.parameters if p.name in gherkin]


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                          step_func: Any, step_func_args: Any, exception: BaseException) -> None:
    lab = _the_lab(request.config)
    if lab is not None:
        request.node.stash[FAILED_COMMANDS_KEY] = list(lab.step_commands)


def hand_commands(item: pytest.Item, limit: int = 3) -> list[str]:
    """The student's commands of the failed step, the last `limit` distinct ones."""
    seen: list[str] = []
    for command in reversed(item.stash.get(FAILED_COMMANDS_KEY, [])):
        if command not in seen and not command.startswith(("kubectl delete", "kubectl apply")):
            seen.append(command)
        if len(seen) == limit:
            break
    return list(reversed(seen))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Everything the teardown attaches (the namespace deleted, a port-forward stopped) goes
    under one step named as what it is; a teardown that attached nothing leaves no step."""
    listener = _listener(item.config)
    uuid = listener.nodeid_to_uuid.get(item.nodeid) if listener is not None else None
    if uuid is None:
        yield
        return
    _label_with_the_lab(item, listener, uuid)
    from allure_commons.utils import uuid4
    step_uuid = uuid4()
    with listener.lifecycle.start_step(parent_uuid=uuid, uuid=step_uuid) as step:
        step.name = CLEANUP_STEP
    failed = False
    try:
        outcome = yield
        failed = outcome.excinfo is not None
    finally:
        with listener.lifecycle.update_step(uuid=step_uuid) as step:
            if step is not None:
                step.status = "broken" if failed else "passed"
        listener.lifecycle.stop_step(uuid=step_uuid)
        with listener.lifecycle.update_test_case(uuid=uuid) as result:
            if result is not None:
                # the cleanup comes last (after the steps a failure left unrun), or not at
                # all when the teardown attached nothing
                cleanup = [s for s in result.steps if s.name == CLEANUP_STEP and (s.attachments or s.steps)]
                result.steps = [s for s in result.steps if s.name != CLEANUP_STEP] + cleanup
