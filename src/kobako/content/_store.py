"""``LocalContentStore``: blobs as files under ``root/sha256``; leases and garbage collection."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from kobako.content._lease import Lease, current_lease, gc_lock, leased, live_leases
from kobako.content._writer import ContentWriter
from kobako.errors import Conflict, InvalidArgument, NoSuchBlob
from kobako.fsutil import fsync_dir
from kobako.ids import Digest

INGEST_GRACE = 24 * 3600  # an ingest file of a live process this old is abandoned
UNLEASED_GRACE = 15 * 60  # a blob this process committed outside any lease is kept this long


@dataclass(slots=True)
class GcResult:
    deleted: list[str] = field(default_factory=list)
    freed: int = 0
    ingest_removed: int = 0

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _hex(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidArgument(f"invalid digest: {digest!r}")
    return digest[len("sha256:") :]


class LocalContentStore:
    """Content store on the local filesystem (containerd ``plugins/content/local``)."""

    def __init__(self, root: Path | str, *, unleased_grace: float = UNLEASED_GRACE) -> None:
        self.root = Path(root)
        self.unleased_grace = unleased_grace
        self._blobs = self.root / "sha256"
        self._prefix = str(self._blobs) + "/"  # blob paths as plain strings: no Path per lookup
        self._ingest = self.root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)
        (self.root / "leases").mkdir(exist_ok=True)
        # Blobs committed by this process outside any lease (a writer that does not take one, e.g.
        # the builder between a layer's commit and its cache record): an implicit lease that
        # expires, so such a writer's short window is safe too.
        self._unleased: dict[str, float] = {}
        self._unleased_lock = threading.Lock()

    def path(self, digest: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        return self._blobs / _hex(digest)

    def _file(self, digest: str) -> str:
        """``path`` as a string: the hot lookups (``has``, ``read``; several per cached build step)
        build no ``Path``."""
        return self._prefix + _hex(digest)

    def has(self, digest: str) -> bool:
        try:
            return S_ISREG(os.stat(self._file(digest)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def size(self, digest: str) -> int:
        try:
            return os.stat(self._file(digest)).st_size
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._file(digest), "rb")
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None

    def read(self, digest: str) -> bytes:
        try:
            fd = os.open(self._file(digest), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None
        try:
            size = os.fstat(fd).st_size  # a blob is immutable once in place: read exactly its size
            data = os.read(fd, size)
            if len(data) < size:  # a short read (never for a small blob)
                parts = [data]
                left = size - len(data)
                while left > 0 and (chunk := os.read(fd, min(left, 1 << 30))):
                    parts.append(chunk)
                    left -= len(chunk)
                data = b"".join(parts)
            return data
        finally:
            os.close(fd)

    def writer(self, expected: str | None = None) -> ContentWriter:
        if expected is not None:
            _hex(expected)
        return ContentWriter(self._blobs, self._ingest, expected, publish=self._publish)

    def _publish(self, digest: str, rename: Callable[[], None]) -> None:
        """Put a verified blob in place; under the current lease, listed in it first."""
        lease = current_lease(self)
        if lease is None:
            if self.unleased_grace > 0:
                now = time.monotonic()
                with self._unleased_lock:
                    self._unleased[digest] = now
                    if len(self._unleased) > 64:
                        self._unleased = {d: t for d, t in self._unleased.items()
                                          if now - t < self.unleased_grace}
            rename()
            return
        with gc_lock(self.root, exclusive=False):
            lease.record([digest])
            rename()

    def write(self, data: bytes, expected: str | None = None) -> Digest:
        """Store ``data`` (verified against ``expected``). A blob already in the store is not written
        again (no temp file, no fsyncs: a rebuild rewrites the same configs): it is claimed for the
        current lease - or the implicit unleased grace - under the GC lock, then looked for, so a
        concurrent collection either ran entirely before (and it is written anew) or keeps it."""
        import hashlib

        digest = Digest("sha256:" + hashlib.sha256(data).hexdigest())
        if expected is None or expected == digest:
            with gc_lock(self.root, exclusive=False):
                lease = current_lease(self)
                if lease is not None:
                    lease.record([digest])
                elif self.unleased_grace > 0:
                    with self._unleased_lock:
                        self._unleased[digest] = time.monotonic()
                if self.has(digest):
                    return digest
        with self.writer(expected) as w:
            w.write(data)
            return w.commit()

    def delete(self, digest: str) -> None:
        """Delete one blob; Conflict if another operation in progress holds it under a lease."""
        path = self.path(digest)
        own = current_lease(self)
        with gc_lock(self.root, exclusive=True):
            for name, digests in live_leases(self.root, remove_stale=False).items():
                if digest in digests and (own is None or own.path.name != name):
                    raise Conflict(f"blob {digest} is in use by an operation in progress")
            try:
                os.unlink(path)
            except FileNotFoundError:
                raise NoSuchBlob(digest) from None

    # -- leases and garbage collection -------------------------------------------------------------
    def leased(self) -> contextlib.AbstractContextManager[Lease]:
        """``with store.leased() as lease:`` protects what the block commits or ``lease.protect()``s
        from ``collect`` until it ends (see ``kobako.content._lease``)."""
        return leased(self)

    def current_lease(self) -> Lease | None:
        """The lease an enclosing ``leased()`` block holds on this store, if any."""
        return current_lease(self)

    def leased_digests(self) -> set[str]:
        """Every digest a live lease holds (e.g. an image a pull has not tagged yet)."""
        with gc_lock(self.root, exclusive=True):
            return set().union(*live_leases(self.root, remove_stale=False).values())

    def collect(self, roots: Callable[[], Iterable[str]], *, dry_run: bool = False) -> GcResult:
        """Mark and sweep: delete every blob neither ``roots()`` nor a live lease names.

        ``roots`` is called under the GC lock, after the leases were read, so whatever an
        operation published before finishing (its image recorded) is a root, and whatever it
        publishes later is in its lease or waits for the sweep to end. If ``roots`` raises,
        nothing is deleted. Stale leases and ingest files of dead processes go too. A crash at any
        point leaves only unreferenced blobs, which the next collection deletes.
        """
        result = GcResult()
        with gc_lock(self.root, exclusive=True):
            keep: set[str] = set().union(*live_leases(self.root, remove_stale=not dry_run).values())
            now = time.monotonic()
            with self._unleased_lock:
                keep.update(d for d, t in self._unleased.items() if now - t < self.unleased_grace)
            keep.update(roots())
            for digest in self.list():
                if digest in keep:
                    continue
                path = self.path(digest)
                try:
                    size = path.stat().st_size
                    if not dry_run:
                        os.unlink(path)
                except FileNotFoundError:
                    continue
                result.deleted.append(digest)
                result.freed += size
            if not dry_run:
                result.ingest_removed = self._clean_ingest()
                if result.deleted:
                    fsync_dir(self._blobs)
        return result

    def _clean_ingest(self) -> int:
        """Temp files of writers whose process is gone (named ``<pid>-<random>``), or abandoned."""
        removed = 0
        now = time.time()
        for path in self._ingest.iterdir():
            pid = path.name.split("-", 1)[0]
            try:
                alive = pid.isdigit() and os.path.exists(f"/proc/{pid}")
                if alive and now - path.stat().st_mtime < INGEST_GRACE:
                    continue
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed

    def list(self) -> list[Digest]:
        return sorted(Digest("sha256:" + p.name) for p in self._blobs.iterdir() if len(p.name) == 64)
