"""The image index: ``root/index.db`` (SQLite, WAL), one transaction per change.

    images(id, manifest_digest, created, added)   id = config digest
    refs(ref, image_id, kind)                      full reference → image; kind "tag" | "digest"
    layers(diff_id, size)                          uncompressed size, learnt when unpacking
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id              TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    created         TEXT NOT NULL,
    added           REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    ref      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id),
    kind     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
CREATE TABLE IF NOT EXISTS layers (
    diff_id TEXT PRIMARY KEY,
    size    INTEGER NOT NULL
);
"""


class Index:
    def __init__(self, path: Path) -> None:
        self._path = path
        with closing(self.connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with closing(self.connect()) as db:
            yield db

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with closing(self.connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
