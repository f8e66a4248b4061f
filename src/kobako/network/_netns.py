"""Named network namespaces as files: ``<exec-root>/netns/<id>`` bind mounts of nsfs.

Not under /var/run/netns, so ``ip netns list`` stays clean and each daemon only sees its own.
A namespace is made by a short-lived thread that unshares its own network namespace and bind
mounts it (network namespaces are per thread, so kobakod's other threads are untouched), and
work inside one (configuring its interfaces, opening the DNS sockets) is done by a thread that
``setns``-es into it: a socket keeps the namespace it was opened in for its whole life.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kobako.linux.flags import CloneFlag, MountFlag, UmountFlag
from kobako.linux.syscalls import mount, setns, umount2, unshare

T = TypeVar("T")


def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread and return its result (re-raising its exception)."""
    box: list[T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            err.append(exc)

    t = threading.Thread(target=run, name="kobako-netns", daemon=True)
    t.start()
    t.join()
    if err:
        raise err[0]
    return box[0]


def run_in(path: str | Path, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread that entered the network namespace at ``path`` (the thread then ends)."""

    def enter() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CloneFlag.CLONE_NEWNET)
        finally:
            os.close(fd)
        return fn()

    return in_thread(enter)


def create(path: Path, setup: Callable[[], None] | None = None, userns: Any = None) -> None:
    """A new network namespace, pinned at ``path``; ``setup`` runs inside it (e.g. bring lo up).

    With ``userns`` (uid maps, gid maps), the namespace is owned by a new user namespace with those
    maps, made by a single-threaded helper (``kobako.runtime.userns``: a threaded process cannot
    unshare a user namespace); the container's init joins that owner (--userns-remap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if userns is not None:
        _create_owned(path, userns)
        if setup is not None:
            try:
                run_in(path, setup)
            except BaseException:
                remove(path)
                raise
        return

    def make() -> None:
        unshare(CloneFlag.CLONE_NEWNET)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        os.close(fd)
        try:
            mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", str(path), None, MountFlag.MS_BIND)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if setup is not None:
            try:
                setup()
            except BaseException:
                remove(path)
                raise

    in_thread(make)


def _create_owned(path: Path, userns: Any) -> None:
    import subprocess

    from kobako.linux._userns import helper_argv

    uid_maps, gid_maps = userns
    r = subprocess.run(helper_argv(str(path), uid_maps, gid_maps), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise OSError(errno.EPERM, (r.stderr.strip() or f"exit {r.returncode}"), str(path))


def remove(path: Path) -> None:
    """Unpin the namespace (it dies with its last process) and remove the file; idempotent."""
    try:
        umount2(str(path), UmountFlag.MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    path.unlink(missing_ok=True)


def is_pinned(path: Path) -> bool:
    """Is ``path`` an nsfs mount (a namespace pinned by us)?"""
    try:
        with open("/proc/self/mountinfo") as f:
            target = str(path)
            return any(line.split()[4] == target for line in f)
    except OSError:
        return False
