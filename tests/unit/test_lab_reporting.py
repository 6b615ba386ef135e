"""The Lab names each report attachment by the command a student types, keeps the command
that really ran inside it, and remembers the running step's commands for a failure."""
from __future__ import annotations

from cilab.lab import Lab
from cilab.model import CommandResult


class _Backend:
    kind = "fake"

    def node_shell(self, node: str, command: str, timeout: float) -> CommandResult:
        return CommandResult("127.0.0.1:4245\n", "", 0)

    def pod_exec(self, namespace: str, pod: str, container: str | None, command: list[str],
                 timeout: float) -> CommandResult:
        return CommandResult("Ship landed\n", "", 0)

    def close(self) -> None:
        pass


def test_an_attachment_is_named_by_the_students_command_and_holds_what_ran() -> None:
    seen: list[tuple[str, str]] = []
    lab = Lab(_Backend(), attach=lambda name, body: seen.append((name, body)))
    lab.shell("k8s-ctr", "setsid cilium hubble port-forward >/run/x.log 2>&1 & echo $!",
              typed="cilium hubble port-forward &")
    lab.exec("ns1", "xwing", "spaceship", ["sh", "-c", "echo start; exec \"$@\"", "sh", "curl", "-v", "u"],
             typed="kubectl exec -n ns1 xwing -- curl -s u")
    lab.shell("k8s-w1", "ss -tlnpH")
    assert [name for name, _ in seen] == ["[k8s-ctr] $ cilium hubble port-forward &",
                                          "kubectl exec -n ns1 xwing -- curl -s u",
                                          "[k8s-w1] $ ss -tlnpH"]
    assert "what ran: [k8s-ctr] $ setsid cilium hubble port-forward" in seen[0][1]
    assert "what ran: kubectl -n ns1 exec xwing -c spaceship -- sh -c" in seen[1][1]
    assert "what ran" not in seen[2][1] and seen[2][1].startswith("[k8s-w1] $ ss -tlnpH\n\n127.0.0.1:4245")
    assert lab.step_commands == [name for name, _ in seen]
    assert lab.begin_step() == [name for name, _ in seen] and lab.step_commands == []


def test_typed_is_not_part_of_the_call() -> None:
    calls: list[dict] = []

    class _Recorder:
        def add(self, op, args, state, result, started, duration):  # noqa: ANN001
            calls.append(args)

        def begin_scenario(self, name: str) -> None:
            pass

    lab = Lab(_Backend(), recorder=_Recorder())
    lab.shell("k8s-ctr", "hubble observe -o jsonpb --last 1000", typed="hubble observe")
    assert calls == [{"node": "k8s-ctr", "command": "hubble observe -o jsonpb --last 1000"}]
