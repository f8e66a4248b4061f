"""Tiny tars for tests: regular files only, from a name -> bytes mapping."""

from __future__ import annotations

import gzip
import io
import tarfile


def tar_of(files: dict[str, bytes]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def layer_of(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(tar, its gzip with mtime 0: the same bytes every time)."""
    tar = tar_of(files)
    return tar, gzip.compress(tar, mtime=0)
