"""Copying file metadata and whole trees without following symlinks.

Used by the copy snapshotter (a committed snapshot is a full copy of its parent plus one layer)
and by layer extraction.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path



def is_root() -> bool:
    return os.geteuid() == 0


def set_xattr(path: str, name: str, value: bytes) -> None:
    """Set an xattr; a filesystem without xattrs, or a namespace we may not write (trusted.* and
    security.* when not root, user.* on symlinks), is skipped rather than failing the copy."""
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
            raise


def apply_meta(path: str, st_mode: int, uid: int, gid: int, mtime_ns: int | None) -> None:
    """Owner, then mode (chown clears set-id bits), then mtime; symlinks get owner and mtime."""
    link = stat.S_ISLNK(st_mode)
    if is_root():
        os.chown(path, uid, gid, follow_symlinks=False)
    if not link:
        os.chmod(path, stat.S_IMODE(st_mode))
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.ENOTSUP:
            return
        raise
    for name in names:
        set_xattr(dst, name, os.getxattr(src, name, follow_symlinks=False))


def remove_path(path: str) -> None:
    """Remove a file, link or whole directory tree; never follows symlinks; missing is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def copy_tree(src: Path | str, dst: Path | str) -> None:
    """Copy the contents of ``src`` into the existing directory ``dst``: a real copy that keeps
    modes, owners, xattrs, mtimes, symlinks, hardlinks within the tree, fifos and (as root)
    device nodes."""
    links: dict[tuple[int, int], str] = {}
    _copy_children(os.fspath(src), os.fspath(dst), links)
    st = os.lstat(src)
    copy_xattrs(os.fspath(src), os.fspath(dst))
    apply_meta(os.fspath(dst), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)


def _copy_children(src: str, dst: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        s = entry.path
        d = os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            _copy_children(s, d, links)
        elif stat.S_ISREG(mode):
            ino = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and ino in links:
                os.link(links[ino], d)
                continue
            shutil.copyfile(s, d, follow_symlinks=False)
            links[ino] = d
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(d, 0o600)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            if not is_root():
                continue
            os.mknod(d, mode, st.st_rdev)
        else:
            continue  # sockets are not copied, as with tar
        copy_xattrs(s, d)
        apply_meta(d, mode, st.st_uid, st.st_gid, st.st_mtime_ns)
