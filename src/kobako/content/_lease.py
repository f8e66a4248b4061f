"""Leases: what an operation in progress (pull, build, commit, load, import) protects from GC.

An operation takes a lease (``with store.leased():``); every blob it commits while the lease is the
current one (a ``ContextVar``, so threads started with ``asyncio.to_thread`` or a copied context
see it), and every blob it ``protect``s, is listed in the lease's file,
``<root>/leases/<pid>-<random>``, before the blob is published or relied upon. The holder keeps an
exclusive ``flock`` on that file for the lease's life, so the kernel tells the collector whether the
holder is still alive: a lease left by a process that died is unlocked, and is removed.

``<root>/gc.lock`` orders the two sides: the collector holds it exclusively from reading the leases to
the end of the sweep; a lease is created, extended, and a leased blob renamed into place, under it
shared. So a blob is either listed in a lease the collector reads, or is published only after the
sweep; and ``protect`` followed by ``has`` is a safe "already exists" test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kobako.content._store import LocalContentStore

_current: ContextVar[Lease | None] = ContextVar("kobako_content_lease", default=None)


@contextlib.contextmanager
def gc_lock(root: Path, exclusive: bool) -> Iterator[None]:
    fd = os.open(f"{root}/gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


class Lease:
    """One live lease; use through ``LocalContentStore.leased()``."""

    def __init__(self, store: LocalContentStore) -> None:
        self.store = store
        self.digests: set[str] = set()
        self._fd: int | None = None
        leases = store.root / "leases"
        with gc_lock(store.root, exclusive=False):  # the collector never sees it unlocked
            for _ in range(8):
                path = leases / f"{os.getpid()}-{os.urandom(6).hex()}"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
                except FileExistsError:
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._fd, self.path = fd, path
                break
            else:
                raise OSError(f"cannot create a lease in {leases}")

    def record(self, digests: Iterable[str]) -> None:
        """List ``digests`` in the lease file; the caller holds the GC lock (shared)."""
        new = [d for d in digests if d and d not in self.digests]
        if not new:
            return
        if self._fd is None:
            raise OSError("the lease was released")
        os.write(self._fd, "".join(d + "\n" for d in new).encode())
        self.digests.update(new)

    def protect(self, digests: Iterable[str]) -> list[str]:
        """Keep ``digests`` while the lease lives; returns those not in the store (they may be
        written later, and stay protected). Safe against a concurrent collection."""
        wanted = list(digests)
        with gc_lock(self.store.root, exclusive=False):
            self.record(wanted)
            return [d for d in wanted if not self.store.has(d)]

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def current_lease(store: LocalContentStore) -> Lease | None:
    lease = _current.get()
    if lease is not None and lease.store.root == store.root and lease._fd is not None:
        return lease
    return None


@contextlib.contextmanager
def leased(store: LocalContentStore) -> Iterator[Lease]:
    """The current lease on ``store`` if there is one (nested operations share it), else a new one
    that is current until the block ends, then released."""
    outer = current_lease(store)
    if outer is not None:
        yield outer
        return
    lease = Lease(store)
    token = _current.set(lease)
    try:
        yield lease
    finally:
        _current.reset(token)
        lease.release()


def live_leases(root: Path, *, remove_stale: bool) -> dict[str, set[str]]:
    """Digests of every live lease by lease file name; the caller holds the GC lock. A lease whose
    holder died (its file can be locked) is removed when ``remove_stale``."""
    out: dict[str, set[str]] = {}
    leases = root / "leases"
    for path in leases.iterdir():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # released meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: live
                with os.fdopen(os.dup(fd), "rb") as f:
                    out[path.name] = {line.strip() for line in f.read().decode().splitlines() if line.strip()}
                continue
            if remove_stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            os.close(fd)
    return out
