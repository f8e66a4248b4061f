"""Cgroup managers for v1 and v2 hierarchies; ``cgroup_manager`` picks one from the layout."""

from __future__ import annotations

from pathlib import Path

from kobako.runtime.cgroups._base import CgroupManager, CgroupStats
from kobako.runtime.cgroups.v1 import CgroupV1Manager
from kobako.runtime.cgroups.v2 import CgroupV2Manager


def cgroup_manager(path: str, root: Path = Path("/sys/fs/cgroup")) -> CgroupManager:
    """Pure v2 if ``<root>/cgroup.controllers`` exists, else v1 hierarchies under ``<root>/<name>``."""
    if (Path(root) / "cgroup.controllers").exists():
        return CgroupV2Manager(path, root)
    return CgroupV1Manager(path, root)


__all__ = ["CgroupManager", "CgroupStats", "CgroupV1Manager", "CgroupV2Manager", "cgroup_manager"]
