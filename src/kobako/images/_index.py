"""The image index: ``root/index.db`` (SQLite, WAL), one transaction per change.

    images(id, manifest_digest, created, added)   id = config digest
    refs(ref, image_id, kind)                      full reference → image; kind "tag" | "digest"
    layers(diff_id, size)                          uncompressed size, learnt when unpacking
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kobako.sqlitedb import SQLiteFile

if TYPE_CHECKING:
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


class Index(SQLiteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)
