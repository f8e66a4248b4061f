"""Syscall wrappers (the shape of runc ``internal/linux``): one call, EINTR retry, an
``OSError(errno, strerror, path)`` that names what failed.

``Syscalls`` is what runtime code receives: ``LinuxSyscalls`` on the real kernel, or
``kobako.linux.fake.RecordingSyscalls`` in unit tests, which records the order of calls.
"""

from __future__ import annotations

import errno as _errno
import os
import platform
from typing import Protocol

from kobako.linux import _libc
from kobako.linux.flags import SYS_CLONE, SYS_PIVOT_ROOT, CloneFlag, MountFlag, Prctl, UmountFlag

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
    _check(_libc.libc().syscall(_libc.long(157 if platform.machine() == "x86_64" else 167),
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


__all__ = [
    "CloneFlag", "LinuxSyscalls", "MountFlag", "Prctl", "Syscalls", "UmountFlag", "clone", "mount",
    "pivot_root", "prctl", "set_name", "sethostname", "setns", "umount2", "unshare",
]
