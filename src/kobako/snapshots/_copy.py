"""``CopySnapshotter``: the fallback when overlayfs is missing; every snapshot is a full tree."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kobako.mount import Mount
from kobako.snapshots._base import BaseSnapshotter
from kobako.snapshots._fsmeta import copy_tree

if TYPE_CHECKING:
    from kobako.snapshots._protocol import Info


class CopySnapshotter(BaseSnapshotter):
    """``prepare`` copies the parent's whole tree (a real copy: modes, owners, xattrs, symlinks,
    devices), so a committed snapshot is complete on its own and whiteouts are applied by
    deleting (``overlay = False``). Views bind the parent read-only, as it never changes."""

    name = "copy"
    overlay = False

    def _populate(self, info: Info) -> None:
        fs = self._fs(info)
        os.mkdir(fs, 0o755)
        if info.parent is not None and info.kind == "active":
            copy_tree(self._fs(self._meta.get(info.parent)), fs)

    def _mounts(self, info: Info) -> list[Mount]:
        if info.kind == "active":
            return [Mount("bind", str(self._fs(info)), ("rbind", "rw"))]
        if info.kind == "view" and info.parent is not None:
            return [Mount("bind", str(self._fs(self._meta.get(info.parent))), ("rbind", "ro"))]
        return [Mount("bind", str(self._fs(info)), ("rbind", "ro"))]
