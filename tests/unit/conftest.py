"""Fixtures shared by the unit tests."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.unit.sshd_server import Server, loopback_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
