"""Layer tars: ``open_layer`` (decompression by sniffing) and ``apply_layer`` (safe extraction
with whiteouts), the counterpart of containerd ``archive.Apply`` / moby ``UnpackLayer``."""

from __future__ import annotations

import errno
import gzip
import os
import stat
import tarfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from kobako.errors import InvalidArgument
from kobako.snapshots._fsmeta import apply_meta, is_root, remove_path, set_xattr
from kobako.snapshots._safepath import clean, link_escapes, resolve_dir
from kobako.snapshots._streams import CountingReader, PrefixedReader, zstd_reader

if TYPE_CHECKING:
    from collections.abc import Callable

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


def open_layer(src: str | os.PathLike[str] | IO[bytes]) -> BinaryIO:
    """An uncompressed tar stream from a path or binary file: gzip, zstd or plain, by magic."""
    owned = not hasattr(src, "read")
    raw: IO[bytes] = open(cast("str", src), "rb") if owned else cast("IO[bytes]", src)
    head = PrefixedReader(raw, close_inner=owned)
    magic = head.peek(4)
    if magic[:2] == b"\x1f\x8b":
        return cast("BinaryIO", _Closing(gzip.GzipFile(fileobj=head, mode="rb"), head))
    if magic == b"\x28\xb5\x2f\xfd":
        return zstd_reader(head)
    return cast("BinaryIO", head)


class _Closing:
    """A reader that also closes what it wraps."""

    def __init__(self, reader: IO[bytes], inner: PrefixedReader) -> None:
        self._reader = reader
        self._inner = inner

    def read(self, n: int = -1) -> bytes:
        return self._reader.read(n)

    def close(self) -> None:
        self._reader.close()
        self._inner.close()

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Failures of the host, not of the tar: these propagate as they are.
_HOST_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
                          errno.ENFILE})
MAX_SPECIAL_HEADER = 1 << 20  # PAX records and GNU long names, as Go's archive/tar (moby) caps them
_SPECIAL_TYPES = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                            tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK})


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses an oversized PAX / GNU long-name header *before* tarfile reads it
    into memory (tarfile itself has no limit: a 4 GiB header would be read whole)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _SPECIAL_TYPES and self.size > MAX_SPECIAL_HEADER:
            raise InvalidArgument(f"invalid layer tar: {self.size}-byte extended header "
                                  f"(more than {MAX_SPECIAL_HEADER} bytes)")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def _full_mode(member: tarfile.TarInfo) -> int:
    kind = {
        tarfile.DIRTYPE: stat.S_IFDIR,
        tarfile.SYMTYPE: stat.S_IFLNK,
        tarfile.CHRTYPE: stat.S_IFCHR,
        tarfile.BLKTYPE: stat.S_IFBLK,
        tarfile.FIFOTYPE: stat.S_IFIFO,
    }.get(member.type, stat.S_IFREG)
    return kind | (member.mode & 0o7777)


def check_member(member: tarfile.TarInfo) -> list[str]:
    """The same safety rules as ``apply_layer`` without touching disk; returns the components."""
    parts = clean(member.name)
    if member.issym() and link_escapes(parts, member.linkname):
        raise InvalidArgument(f"invalid tar entry {member.name!r}: symlink target {member.linkname!r} escapes the root")
    if member.islnk():
        clean(member.linkname, what=member.name)
    return parts


class _Applier:
    def __init__(self, root: str, overlay: bool) -> None:
        self.root = root
        self.overlay = overlay
        self.written: set[str] = set()
        self.dir_times: list[tuple[str, int]] = []

    def whiteout(self, parts: list[str], name: str) -> None:
        base = parts[-1]
        if base[len(WHITEOUT_PREFIX) :] in ("", ".", ".."):  # ".wh..." would remove the root's parent
            raise InvalidArgument(f"invalid tar entry {name!r}: whiteout of an invalid name")
        try:
            parent = resolve_dir(self.root, parts[:-1], create=self.overlay, name=name)
        except InvalidArgument:
            if self.overlay:
                raise
            return  # copy mode: nothing below a missing directory to delete
        if base == WHITEOUT_OPAQUE:
            if self.overlay:
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                self._empty(parent)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs metadata (.wh..wh.plnk, .wh..wh.aufs)
        victim = os.path.join(parent, base[len(WHITEOUT_PREFIX) :])
        remove_path(victim)
        if self.overlay:
            os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def _empty(self, directory: str) -> None:
        """Opaque dir in copy mode: drop lower content, keep what this layer wrote."""
        for entry in os.listdir(directory):
            path = os.path.join(directory, entry)
            rel = os.path.relpath(path, self.root)
            if rel not in self.written:
                remove_path(path)
            elif os.path.isdir(path) and not os.path.islink(path):
                self._empty(path)

    def entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str]) -> None:
        name = member.name
        parent = resolve_dir(self.root, parts[:-1], create=True, name=name)
        path = os.path.join(parent, parts[-1])
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            remove_path(path)
            existing = None
        if member.isdir():
            if existing is None:
                os.mkdir(path, 0o700)
        elif member.isreg():
            self._write_file(tf, member, path)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            tparts = clean(member.linkname, what=name)
            if not tparts:
                raise InvalidArgument(f"invalid tar entry {name!r}: hardlink to the root")
            tdir = resolve_dir(self.root, tparts[:-1], create=False, name=name)
            os.link(os.path.join(tdir, tparts[-1]), path, follow_symlinks=False)
            self.written.add(os.path.relpath(path, self.root))
            return
        elif member.ischr() or member.isblk():
            if not is_root():
                return  # device nodes need CAP_MKNOD; skipped as an unprivileged engine would
            os.mknod(path, _full_mode(member), os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            return  # sockets, GNU sparse remnants, ...
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                set_xattr(path, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))
        mtime_ns = int(member.mtime * 1_000_000_000)
        if member.isdir():
            apply_meta(path, _full_mode(member), member.uid, member.gid, None)
            self.dir_times.append((path, mtime_ns))
        else:
            apply_meta(path, _full_mode(member), member.uid, member.gid, mtime_ns)
        self.written.add(os.path.relpath(path, self.root))

    @staticmethod
    def _write_file(tf: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        src = tf.extractfile(member)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as out:
                while src is not None and (chunk := src.read(_CHUNK)):
                    out.write(chunk)
        finally:
            os.close(fd)


def apply_layer(
    fileobj: IO[bytes],
    target_dir: Path | str,
    *,
    overlay: bool,
    on_entry: Callable[[tarfile.TarInfo], None] | None = None,
) -> int:
    """Extract the *uncompressed* tar stream ``fileobj`` into ``target_dir``; return its size.

    Entries are confined to ``target_dir`` (``..`` escaping → ``InvalidArgument``; absolute names
    are relative to it; symlinked parents are resolved inside it; relative symlink targets and
    hardlink targets that escape are refused). Mode, owner (as root), mtime and PAX
    ``SCHILY.xattr.*`` are preserved; char/block devices are created only as root.

    Whiteouts: ``.wh.NAME`` hides NAME of lower layers, ``.wh..wh..opq`` hides a directory's
    lower content. With ``overlay=True`` they become overlayfs whiteouts in the upper dir (0/0
    char device; ``trusted.overlay.opaque=y``); otherwise NAME is deleted from the (full copy)
    tree and an opaque directory loses what lower layers had put in it.
    """
    root = os.path.realpath(target_dir)
    reader = CountingReader(fileobj)
    applier = _Applier(root, overlay)
    try:
        with tarfile.open(fileobj=cast("IO[bytes]", reader), mode="r|", tarinfo=_BoundedTarInfo) as tf:
            for member in tf:
                if on_entry is not None:
                    on_entry(member)
                parts = check_member(member)
                if not parts:
                    continue  # the root itself
                if any(p.startswith(WHITEOUT_META_PREFIX) for p in parts[:-1]):
                    continue  # inside aufs metadata dirs
                try:
                    if parts[-1].startswith(WHITEOUT_PREFIX):
                        applier.whiteout(parts, member.name)
                    else:
                        applier.entry(tf, member, parts)
                except OSError as exc:  # the entry's fault (a hardlink to nothing, a bad xattr, ...)
                    if exc.errno in _HOST_ERRNOS:
                        raise
                    raise InvalidArgument(f"invalid tar entry {member.name!r}: {exc.strerror}") from exc
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid layer tar: {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidArgument(f"invalid layer tar: {exc}") from exc
        raise
    for path, mtime_ns in reversed(applier.dir_times):
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    reader.drain()
    return reader.count
