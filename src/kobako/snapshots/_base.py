"""What the overlay and copy snapshotters share: metadata, directory layout, lifecycle."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from kobako.errors import InvalidArgument, NoSuchSnapshot
from kobako.snapshots._meta import MetaStore

if TYPE_CHECKING:
    from kobako.mount import Mount
    from kobako.snapshots._protocol import Info, Kind


class BaseSnapshotter:
    """``root/metadata.db`` plus ``root/snapshots/<id>/fs`` (and ``work`` for overlay)."""

    name = "base"
    overlay = False

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._dirs = self.root / "snapshots"
        self._dirs.mkdir(parents=True, exist_ok=True)
        self._meta = MetaStore(self.root / "metadata.db")

    # --- layout -----------------------------------------------------------------------------
    def _dir(self, info: Info) -> Path:
        return self._dirs / str(info.id)

    def _fs(self, info: Info) -> Path:
        return self._dir(info) / "fs"

    # --- hooks ------------------------------------------------------------------------------
    def _populate(self, info: Info) -> None:
        """Fill a new snapshot's directories (called outside the metadata transaction)."""
        raise NotImplementedError

    def _mounts(self, info: Info) -> list[Mount]:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------
    def _create(self, key: str, parent: str | None, kind: Kind) -> list[Mount]:
        with self._meta.tx() as db:
            info = self._meta.create(db, key, kind, parent)
            self._dir(info).mkdir(mode=0o700)
        try:
            self._populate(info)
            return self._mounts(info)
        except BaseException:
            self._drop(key)
            raise

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new active (writable) snapshot on top of committed ``parent``."""
        return self._create(key, parent, "active")

    def view(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new read-only snapshot of committed ``parent``."""
        return self._create(key, parent, "view")

    def mounts(self, key: str) -> list[Mount]:
        return self._mounts(self._meta.get(key))

    def commit(self, name: str, key: str) -> None:
        """Turn active ``key`` into committed ``name``; ``key`` no longer exists afterwards."""
        with self._meta.tx() as db:
            self._meta.commit(db, name, key)

    def remove(self, key: str) -> None:
        self._drop(key)

    def _drop(self, key: str) -> None:
        with self._meta.tx() as db:
            info = self._meta.delete(db, key)
        shutil.rmtree(self._dir(info), ignore_errors=True)

    def stat(self, key: str) -> Info:
        return self._meta.get(key)

    def list(self) -> list[Info]:
        return self._meta.all()

    def exists(self, key: str) -> bool:
        try:
            self._meta.get(key)
        except NoSuchSnapshot:
            return False
        return True

    def upper_dir(self, key: str) -> Path:
        """Where a layer is applied for active snapshot ``key``."""
        info = self._meta.get(key)
        if info.kind != "active":
            raise InvalidArgument(f"snapshot {key} is not active")
        return self._fs(info)

    def usage(self, key: str) -> int:
        """Bytes used by this snapshot's own directory (not its parents)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self._fs(self._meta.get(key))):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except FileNotFoundError:
                    pass
        return total
