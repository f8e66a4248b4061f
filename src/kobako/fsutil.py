"""Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.

After a crash at any point a reader sees either the old content or the new, never a mix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, sync: bool = True) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if sync:
        fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any, *, sync: bool = True) -> None:
    atomic_write(path, json.dumps(obj, separators=(",", ":"), sort_keys=True).encode(), sync=sync)


def read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())
