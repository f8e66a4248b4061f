"""The build cache: step key → resulting image config and layers, in SQLite under the data root.

A key is the SHA-256 of the parent's config digest (which pins the whole layer chain and
history), the instruction after expansion, and its inputs: the content digest of COPY/ADD
sources (content, mode, owner; never mtimes) and the build args the step can see. Results
point at blobs in the content store (config JSON, gzip layers), so they survive a daemon
restart; a record whose blobs are gone is ignored. ``prune`` drops the records and the blobs
no image uses.

One SQLite connection serves the daemon (opened on first use, calls serialized by a lock; they
come from worker threads), in WAL mode with ``synchronous=NORMAL``: a lookup per step then costs
a query, not a connection, and a record is never worth an fsync (one lost in a power cut is a
step built again). A build marks the records it reused (``last_used``, which only orders records
for the operator; nothing here decides by it): ``touch`` notes them in memory, and they are written
in one transaction at most every ``_TOUCH_EVERY`` seconds (and on ``close``), not with a write per
build, so a fully cached build writes nothing. A lookup checks only the blobs the parent does not
already pin.

Records are also mirrored in memory (``_mem``, filled by lookups and ``put``, bounded): a cached
step then costs no query and no JSON decoding, only the ``stat`` of its blobs, which is what makes a
record valid. Only this daemon writes the table (the data root is locked); every change to it
(``put``, a record found broken, ``prune``) updates the mirror under the same lock as the SQL, and a
miss still asks SQLite, so the mirror never answers for a record the table does not have.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kobako.content import LocalContentStore


def cache_key(parent: str, instruction: str, inputs: Iterable[str] = ()) -> str:
    h = hashlib.sha256()
    for part in (parent, instruction, *inputs):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True, slots=True)
class CacheHit:
    config_digest: str
    layers: list[dict[str, Any]]


_TOUCH_EVERY = 30.0  # seconds between writes of last_used (a kill -9 loses at most this much of it)
_MIRROR = 4096  # records kept in memory (a step's record is a few hundred bytes)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    key TEXT PRIMARY KEY,
    config_digest TEXT NOT NULL,
    layers TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
"""


class BuildCache:
    def __init__(self, path: Path | str, content: LocalContentStore) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.content = content
        self._lock = threading.Lock()  # prune's
        self._db_lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # key -> (config digest, layers): read-only; a hit hands out copies of the layer dicts
        self._mem: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = {}
        # one dict per distinct layer descriptor, shared by the mirrored records (a chain of n steps
        # repeats its first layers n times): the mirror costs pointers per layer, not dicts
        self._layers: dict[str, dict[str, Any]] = {}
        self._touched: dict[str, float] = {}  # key -> last_used not written yet
        self._flushed = time.monotonic()
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._db_lock:
            if self._conn is None:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                self._conn = db
            yield self._conn

    def close(self) -> None:
        with self._db_lock:
            self.flush()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def get(self, key: str, known: Iterable[str] = (), touch: bool = True) -> CacheHit | None:
        """The step's record, if its blobs are all still in the content store (``known``: digests
        the caller already knows are there, such as the parent's layers, not checked again).
        ``touch=False`` leaves ``last_used`` to one ``touch`` of the whole build's keys."""
        rec = self._mem.get(key)
        if rec is None:
            with self._db() as db:
                row = db.execute("SELECT config_digest, layers FROM steps WHERE key = ?", (key,)).fetchone()
                if row is None:
                    return None
                self._remember(key, row[0], json.loads(row[1]))
                rec = self._mem[key]
        config_digest, layers = rec
        has = self.content.has
        seen = known if isinstance(known, (set, frozenset)) else set(known)
        if not has(config_digest) or not all(layer["digest"] in seen or has(layer["digest"]) for layer in layers):
            with self._db() as db:
                db.execute("DELETE FROM steps WHERE key = ?", (key,))
                self._mem.pop(key, None)
            return None
        if touch:
            with self._db() as db:
                db.execute("UPDATE steps SET last_used = ? WHERE key = ?", (time.time(), key))
        return CacheHit(config_digest, [dict(layer) for layer in layers])

    def _remember(self, key: str, config_digest: str, layers: list[dict[str, Any]]) -> None:
        """Mirror a record; the caller holds the database lock."""
        if len(self._mem) >= _MIRROR:
            del self._mem[next(iter(self._mem))]  # the oldest
        if len(self._layers) >= 4 * _MIRROR:
            self._layers.clear()  # records keep theirs; later ones share anew
        shared = []
        for layer in layers:
            text = json.dumps(layer)  # key order kept: the layers go into manifests as they are
            one = self._layers.get(text)
            if one is None:
                one = self._layers[text] = json.loads(text)  # a copy of its own, never handed out
            shared.append(one)
        self._mem[key] = (config_digest, tuple(shared))

    def touch(self, keys: Iterable[str]) -> None:
        """Mark records used now; written with the others noted since the last write, in one
        transaction, once ``_TOUCH_EVERY`` seconds have passed since it."""
        now = time.time()
        with self._db_lock:
            for k in keys:
                self._touched[k] = now
            if time.monotonic() - self._flushed >= _TOUCH_EVERY:
                self.flush()

    def flush(self) -> None:
        """Write the ``last_used`` times ``touch`` noted."""
        with self._db_lock:
            self._flushed = time.monotonic()
            if not self._touched:
                return
            pending, self._touched = self._touched, {}
            with self._db() as db:
                db.execute("BEGIN")
                try:
                    db.executemany("UPDATE steps SET last_used = ? WHERE key = ?",
                                   [(t, k) for k, t in pending.items()])
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")

    def put(self, key: str, config_digest: str, layers: list[dict[str, Any]]) -> None:
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT INTO steps (key, config_digest, layers, created, last_used) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET config_digest = excluded.config_digest,"
                " layers = excluded.layers, last_used = excluded.last_used",
                (key, config_digest, json.dumps(layers), now, now),
            )
            self._remember(key, config_digest, layers)

    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM steps").fetchone()[0])

    def blobs(self) -> set[str]:
        with self._db() as db:
            rows = db.execute("SELECT config_digest, layers FROM steps").fetchall()
        out: set[str] = set()
        for config_digest, layers in rows:
            out.add(config_digest)
            out.update(layer["digest"] for layer in json.loads(layers))
        return out

    def prune(self, in_use: set[str]) -> tuple[list[str], int]:
        """Forget every step; delete blobs only the cache referred to. Returns (keys, bytes freed)."""
        with self._lock:
            blobs = self.blobs()
            with self._db() as db:
                keys = [r[0] for r in db.execute("SELECT key FROM steps").fetchall()]
                db.execute("DELETE FROM steps")
                self._mem.clear()
                self._layers.clear()
                self._touched.clear()
            freed = 0
            for digest in sorted(blobs - in_use):
                try:
                    size = self.content.size(digest)
                    self.content.delete(digest)
                    freed += size
                except Exception:  # noqa: BLE001 - already gone, or in use by a concurrent writer
                    continue
        return keys, freed
