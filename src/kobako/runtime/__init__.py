"""The container runtime: OCI spec in, a container init out (see ``process`` for the lifecycle).

    spec = default_spec(["sh"], hostname="box")
    init = create(spec, bundle=bundle, rootfs_mounts=mounts, stdio=(0, 1, 2))
    init.start(); os.waitpid(init.pid, 0); init.cgroup.destroy()

Names load on first use (PEP 562), so ``kobako-runtime state`` does not pay for ctypes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kobako.runtime.cgroups import (
        CgroupManager, CgroupStats, CgroupV1Manager, CgroupV2Manager, cgroup_manager,
    )
    from kobako.runtime.lookup import lookup_path
    from kobako.runtime.process import InitProcess, create
    from kobako.runtime.spec import USER_ANNOTATION, default_spec, memory_resources
    from kobako.runtime.user import ExecUser, parse_user, resolve_user

_WHERE = {
    "CgroupManager": "cgroups", "CgroupStats": "cgroups", "CgroupV1Manager": "cgroups",
    "CgroupV2Manager": "cgroups", "cgroup_manager": "cgroups", "lookup_path": "lookup",
    "InitProcess": "process", "create": "process", "USER_ANNOTATION": "spec", "default_spec": "spec",
    "memory_resources": "spec", "ExecUser": "user", "parse_user": "user", "resolve_user": "user",
}

__all__ = [
    "USER_ANNOTATION", "CgroupManager", "CgroupStats", "CgroupV1Manager", "CgroupV2Manager", "ExecUser",
    "InitProcess", "cgroup_manager", "create", "default_spec", "lookup_path", "memory_resources",
    "parse_user", "resolve_user",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"kobako.runtime.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kobako.runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
