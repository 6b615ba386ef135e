"""Plain result types shared by backends, probes and parsers (no pytest, no I/O)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command run on a node or in a pod."""

    stdout: str
    stderr: str = ""
    rc: int = 0

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CommandResult":
        return cls(stdout=str(data.get("stdout", "")), stderr=str(data.get("stderr", "")),
                   rc=int(data.get("rc", 0)))


@dataclass(frozen=True)
class HttpResult:
    """The outcome of one HTTP request made from the runner (or from a pod)."""

    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HttpResult":
        return cls(status=int(data["status"]), body=str(data.get("body", "")),
                   headers={str(k): str(v) for k, v in (data.get("headers") or {}).items()})
