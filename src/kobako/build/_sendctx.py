"""The client side of ``POST /build``: a context directory as the tar stream docker's client sends.

Used by ``kobako build`` and ``kobako compose build``; stdlib only, and no ``os`` (it, with posixpath, stat
and _collections_abc, is ~2 ms of every build's start): paths by the same lexical rules as posixpath. The
walk applies the context's .dockerignore (the Dockerfile and .dockerignore always go); a Dockerfile from
outside the context is added under a private name.
"""

from __future__ import annotations

import posix
import sys

TYPE_CHECKING = False  # typing is not imported for annotations: start-up time
if TYPE_CHECKING:
    from collections.abc import Iterator


class ContextUnavailable(Exception):
    """The context or its Dockerfile cannot be read (the message is docker's wording)."""


# -- paths without os.path (the same lexical rules as posixpath) -----------------------------------
_S_IFMT, _S_IFDIR, _S_IFREG = 0o170000, 0o040000, 0o100000


def _is(path: str, kind: int) -> bool:
    try:
        return (posix.stat(path).st_mode & _S_IFMT) == kind
    except (OSError, ValueError):
        return False


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
        return True
    except (OSError, ValueError):
        return False


def _join(a: str, b: str) -> str:
    return b if b.startswith("/") else (a + b if not a or a.endswith("/") else a + "/" + b)


def _abspath(path: str) -> str:
    parts: list[str] = []
    for part in _join(posix.getcwd(), path).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _relpath(path: str, start: str) -> str:
    """``os.path.relpath`` of two absolute, normalised paths."""
    p, s = [x for x in path.split("/") if x], [x for x in start.split("/") if x]
    n = 0
    while n < min(len(p), len(s)) and p[n] == s[n]:
        n += 1
    return "/".join([".."] * (len(s) - n) + p[n:]) or "."


_PIECE = 1 << 20  # bytes handed to the HTTP client at a time (one chunk of the chunked body)


def _file_bytes(path: str, size: int) -> bytes:
    """``size`` bytes of the file (zero-padded if it shrank since its lstat, cut if it grew)."""
    fd = posix.open(path, posix.O_RDONLY | posix.O_NOFOLLOW)
    try:
        data = posix.read(fd, size) if size else b""
        while len(data) < size:
            more = posix.read(fd, size - len(data))
            if not more:
                return data + bytes(size - len(data))
            data += more
        return data
    finally:
        posix.close(fd)


def _entries(root: str, paths: Iterator[tuple[str, posix.stat_result]]) -> Iterator[bytes]:
    """Tar members (header blocks, data, padding) for the walked paths: regular files, directories
    and symlinks, owned by 0:0 as docker's client sends them; hard links to a file sent earlier
    become link members."""
    import stat as S

    from kobako.build._tarfmt import DIRTYPE, LNKTYPE, SYMTYPE, header, padding

    links: dict[tuple[int, int], str] = {}
    for path, st in paths:
        mode, mtime = S.S_IMODE(st.st_mode), int(st.st_mtime)
        full = _join(root, path)
        if S.S_ISREG(st.st_mode):
            if st.st_nlink > 1:
                first = links.setdefault((st.st_dev, st.st_ino), path)
                if first != path:
                    yield header(path, mode=mode, mtime=mtime, typeflag=LNKTYPE, linkname=first)
                    continue
            try:
                data = _file_bytes(full, st.st_size)
            except OSError:
                continue  # gone or unreadable since the walk: as before, left out
            yield header(path, mode=mode, size=len(data), mtime=mtime)
            yield data
            yield padding(len(data))
        elif S.S_ISDIR(st.st_mode):
            yield header(path + "/", mode=mode, mtime=mtime, typeflag=DIRTYPE)
        elif S.S_ISLNK(st.st_mode):
            try:
                target = posix.readlink(full)
            except OSError:
                continue
            yield header(path, mode=mode, mtime=mtime, typeflag=SYMTYPE, linkname=target)
        # sockets, fifos and devices are not sent


def _batched(parts: Iterator[bytes]) -> Iterator[bytes]:
    """The parts joined into pieces of about ``_PIECE`` bytes (fewer, larger socket writes)."""
    buf: list[bytes] = []
    size = 0
    for part in parts:
        buf.append(part)
        size += len(part)
        if size >= _PIECE:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def context_tar(root: str, dockerfile: str | None) -> tuple[Iterator[bytes], str]:
    """(tar chunks, the Dockerfile's name inside the tar)."""
    if not _is(root, _S_IFDIR):
        raise ContextUnavailable(f'unable to prepare context: path "{root}" not found')
    df_host = dockerfile if dockerfile and dockerfile != "-" else _join(root, "Dockerfile")
    if dockerfile and dockerfile != "-" and not dockerfile.startswith("/") and not _exists(dockerfile):
        df_host = _join(root, dockerfile)
    df_stdin = sys.stdin.buffer.read() if dockerfile == "-" else None
    rel = _relpath(_abspath(df_host), _abspath(root))
    outside = df_stdin is not None or rel.startswith("..")
    if df_stdin is None and not _is(df_host, _S_IFREG):
        if dockerfile is None and _is(_join(root, "dockerfile"), _S_IFREG):
            rel, df_host = "dockerfile", _join(root, "dockerfile")
        else:
            raise ContextUnavailable(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                               f"lstat {_abspath(df_host)}: no such file or directory")
    # a private name for a Dockerfile from outside the context (urandom: `secrets` costs 12 ms to import)
    name = f".dockerfile.{posix.urandom(10).hex()}" if outside else rel
    always = [] if outside else [name, ".dockerignore"]
    if _exists(_join(root, ".dockerignore")):
        from kobako.build.dockerignore import DockerIgnore

        paths = DockerIgnore.from_context(root).walk_stat(root, always=always)
    else:
        from kobako.build._scan import walk_all

        paths = walk_all(root)

    def members() -> Iterator[bytes]:
        from kobako.build._tarfmt import END, header, padding

        yield from _entries(root, paths)
        if outside:
            if df_stdin is not None:
                data = df_stdin
            else:
                with open(df_host, "rb") as f:
                    data = f.read()
            yield header(name, mode=0o600, size=len(data))
            yield data
            yield padding(len(data))
        yield END

    return _batched(members()), name
