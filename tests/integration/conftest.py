from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One kobakod for the integration session, with busybox bootstrapped."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base: Path = tmp_path_factory.mktemp("kobakod")
    for d in daemon_session(base):
        d.kobako("image", "bootstrap", "busybox")
        yield d
