"""A container's files from the outside: the archive API (``cp``), ``export`` and ``commit``.

kobakod never resolves a path of a container itself: a short-lived helper process enters the
container's root first (its live root via ``/proc/<pid>/root``, or the snapshot mounted in a
private mount namespace when it is not running), so symlinks resolve inside the container.
Names load on first use, so the helper does not import asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kobako.daemon.files._backend import FilesBackend, readonly_mounts
    from kobako.daemon.files._pathstat import STAT_HEADER, encode_stat

_WHERE = {"FilesBackend": "_backend", "readonly_mounts": "_backend", "STAT_HEADER": "_pathstat",
          "encode_stat": "_pathstat"}
__all__ = ["STAT_HEADER", "FilesBackend", "encode_stat", "readonly_mounts"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"kobako.daemon.files.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kobako.daemon.files' has no attribute {name!r}")
