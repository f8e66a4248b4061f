"""Linux syscalls kobako needs that the stdlib lacks (stdlib only; ctypes lives in ``_libc``)."""

from __future__ import annotations

from kobako.linux.flags import CloneFlag, MountFlag, Prctl, UmountFlag
from kobako.linux.syscalls import (
    LinuxSyscalls,
    Syscalls,
    ambient_raise,
    capbset_drop,
    capbset_read,
    capget,
    capset,
    clone,
    mount,
    pivot_root,
    prctl,
    seccomp_set_filter,
    set_keepcaps,
    set_name,
    set_no_new_privs,
    sethostname,
    setns,
    umount2,
    unshare,
)

__all__ = [
    "CloneFlag", "LinuxSyscalls", "MountFlag", "Prctl", "Syscalls", "UmountFlag", "ambient_raise", "capbset_drop",
    "capbset_read", "capget", "capset", "clone", "mount", "pivot_root", "prctl", "seccomp_set_filter", "set_keepcaps",
    "set_name", "set_no_new_privs", "sethostname", "setns", "umount2", "unshare",
]
