"""Syscall wrappers (the shape of runc ``internal/linux``): one call, EINTR retry, an
``OSError(errno, strerror, path)`` that names what failed.

``Syscalls`` is what runtime code receives: ``LinuxSyscalls`` on the real kernel, or
``kobako.linux.fake.RecordingSyscalls`` in unit tests, which records the order of calls.
"""

from __future__ import annotations

import errno as _errno
import os
import platform
import struct
from typing import Protocol

from kobako.linux import _libc
from kobako.linux.flags import (
    AT_EMPTY_PATH, AT_RECURSIVE, LINUX_CAPABILITY_VERSION_3, MOUNT_ATTR_IDMAP, MOVE_MOUNT_F_EMPTY_PATH,
    NS_GET_USERNS, OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE, SECCOMP_SET_MODE_FILTER, SYS_CAPGET, SYS_CAPSET, SYS_CLONE,
    SYS_MOUNT_SETATTR, SYS_MOVE_MOUNT, SYS_SETFSGID, SYS_SETFSUID, SYS_OPEN_TREE, SYS_PIVOT_ROOT, SYS_PRCTL, SYS_SECCOMP, CapAmbient, CloneFlag,
    MountFlag, Prctl, UmountFlag,
)

_SIGCHLD = 17


def _check(ret: int, what: str) -> int:
    if ret == -1:
        e = _libc.errno()
        raise OSError(e, os.strerror(e), what)
    return ret


def _retry(call: object, *args: object, what: str) -> int:
    while True:
        ret = call(*args)  # type: ignore[operator]
        if ret != -1 or _libc.errno() != _errno.EINTR:
            return _check(int(ret), what)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    lib = _libc.libc()
    _retry(lib.mount, _b(source), os.fsencode(target), _b(fstype), int(flags), _b(data), what=target)


def umount2(target: str, flags: int = 0) -> None:
    _retry(_libc.libc().umount2, os.fsencode(target), int(flags), what=target)


def pivot_root(new_root: str, put_old: str) -> None:
    nr = SYS_PIVOT_ROOT[platform.machine()]
    args = (_libc.long(nr), os.fsencode(new_root), os.fsencode(put_old))
    _check(_libc.libc().syscall(*args), new_root)


def unshare(flags: int) -> None:
    _check(_libc.libc().unshare(int(flags)), f"unshare({CloneFlag(flags)!r})")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.libc().setns(fd, int(nstype)), f"setns({fd})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.libc().sethostname(raw, len(raw)), name)


def prctl(option: Prctl | int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.libc().prctl(int(option), arg2, arg3, arg4, arg5), f"prctl({int(option)})")


def set_name(name: str) -> None:
    """PR_SET_NAME takes a char*; pass it through syscall() to keep one prototype for prctl."""
    buf = name.encode()[:15]
    _check(_libc.libc().syscall(_libc.long(SYS_PRCTL[platform.machine()]),
                                _libc.long(Prctl.PR_SET_NAME), buf, _libc.long(0), _libc.long(0),
                                _libc.long(0)), "prctl(PR_SET_NAME)")


def clone(flags: int) -> int:
    """Raw clone(2) with a NULL stack: fork semantics plus namespace flags.

    Returns 0 in the child and the child's pid in the parent. Only safe in a single-threaded
    process (no atfork handlers run); the child must finish with ``os.execve`` or ``os._exit``.
    """
    nr = SYS_CLONE[platform.machine()]
    zero = _libc.long(0)
    return _check(_libc.libc().syscall(_libc.long(nr), _libc.long(int(flags) | _SIGCHLD), zero, zero, zero, zero),
                  "clone")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """The (effective, permitted, inheritable) capability masks of ``pid`` (0: the caller)."""
    header = _libc.buffer(struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, pid))
    data = _libc.buffer(24)  # two __user_cap_data_struct {u32 effective, permitted, inheritable}
    _check(_libc.libc().syscall(_libc.long(SYS_CAPGET[platform.machine()]), header, data), "capget")
    e0, p0, i0, e1, p1, i1 = struct.unpack("=6I", data.raw[:24])
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the caller's capability sets (each a 64-bit mask); may only shrink permitted."""
    header = _libc.buffer(struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0))
    m = 0xFFFFFFFF
    data = _libc.buffer(struct.pack("=6I", effective & m, permitted & m, inheritable & m,
                                    effective >> 32, permitted >> 32, inheritable >> 32))
    _check(_libc.libc().syscall(_libc.long(SYS_CAPSET[platform.machine()]), header, data), "capset")


def capbset_read(cap: int) -> bool:
    """Whether ``cap`` is in the caller's bounding set; OSError(EINVAL) past the kernel's last cap."""
    return prctl(Prctl.PR_CAPBSET_READ, cap) == 1


def capbset_drop(cap: int) -> None:
    """Drop ``cap`` from the bounding set (needs CAP_SETPCAP)."""
    prctl(Prctl.PR_CAPBSET_DROP, cap)


def ambient_raise(cap: int) -> None:
    prctl(Prctl.PR_CAP_AMBIENT, CapAmbient.PR_CAP_AMBIENT_RAISE, cap)


def set_keepcaps(keep: bool) -> None:
    prctl(Prctl.PR_SET_KEEPCAPS, int(keep))


def set_no_new_privs() -> None:
    prctl(Prctl.PR_SET_NO_NEW_PRIVS, 1)


def seccomp_set_filter(program: bytes, flags: int = 0) -> None:
    """Load a classic-BPF seccomp filter (``program``: packed ``struct sock_filter``s).

    Needs no_new_privs or CAP_SYS_ADMIN. ``struct sock_fprog`` is {unsigned short len; pad; filter*}.
    """
    if not program or len(program) % 8:
        raise ValueError("seccomp program must be a non-empty sequence of 8-byte instructions")
    prog = _libc.buffer(program)
    fprog = _libc.buffer(struct.pack("=HxxxxxxQ", len(program) // 8, _libc.address(prog)))
    _check(_libc.libc().syscall(_libc.long(SYS_SECCOMP[platform.machine()]), _libc.long(SECCOMP_SET_MODE_FILTER),
                                _libc.long(flags), fprog), "seccomp(SECCOMP_SET_MODE_FILTER)")


_AT_FDCWD = -100


def open_tree_clone(path: str, recursive: bool = True) -> int:
    """A detached copy of the mount tree at ``path`` (open_tree(OPEN_TREE_CLONE)); returns its fd."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check(_libc.libc().syscall(_libc.long(SYS_OPEN_TREE[platform.machine()]), _libc.long(_AT_FDCWD),
                                       os.fsencode(path), _libc.long(flags)), path)


def mount_setattr_idmap(mount_fd: int, userns_fd: int, recursive: bool = True) -> None:
    """Make the detached mount ``mount_fd`` idmapped through the user namespace ``userns_fd``.

    ``struct mount_attr`` is {u64 attr_set, attr_clr, propagation, userns_fd}.
    """
    attr = _libc.buffer(struct.pack("=QQQQ", MOUNT_ATTR_IDMAP, 0, 0, userns_fd))
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_libc.libc().syscall(_libc.long(SYS_MOUNT_SETATTR[platform.machine()]), _libc.long(mount_fd), b"",
                                _libc.long(flags), attr, _libc.long(32)), "mount_setattr(MOUNT_ATTR_IDMAP)")


def move_mount(mount_fd: int, target: str) -> None:
    """Attach the detached mount ``mount_fd`` at ``target``."""
    _check(_libc.libc().syscall(_libc.long(SYS_MOVE_MOUNT[platform.machine()]), _libc.long(mount_fd), b"",
                                _libc.long(_AT_FDCWD), os.fsencode(target), _libc.long(MOVE_MOUNT_F_EMPTY_PATH)),
           target)


def set_fsids(uid: int, gid: int) -> None:
    """setfsgid + setfsuid: the ids file system operations run as (they never fail; the kernel ignores
    an id it does not allow). Leaving fsuid 0 drops the file capabilities from the effective set."""
    lib = _libc.libc()
    lib.syscall(_libc.long(SYS_SETFSGID[platform.machine()]), _libc.long(gid))
    lib.syscall(_libc.long(SYS_SETFSUID[platform.machine()]), _libc.long(uid))


def ns_owner(ns_fd: int) -> int:
    """A new fd for the user namespace that owns the namespace ``ns_fd`` (ioctl NS_GET_USERNS)."""
    import fcntl

    return fcntl.ioctl(ns_fd, NS_GET_USERNS)


class Syscalls(Protocol):
    """The kernel calls the container init makes while building its root filesystem."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None: ...
    def umount2(self, target: str, flags: int = 0) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def sethostname(self, name: str) -> None: ...
    # credentials, capabilities and seccomp: the end of the init (kobako.runtime.security)
    def setgroups(self, gids: list[int]) -> None: ...
    def setgid(self, gid: int) -> None: ...
    def setuid(self, uid: int) -> None: ...
    def capget(self) -> tuple[int, int, int]: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def capbset_read(self, cap: int) -> bool: ...
    def capbset_drop(self, cap: int) -> None: ...
    def ambient_raise(self, cap: int) -> None: ...
    def set_keepcaps(self, keep: bool) -> None: ...
    def set_no_new_privs(self) -> None: ...
    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None: ...


class LinuxSyscalls:
    """``Syscalls`` on the real kernel."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        mount(source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0) -> None:
        umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        pivot_root(new_root, put_old)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def unshare(self, flags: int) -> None:
        unshare(flags)

    def sethostname(self, name: str) -> None:
        sethostname(name)

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setgid(self, gid: int) -> None:
        os.setgid(gid)

    def setuid(self, uid: int) -> None:
        os.setuid(uid)

    def capget(self) -> tuple[int, int, int]:
        return capget()

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        capset(effective, permitted, inheritable)

    def capbset_read(self, cap: int) -> bool:
        return capbset_read(cap)

    def capbset_drop(self, cap: int) -> None:
        capbset_drop(cap)

    def ambient_raise(self, cap: int) -> None:
        ambient_raise(cap)

    def set_keepcaps(self, keep: bool) -> None:
        set_keepcaps(keep)

    def set_no_new_privs(self) -> None:
        set_no_new_privs()

    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None:
        seccomp_set_filter(program, flags)


__all__ = [
    "CloneFlag", "LinuxSyscalls", "MountFlag", "Prctl", "Syscalls", "UmountFlag", "ambient_raise", "capbset_drop",
    "capbset_read", "capget", "capset", "clone", "mount", "mount_setattr_idmap", "move_mount", "ns_owner",
    "open_tree_clone", "pivot_root", "set_fsids", "prctl", "seccomp_set_filter", "set_keepcaps",
    "set_name", "set_no_new_privs", "sethostname", "setns", "umount2", "unshare",
]
