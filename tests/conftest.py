"""Markers follow the folder (pip's tests/conftest.py): unit, integration (root), e2e (root + peers).

Root tests are skipped with a stated need when not root; they use a per-run data root, socket
and cgroup parent, and their fixtures clean up even when a test fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.root)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.root)
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("root") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root: namespaces, mounts and cgroups are real"))
