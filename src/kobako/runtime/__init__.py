"""The container runtime: OCI spec in, a container init out (see ``process`` for the lifecycle).

    spec = default_spec(["sh"], hostname="box")
    init = create(spec, bundle=bundle, rootfs_mounts=mounts, stdio=(0, 1, 2))
    init.start(); os.waitpid(init.pid, 0); init.cgroup.destroy()
"""

from __future__ import annotations

from kobako.runtime.cgroups import CgroupManager, CgroupStats, CgroupV1Manager, CgroupV2Manager, cgroup_manager
from kobako.runtime.lookup import lookup_path
from kobako.runtime.process import InitProcess, create
from kobako.runtime.spec import USER_ANNOTATION, default_spec, memory_resources
from kobako.runtime.user import ExecUser, parse_user, resolve_user

__all__ = [
    "USER_ANNOTATION", "CgroupManager", "CgroupStats", "CgroupV1Manager", "CgroupV2Manager", "ExecUser",
    "InitProcess", "cgroup_manager", "create", "default_spec", "lookup_path", "memory_resources",
    "parse_user", "resolve_user",
]
