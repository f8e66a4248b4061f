"""``OverlaySnapshotter``: each snapshot is one overlayfs layer directory."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kobako.mount import Mount
from kobako.snapshots._base import BaseSnapshotter

if TYPE_CHECKING:
    from kobako.snapshots._protocol import Info

# the kernel copies mount data into one page; leave room for upperdir/workdir and options
MAX_MOUNT_DATA = 4096


class OverlaySnapshotter(BaseSnapshotter):
    """Active snapshots mount as ``overlay`` (lowerdir = ancestors, nearest first); a snapshot
    without parent is a bind mount of its ``fs``; a view of a single layer is a read-only bind.
    Layers are applied with overlayfs whiteouts (``overlay = True``)."""

    name = "overlayfs"
    overlay = True

    def _populate(self, info: Info) -> None:
        os.mkdir(self._fs(info), 0o755)
        if info.kind == "active":
            os.mkdir(self._dir(info) / "work", 0o700)

    def _lowers(self, parent: str | None) -> list[str]:
        if parent is None:
            return []
        return [str(self._fs(i)) for i in self._meta.chain(parent)]

    def _mounts(self, info: Info) -> list[Mount]:
        if info.kind == "committed":
            lowers = self._lowers(info.key)
            return self._readonly(lowers)
        lowers = self._lowers(info.parent)
        if info.kind == "view":
            return self._readonly(lowers) if lowers else [Mount("bind", str(self._fs(info)), ("rbind", "ro"))]
        fs = str(self._fs(info))
        if not lowers:
            return [Mount("bind", fs, ("rbind", "rw"))]
        opts = (
            "lowerdir=" + ":".join(lowers),
            f"upperdir={fs}",
            f"workdir={self._dir(info) / 'work'}",
        )
        _check_size(opts)
        return [Mount("overlay", "overlay", opts)]

    def _readonly(self, lowers: list[str]) -> list[Mount]:
        if len(lowers) == 1:
            return [Mount("bind", lowers[0], ("rbind", "ro"))]
        opts = ("lowerdir=" + ":".join(lowers),)
        _check_size(opts)
        return [Mount("overlay", "overlay", opts)]


def _check_size(opts: tuple[str, ...]) -> None:
    from kobako.errors import Unsupported

    if len(",".join(opts)) >= MAX_MOUNT_DATA:
        raise Unsupported(f"overlay mount options exceed {MAX_MOUNT_DATA} bytes (too many layers)")
