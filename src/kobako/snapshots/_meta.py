"""Snapshot metadata in one SQLite database (``root/metadata.db``), one transaction per change.

Each snapshot gets a small integer id, which names its directory (``root/snapshots/<id>``), so
overlay ``lowerdir=`` strings stay short (the kernel limits mount data to one 4096-byte page).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from typing import TYPE_CHECKING, cast

from kobako.errors import Conflict, InvalidArgument, NoSuchSnapshot, SnapshotExists
from kobako.snapshots._protocol import Info, Kind
from kobako.sqlitedb import SQLiteFile

if TYPE_CHECKING:
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    key     TEXT NOT NULL UNIQUE,
    kind    TEXT NOT NULL,
    parent  TEXT,
    created REAL NOT NULL
);
"""


def _info(row: tuple[int, str, str, str | None, float]) -> Info:
    return Info(key=row[1], kind=cast("Kind", row[2]), parent=row[3], created=row[4], id=row[0])


class MetaStore(SQLiteFile):
    """Transactional key → (id, kind, parent) records."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def get(self, key: str, db: sqlite3.Connection | None = None) -> Info:
        if db is None:
            with closing(self.connect()) as own:
                return self.get(key, own)
        row = db.execute("SELECT id, key, kind, parent, created FROM snapshots WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise NoSuchSnapshot(key)
        return _info(row)

    def all(self) -> list[Info]:
        with closing(self.connect()) as db:
            rows = db.execute("SELECT id, key, kind, parent, created FROM snapshots ORDER BY id").fetchall()
        return [_info(r) for r in rows]

    def create(self, db: sqlite3.Connection, key: str, kind: Kind, parent: str | None) -> Info:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
            raise SnapshotExists(f"snapshot {key} already exists")
        if parent is not None and self.get(parent, db).kind != "committed":
            raise InvalidArgument(f"parent snapshot {parent} is not committed")
        db.execute(
            "INSERT INTO snapshots (key, kind, parent, created) VALUES (?, ?, ?, ?)",
            (key, kind, parent, time.time()),
        )
        return self.get(key, db)

    def commit(self, db: sqlite3.Connection, name: str, key: str) -> Info:
        info = self.get(key, db)
        if info.kind != "active":
            raise InvalidArgument(f"snapshot {key} is not active")
        if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
            raise SnapshotExists(f"snapshot {name} already exists")
        db.execute("UPDATE snapshots SET key = ?, kind = 'committed' WHERE id = ?", (name, info.id))
        return self.get(name, db)

    def delete(self, db: sqlite3.Connection, key: str) -> Info:
        info = self.get(key, db)
        child = db.execute("SELECT key FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone()
        if child is not None:
            raise Conflict(f"cannot remove snapshot {key}: it has child {child[0]}")
        db.execute("DELETE FROM snapshots WHERE id = ?", (info.id,))
        return info

    def chain(self, key: str) -> list[Info]:
        """``key`` and its ancestors, nearest first."""
        out: list[Info] = []
        with closing(self.connect()) as db:
            cur: str | None = key
            while cur is not None:
                info = self.get(cur, db)
                out.append(info)
                cur = info.parent
        return out
