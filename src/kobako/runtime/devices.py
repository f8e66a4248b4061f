"""``linux.devices``: device nodes the spec adds to the container's /dev (``--device``, ``--privileged``).

Made with mknod under the new root before pivot_root, like runc ``createDevices``; access is still
decided by the devices cgroup (``linux.resources.devices``), which the parent set up.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from typing import Any

from kobako.linux.syscalls import Syscalls

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_spec_devices(sys: Syscalls, rootfs: str, devices: Sequence[Mapping[str, Any]],
                        join: Any = os.path.join) -> None:
    """mknod each device at its path under ``rootfs`` (``join`` resolves paths inside it safely)."""
    old = os.umask(0)
    try:
        for d in devices:
            path = os.path.normpath("/" + str(d["path"]).lstrip("/"))
            if path == "/dev/ptmx":
                continue  # the container's own devpts provides it (runc skips it too)
            if d.get("type") not in _TYPES:
                raise ValueError(f"device {path}: unknown type {d.get('type')!r}")
            target = join(rootfs, path)
            os.umask(0o022)
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            os.umask(0)
            if os.path.lexists(target):
                os.unlink(target)  # e.g. a default device the spec gives again with its own mode/owner
            mode = _TYPES[d["type"]] | (int(d.get("fileMode") or 0o666) & 0o7777)
            sys.mknod(target, mode, os.makedev(int(d.get("major") or 0), int(d.get("minor") or 0)))
            if os.path.lexists(target):  # (a recording Syscalls in unit tests makes no node)
                os.chown(target, int(d.get("uid") or 0), int(d.get("gid") or 0))
    finally:
        os.umask(old)
