"""One small SQLite file per store (image index, snapshot metadata, ...): WAL, a busy timeout,
a fresh connection per use, and write transactions that serialise writers (BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


class SQLiteFile:
    def __init__(self, path: Path, schema: str) -> None:
        self._path = path
        with closing(self.connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)

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
        """A write transaction (BEGIN IMMEDIATE: writers serialise, readers never block)."""
        with closing(self.connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
