"""Linux syscalls kobako needs that the stdlib lacks (stdlib only; ctypes lives in ``_libc``)."""

from __future__ import annotations

from kobako.linux.flags import CloneFlag, MountFlag, Prctl, UmountFlag
from kobako.linux.syscalls import (
    LinuxSyscalls,
    Syscalls,
    clone,
    mount,
    pivot_root,
    prctl,
    set_name,
    sethostname,
    setns,
    umount2,
    unshare,
)

__all__ = [
    "CloneFlag", "LinuxSyscalls", "MountFlag", "Prctl", "Syscalls", "UmountFlag", "clone", "mount",
    "pivot_root", "prctl", "set_name", "sethostname", "setns", "umount2", "unshare",
]
