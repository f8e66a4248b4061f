"""``diff_layer``: an overlay upper dir back to a layer tar (whiteouts → ``.wh.`` entries).

The upper dir may belong to a container that is still running (``docker diff``/``export`` of a live
container, a build step's leftover process), so the walk never follows a symlink: directories are
walked by file descriptor (``os.fwalk``), every entry is ``lstat``-ed relative to its directory's fd, and
regular files are opened with ``O_NOFOLLOW`` and checked to be the inode that was ``lstat``-ed.  A file
swapped for a symlink to a host path mid-walk is skipped, never read.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import IO, TYPE_CHECKING, cast

from kobako.snapshots._layer import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from kobako.snapshots._streams import CountingWriter, ExactSizeReader

if TYPE_CHECKING:
    from pathlib import Path

_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFREG: tarfile.REGTYPE,
}


def _fd_path(dir_fd: int, name: str) -> str:
    # xattr calls take no dir_fd; /proc/self/fd/N/NAME resolves N without following NAME.
    return f"/proc/self/fd/{dir_fd}/{name}" if name else f"/proc/self/fd/{dir_fd}"


def _xattrs(dir_fd: int, name: str) -> dict[str, str]:
    path = _fd_path(dir_fd, name)
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for key in sorted(names):
        if key.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, key, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(dir_fd: int) -> bool:
    try:
        return os.getxattr(_fd_path(dir_fd, ""), OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _info(arc: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arc)
    info.type = _TYPES.get(stat.S_IFMT(st.st_mode), tarfile.REGTYPE)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info


def diff_layer(upper_dir: Path | str, out: IO[bytes]) -> int:
    """Write the uncompressed tar of an overlay upper dir to ``out``; return its size.

    0/0 char devices become ``.wh.NAME`` entries and opaque directories get a
    ``.wh..wh..opq`` entry, the inverse of ``apply_layer(..., overlay=True)``. Entries are
    sorted, so the same tree always gives the same tar; hard links within the tree stay hard links.
    """
    root = os.fspath(upper_dir)
    counter = CountingWriter(out)
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=cast("IO[bytes]", counter), mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames, dfd in os.fwalk(root, follow_symlinks=False):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != "." and _is_opaque(dfd):
                tf.addfile(tarfile.TarInfo(os.path.join(rel_dir, WHITEOUT_OPAQUE)))
            for name in sorted(dirnames + filenames):
                arc = os.path.normpath(os.path.join(rel_dir, name))
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we walked
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    wh = tarfile.TarInfo(os.path.join(os.path.dirname(arc), WHITEOUT_PREFIX + name))
                    wh.uid, wh.gid, wh.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
                    tf.addfile(wh)
                    continue
                if stat.S_ISSOCK(st.st_mode):
                    continue
                info = _info(arc, st)
                info.pax_headers = _xattrs(dfd, name)
                if stat.S_ISLNK(st.st_mode):
                    info.linkname = os.readlink(name, dir_fd=dfd)
                    tf.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in links:
                        info.type, info.linkname = tarfile.LNKTYPE, links[key]
                        tf.addfile(info)
                        continue
                    _add_file(tf, info, name, dfd, st)
                    if st.st_nlink > 1:
                        links[key] = arc
                else:
                    tf.addfile(info)
    return counter.count


def _add_file(tf: tarfile.TarFile, info: tarfile.TarInfo, name: str, dfd: int, st: os.stat_result) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return  # replaced by a symlink or removed since the lstat: skip it, never follow it
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            return
        info.size = now.st_size
        tf.addfile(info, cast("IO[bytes]", ExactSizeReader(f, now.st_size)))
