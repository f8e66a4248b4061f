"""Streaming ingest: hash while writing to a temp file, verify, fsync, rename."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from kobako.errors import DigestMismatch, InvalidArgument
from kobako.fsutil import fsync_dir
from kobako.ids import Digest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType


class ContentWriter:
    """One in-progress blob. Use as a context manager: an exception aborts the write.

    ``commit()`` never trusts ``expected``: it compares it with the digest computed over the
    bytes actually written. Two writers of the same blob are safe: each has its own temp file
    and the rename is atomic; the loser's identical bytes simply replace the winner's.
    """

    def __init__(self, blobs: Path, ingest: Path, expected: str | None = None,
                 publish: Callable[[str, Callable[[], None]], None] | None = None) -> None:
        if expected is not None and not expected.startswith("sha256:"):
            raise InvalidArgument(f"unsupported digest algorithm: {expected}")
        self._blobs = blobs
        self._expected = expected
        self._hash = hashlib.sha256()
        self._size = 0
        fd_path = ingest / f"{os.getpid()}-{os.urandom(8).hex()}"
        self._tmp = fd_path
        self._fd: int | None = os.open(fd_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._digest: Digest | None = None
        self._publish = publish  # the store's: lists the blob in the current lease around the rename

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._fd is None:
            raise InvalidArgument("write to a closed content writer")
        view = memoryview(data)
        total = len(view)
        self._hash.update(view)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += total
        return total

    def digest(self) -> Digest:
        """The digest of what has been written so far."""
        return Digest("sha256:" + self._hash.hexdigest())

    def commit(self) -> Digest:
        if self._digest is not None:
            return self._digest
        if self._fd is None:
            raise InvalidArgument("commit of an aborted content writer")
        actual = self.digest()
        if self._expected is not None and actual != self._expected:
            self.abort()
            raise DigestMismatch(self._expected, actual)
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self._blobs / actual.removeprefix("sha256:")
        os.chmod(self._tmp, 0o444)

        def rename() -> None:
            os.replace(self._tmp, final)
            fsync_dir(self._blobs)

        if self._publish is not None:
            self._publish(actual, rename)
        else:
            rename()
        self._digest = actual
        return actual

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._digest is None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ContentWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or self._digest is None:
            self.abort()
