"""``diff_layer``: an overlay upper dir back to a layer tar (whiteouts → ``.wh.`` entries)."""

from __future__ import annotations

import os
import stat
import tarfile
from typing import IO, TYPE_CHECKING, cast

from kobako.snapshots._layer import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from kobako.snapshots._streams import CountingWriter

if TYPE_CHECKING:
    from pathlib import Path


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        if name.startswith("trusted.overlay."):
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def diff_layer(upper_dir: Path | str, out: IO[bytes]) -> int:
    """Write the uncompressed tar of an overlay upper dir to ``out``; return its size.

    0/0 char devices become ``.wh.NAME`` entries and opaque directories get a
    ``.wh..wh..opq`` entry, the inverse of ``apply_layer(..., overlay=True)``. Entries are
    sorted, so the same tree always gives the same tar.
    """
    root = os.fspath(upper_dir)
    counter = CountingWriter(out)
    with tarfile.open(fileobj=cast("IO[bytes]", counter), mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != "." and _is_opaque(dirpath):
                wh = tarfile.TarInfo(os.path.join(rel_dir, WHITEOUT_OPAQUE))
                tf.addfile(wh)
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                arc = os.path.normpath(os.path.join(rel_dir, name))
                st = os.lstat(path)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    wh = tarfile.TarInfo(os.path.join(os.path.dirname(arc), WHITEOUT_PREFIX + name))
                    wh.uid, wh.gid, wh.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
                    tf.addfile(wh)
                    continue
                if stat.S_ISSOCK(st.st_mode):
                    continue
                info = tf.gettarinfo(path, arc)
                info.uname = info.gname = ""
                info.pax_headers = _xattrs(path)
                if info.isreg():
                    with open(path, "rb") as f:
                        tf.addfile(info, f)
                else:
                    tf.addfile(info)
    return counter.count
