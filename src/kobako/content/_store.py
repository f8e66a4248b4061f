"""``LocalContentStore``: blobs as files under ``root/sha256``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

from kobako.content._writer import ContentWriter
from kobako.errors import InvalidArgument, NoSuchBlob
from kobako.ids import Digest

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _hex(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidArgument(f"invalid digest: {digest!r}")
    return digest[len("sha256:") :]


class LocalContentStore:
    """Content store on the local filesystem (containerd ``plugins/content/local``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._blobs = self.root / "sha256"
        self._ingest = self.root / "ingest"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        return self._blobs / _hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected: str | None = None) -> ContentWriter:
        if expected is not None:
            _hex(expected)
        return ContentWriter(self._blobs, self._ingest, expected)

    def write(self, data: bytes, expected: str | None = None) -> Digest:
        with self.writer(expected) as w:
            w.write(data)
            return w.commit()

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NoSuchBlob(digest) from None

    def list(self) -> list[Digest]:
        return sorted(Digest("sha256:" + p.name) for p in self._blobs.iterdir() if len(p.name) == 64)
