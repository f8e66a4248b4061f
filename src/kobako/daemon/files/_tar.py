"""Tar streams of a container's files, moby ``archive.TarWithOptions`` / ``Untar`` style.

These functions use plain paths: the helper calls them after ``chroot`` into the container's
root, so the kernel resolves every path (and every symlink) inside the container and nothing
can reach the host. Unit tests call them on temporary trees.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from typing import IO, Any, cast

from kobako.daemon.files._pathstat import go_base, go_clean, path_stat
from kobako.errors import InvalidArgument, NotFound, SystemError_
from kobako.snapshots import ExactSizeReader, check_member

_CHUNK = 1 << 20
CAPABILITY_XATTR = "security.capability"
WHITEOUT_PREFIX = ".wh."


class PathNotFound(NotFound):
    """The path (or a parent) does not exist in the container."""


class NotADirectory(InvalidArgument):
    pass


class Overwrite(SystemError_):
    """``noOverwriteDirNonDir``: a directory would replace a file or the other way round (500, as moby)."""


# -- stat ---------------------------------------------------------------------------------------
def resolve(abs_path: str) -> str:
    """moby ``ResolvePath``: symlinks in the parent directories are evaluated, the last element
    is kept as given (so a symlink is reported as a symlink)."""
    slash = abs_path.rfind("/")
    dir_part, base = abs_path[: slash + 1], abs_path[slash + 1 :]
    try:
        resolved_dir = os.path.realpath(dir_part or "/", strict=True)
    except OSError as exc:
        raise PathNotFound(str(exc)) from exc
    return resolved_dir.rstrip("/") + "/" + base


def stat_path(abs_path: str) -> tuple[str, os.stat_result, dict[str, Any]]:
    """(resolved path, lstat, moby ``PathStat``) of ``abs_path``."""
    resolved = resolve(abs_path)
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise PathNotFound(str(exc)) from exc
        raise
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = os.path.realpath(abs_path)
    return resolved, st, path_stat(go_base(abs_path), st.st_mode, st.st_size, st.st_mtime_ns, link)


# -- writing tars ------------------------------------------------------------------------------
class TarWriter:
    """Adds files to a PAX tar with moby's header rules: no user/group names, whole-second
    mtimes, hardlinks within the stream as links, ``security.capability`` as the only xattr,
    sockets skipped."""

    def __init__(self, out: IO[bytes]) -> None:
        self.tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                               errors="surrogateescape")
        self._inodes: dict[tuple[int, int], str] = {}

    def add(self, path: str, name: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return
        info = tarfile.TarInfo(name + "/" if stat.S_ISDIR(mode) and not name.endswith("/") else name)
        info.mode = stat.S_IMODE(mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(mode) and st.st_nlink > 1 and key in self._inodes:
            info.type, info.linkname = tarfile.LNKTYPE, self._inodes[key]
            self.tf.addfile(info)
            return
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        try:
            cap = os.getxattr(path, CAPABILITY_XATTR, follow_symlinks=False)
            info.pax_headers = {"SCHILY.xattr." + CAPABILITY_XATTR: cap.decode("utf-8", "surrogateescape")}
        except OSError:
            pass
        if not stat.S_ISREG(mode):
            self.tf.addfile(info)
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):
                return  # removed or replaced since it was listed
            raise
        with os.fdopen(fd, "rb") as f:
            fst = os.fstat(f.fileno())
            if not stat.S_ISREG(fst.st_mode):
                return
            info.size = fst.st_size
            self.tf.addfile(info, cast("IO[bytes]", ExactSizeReader(f, fst.st_size)))
        if st.st_nlink > 1:
            self._inodes[key] = info.name

    def add_tree(self, top: str, prefix: str, *, one_file_system: bool = False) -> None:
        """Everything below directory ``top``, named ``prefix + relative path``; directories
        sorted by name, symlinks never followed. With ``one_file_system`` a directory on another
        filesystem (a mount point: /proc, /sys, /dev in a running container) is added empty."""
        root_dev = os.lstat(top).st_dev

        def visit(d: str, rel: str) -> None:
            try:
                names = sorted(os.listdir(d))
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    return
                raise
            for n in names:
                p = os.path.join(d, n)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                r = rel + n
                self.add(p, prefix + r, st)
                if stat.S_ISDIR(st.st_mode) and not (one_file_system and st.st_dev != root_dev):
                    visit(p, r + "/")

        visit(top, "")

    def close(self) -> None:
        self.tf.close()


def plan_resource(abs_path: str) -> dict[str, Any]:
    """``GET /containers/{id}/archive`` of ``abs_path`` (moby ``ContainerArchivePath``): its stat
    (sent as a header before the tar) and what ``write_resource`` needs.

    A directory ``/a/b`` gives ``b/``, ``b/...``; ``/a/b/.`` gives ``./``, ``./...`` (its
    contents); a file or symlink gives one entry named after the requested base name.
    """
    resolved, st, info = stat_path(abs_path)
    rebase = go_base(abs_path)
    return {"stat": info, "resolved": go_clean(resolved), "is_dir": stat.S_ISDIR(st.st_mode), "rebase": rebase}


def write_resource(plan: dict[str, Any], out: IO[bytes]) -> None:
    """Write the tar planned by ``plan_resource``."""
    w = TarWriter(out)
    resolved, rebase = plan["resolved"], plan["rebase"]
    if plan["is_dir"]:
        # moby rebases "." to the requested base name; the root "/" becomes "" (names "/x").
        root_name = "" if rebase == "/" else rebase
        w.add(resolved, root_name or "/", os.lstat(resolved))
        w.add_tree(resolved, root_name + "/")
    else:
        w.add(resolved, rebase, os.lstat(resolved))
    w.close()


def export_root(out: IO[bytes], root: str = "/", *, one_file_system: bool = True) -> None:
    """``GET /containers/{id}/export``: the whole tree, names relative (``bin/``, ``bin/sh``)."""
    w = TarWriter(out)
    w.add_tree(root, "", one_file_system=one_file_system)
    w.close()


# -- extracting ---------------------------------------------------------------------------------
def extraction_dir(abs_path: str) -> str:
    """moby ``containerExtractToDir``: the path with every symlink evaluated (the last one too);
    it must exist and be a directory."""
    resolved = os.path.realpath(abs_path)
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise PathNotFound(str(exc)) from exc
        raise
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectory("extraction point is not a directory")
    return resolved


def _set_xattrs(path: str, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
                    raise


def extract(fileobj: IO[bytes], dest: str, *, no_overwrite_dir_non_dir: bool = False,
            chown: tuple[int, int] | None = None) -> int:
    """moby ``Untar`` into existing directory ``dest``; returns the number of entries.

    Names are confined to ``dest`` lexically (``..`` escapes and relative symlinks or hardlinks
    leaving ``dest`` are refused: ``check_member``); an existing entry is replaced unless both
    are directories. ``chown`` overrides the owners in the tar (``copyUIDGID`` with a User).
    """
    dirs: list[tuple[str, int]] = []
    count = 0
    try:
        with tarfile.open(fileobj=fileobj, mode="r|", encoding="utf-8", errors="surrogateescape") as tf:
            for member in tf:
                parts = check_member(member)
                if not parts:
                    continue  # the root of the archive: dest itself
                count += 1
                path = os.path.join(dest, *parts)
                parent = os.path.dirname(path)
                if not os.path.lexists(parent):
                    os.makedirs(parent, 0o755)
                try:
                    existing: os.stat_result | None = os.lstat(path)
                except FileNotFoundError:
                    existing = None
                if existing is not None:
                    is_dir = stat.S_ISDIR(existing.st_mode)
                    if no_overwrite_dir_non_dir and is_dir and not member.isdir():
                        raise Overwrite(f"cannot overwrite directory {path!r} with non-directory {dest!r}")
                    if no_overwrite_dir_non_dir and not is_dir and member.isdir():
                        raise Overwrite(f"cannot overwrite non-directory {path!r} with directory {dest!r}")
                    if not (is_dir and member.isdir()):
                        _remove(path)
                        existing = None
                _create(tf, member, path, dest, existing is None)
                if member.islnk():
                    continue  # the target's metadata is the link's
                uid, gid = chown or (member.uid, member.gid)
                os.chown(path, uid, gid, follow_symlinks=False)
                if not member.issym():
                    os.chmod(path, member.mode & 0o7777)
                _set_xattrs(path, member)
                if member.isdir():
                    dirs.append((path, int(member.mtime)))
                else:
                    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid tar: {exc}") from exc
    for path, mtime in reversed(dirs):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return count


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _create(tf: tarfile.TarFile, member: tarfile.TarInfo, path: str, dest: str, new: bool) -> None:
    if member.isdir():
        if new:
            os.mkdir(path, 0o755)
    elif member.isreg():
        src = tf.extractfile(member)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while src is not None and (chunk := src.read(_CHUNK)):
                out.write(chunk)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        target = os.path.join(dest, *check_member(tarfile.TarInfo(member.linkname)))
        os.link(target, path, follow_symlinks=False)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(path, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
    elif member.isfifo():
        os.mkfifo(path, 0o600)
    else:
        raise InvalidArgument(f"unhandled tar header type {member.type!r} for {member.name!r}")


# -- commit on the copy snapshotter ---------------------------------------------------------------
def _stat_differs(a: os.stat_result, b: os.stat_result) -> bool:
    """moby ``statDifferent``: mode, owner, device; size and mtime for non-directories."""
    if (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) != (b.st_mode, b.st_uid, b.st_gid, b.st_rdev):
        return True
    if stat.S_ISDIR(a.st_mode):
        return False
    return a.st_size != b.st_size or int(a.st_mtime) != int(b.st_mtime)


def tree_diff(new: str, old: str | None, out: IO[bytes]) -> None:
    """A layer tar of what changed from full tree ``old`` to full tree ``new``: changed and added
    entries, and a ``.wh.NAME`` whiteout for each deleted one (moby ``ChangesDirs``)."""
    w = TarWriter(out)

    def listdir(d: str | None) -> list[str]:
        if d is None:
            return []
        try:
            return sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def visit(nd: str, od: str | None, rel: str) -> None:
        names = listdir(nd)
        olds = set(listdir(od))
        for n in sorted(olds - set(names)):
            w.tf.addfile(tarfile.TarInfo(rel + WHITEOUT_PREFIX + n))
        for n in names:
            p = os.path.join(nd, n)
            st = os.lstat(p)
            o = os.lstat(os.path.join(od, n)) if od is not None and n in olds else None
            changed = o is None or _stat_differs(st, o)
            if not changed and stat.S_ISLNK(st.st_mode):
                changed = os.readlink(p) != os.readlink(os.path.join(od or "", n))
            if changed:
                w.add(p, rel + n, st)
            if stat.S_ISDIR(st.st_mode):
                same_kind = o is not None and stat.S_ISDIR(o.st_mode)
                visit(p, os.path.join(od, n) if same_kind and od is not None else None, rel + n + "/")

    visit(new, old, "")
    w.close()
