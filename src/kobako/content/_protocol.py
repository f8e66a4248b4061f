"""The content store role, so callers can be tested against any implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from kobako.content._writer import ContentWriter
    from kobako.ids import Digest


class ContentStore(Protocol):
    """Blobs addressed by their sha256 digest.

    Lifecycle of a blob: ``writer(expected)`` → ``write()`` chunks → ``commit()`` (verifies the
    digest it computed itself against ``expected``, then publishes atomically) → ``has``/``open``/
    ``read`` → ``delete``. ``write(data, expected)`` is the one-shot form. A blob is immutable
    once committed; committing a blob that already exists is a no-op that returns its digest.
    """

    def has(self, digest: str) -> bool: ...
    def path(self, digest: str) -> Path: ...
    def size(self, digest: str) -> int: ...
    def read(self, digest: str) -> bytes: ...
    def open(self, digest: str) -> BinaryIO: ...
    def write(self, data: bytes, expected: str | None = None) -> Digest: ...
    def writer(self, expected: str | None = None) -> ContentWriter: ...
    def delete(self, digest: str) -> None: ...
    def list(self) -> list[Digest]: ...
