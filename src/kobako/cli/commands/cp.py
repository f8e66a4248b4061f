"""kobako cp [-a] [-L] [-q] CONTAINER:SRC_PATH DEST_PATH|-   /   SRC_PATH|- CONTAINER:DEST_PATH

docker/cli ``cli/command/container/cp.go`` with moby go-archive's copy rules (``CopyInfoSourcePath``,
``CopyInfoDestinationPath``, ``PrepareArchiveCopy``, ``RebaseArchiveEntries``): copying a directory
into an existing directory puts it inside; to a new name creates it under that name; ``dir/.``
copies the contents; ``-`` streams a tar on stdin/stdout.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import posixpath
import stat
import sys
import threading
from dataclasses import dataclass

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_IRREGULAR = 1 << 19
STAT_HEADER = "x-docker-container-path-stat"


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output during copy")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DEST")


# -- Go path rules (path/filepath and go-archive) ------------------------------------------------
def go_clean(path: str) -> str:
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def go_base(path: str) -> str:
    if path == "":
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def go_dir(path: str) -> str:
    head = path[: path.rfind("/") + 1] if "/" in path else ""
    return go_clean(head) if head else "."


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def asserts_directory(path: str) -> bool:
    return path.endswith("/") or specifies_current_dir(path)


def preserve_trailing(cleaned: str, original: str) -> str:
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        cleaned += ("" if cleaned.endswith("/") else "/") + "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    cleaned = go_clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def get_rebase_name(path: str, resolved: str) -> tuple[str, str]:
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    return resolved, (go_base(path) if go_base(path) != go_base(resolved) else "")


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``CONTAINER:PATH`` or a local path (absolute, or starting with ``.``, or without ``:``)."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def resolve_local_path(path: str) -> str:
    return preserve_trailing(os.path.abspath(path), path)


@dataclass
class CopyInfo:
    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


def prepare_archive_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """(directory to extract into, (old, new) first-name rebase or None): moby ``PrepareArchiveCopy``."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    src_base = src.rebase_name or split_path_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise CommandError("cannot copy directory")
    if not dst.exists and not src.is_dir and asserts_directory(dst.path):
        raise CommandError("no such directory")
    return dst_dir, ("" if src_base == "/" else src_base, dst_base)


def rebase(name: str, change: tuple[str, str] | None) -> str:
    return name.replace(change[0], change[1], 1) if change else name


def validate_mode(mode: int) -> str | None:
    if mode & MODE_DEVICE:
        return "got a device"
    if mode & MODE_IRREGULAR:
        return "got an irregular file"
    return None


# -- the API ------------------------------------------------------------------------------------
def stat_path(client: Any, container: str, path: str) -> dict[str, Any] | None:
    from kobako.client import DaemonError

    status, headers, body = client.request("HEAD", f"/containers/{container}/archive", query={"path": path})
    if status >= 400:
        if status == 404 and b"No such container" in body:
            raise DaemonError(status, body.decode())
        return None
    value = {k.lower(): v for k, v in headers.items()}.get(STAT_HEADER)
    if not value:
        return None
    obj: dict[str, Any] = json.loads(base64.b64decode(value))
    return obj


def copy_from_container(client: Any, container: str, src: str, dst: str, args: _args.Namespace) -> None:
    if dst != "-":
        dst = resolve_local_path(dst)
        _validate_output_path(dst)
    rebase_name = ""
    if args.follow_link:
        st = stat_path(client, container, src)
        if st is not None and st["mode"] & MODE_SYMLINK:
            link = st["linkTarget"]
            if not link.startswith("/"):
                link = posixpath.join(split_path_dir_entry(src)[0], link)
            src, rebase_name = get_rebase_name(src, link)
    conn, resp = client._open("GET", f"/containers/{container}/archive", {"path": src}, None, None)
    try:
        if resp.status >= 400:
            from kobako.client import DaemonError
            from kobako.client._client import error_message

            raise DaemonError(resp.status, error_message(resp.status, resp.read(), resp.reason))
        value = {k.lower(): v for k, v in dict(resp.headers).items()}.get(STAT_HEADER, "")
        st = json.loads(base64.b64decode(value)) if value else {"mode": 0}
        reader = _Reader(resp)
        if dst == "-":
            out = sys.stdout.buffer
            while data := reader.read(1 << 16):
                out.write(data)
            out.flush()
            return
        src_info = CopyInfo(src, True, bool(st["mode"] & MODE_DIR), rebase_name)
        first = (split_path_dir_entry(src)[1], rebase_name) if rebase_name else None
        dst_info = copy_info_destination_path(dst)
        dst_dir, change = prepare_archive_copy(src_info, dst_info)
        untar(reader, dst_dir, [first, change])
    finally:
        resp.close()
        conn.close()


class _Reader:
    def __init__(self, resp: Any) -> None:
        self._resp = resp

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._resp.read1(n if n > 0 else 1 << 16)
        return data


def _validate_output_path(path: str) -> None:
    parent = go_dir(go_clean(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise CommandError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return
    why = "got a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "got an irregular file"
    raise CommandError(f'invalid output path: "{path}" must be a directory or a regular file: {why}')


def copy_info_destination_path(path: str) -> CopyInfo:
    """moby ``CopyInfoDestinationPath``: a final symlink is followed; a missing path needs its parent."""
    original = path
    for _ in range(12):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            parent = split_path_dir_entry(path)[0]
            try:
                pst = os.stat(parent)
            except OSError as exc:
                raise CommandError(f"stat {parent}: {(exc.strerror or '').lower()}") from None
            if not stat.S_ISDIR(pst.st_mode):
                raise CommandError("not a directory")
            return CopyInfo(path)
        if not stat.S_ISLNK(st.st_mode):
            return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
        target = os.readlink(path)
        path = target if target.startswith("/") else posixpath.join(split_path_dir_entry(path)[0], target)
    raise CommandError(f"too many symlinks in {original}")


def untar(src: Any, dest: str, renames: list[tuple[str, str] | None]) -> None:
    """Extract a tar stream into local directory ``dest`` (moby ``Untar`` with NoLchown and
    NoOverwriteDirNonDir). Nothing is written outside ``dest``: names with ``..`` that leave it,
    and entries below a symlink, are refused."""
    import shutil
    import tarfile

    dirs: list[tuple[str, int]] = []
    root = os.path.realpath(dest)
    with tarfile.open(fileobj=src, mode="r|", errors="surrogateescape") as tf:
        for m in tf:
            name = m.name
            for change in renames:
                name = rebase(name, change)
            parts = _clean_parts(name)
            if not parts:
                continue
            path = os.path.join(root, *parts)
            _check_parents(root, parts)
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
            try:
                existing: os.stat_result | None = os.lstat(path)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                is_dir = stat.S_ISDIR(existing.st_mode)
                if is_dir and not m.isdir():
                    raise CommandError(f'cannot overwrite directory "{path}" with non-directory "{root}"')
                if not is_dir and m.isdir():
                    raise CommandError(f'cannot overwrite non-directory "{path}" with directory "{root}"')
                if not is_dir:
                    os.unlink(path)
            if m.isdir():
                if existing is None:
                    os.mkdir(path, 0o755)
                os.chmod(path, m.mode & 0o7777)
                dirs.append((path, int(m.mtime)))
                continue
            if m.isreg():
                f = tf.extractfile(m)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(f, out)  # type: ignore[misc]
                os.chmod(path, m.mode & 0o7777)
            elif m.issym():
                if not m.linkname.startswith("/") and _escapes(parts, m.linkname):
                    raise CommandError(f'invalid symlink "{path}" -> "{m.linkname}"')
                os.symlink(m.linkname, path)
            elif m.islnk():
                target = m.linkname
                for change in renames:
                    target = rebase(target, change)
                tparts = _clean_parts(target)
                _check_parents(root, tparts)
                os.link(os.path.join(root, *tparts), path, follow_symlinks=False)
                continue
            elif m.isfifo():
                os.mkfifo(path, m.mode & 0o7777)
            elif m.ischr() or m.isblk():
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                try:
                    os.mknod(path, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
                except PermissionError:
                    continue
            else:
                continue
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    for path, mtime in reversed(dirs):
        os.utime(path, (mtime, mtime))


def _clean_parts(name: str) -> list[str]:
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise CommandError(f'"{name}" is outside of the destination')
            parts.pop()
            continue
        parts.append(comp)
    return parts


def _escapes(parts: list[str], target: str) -> bool:
    depth = len(parts) - 1
    for comp in target.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        elif comp not in ("", "."):
            depth += 1
    return False


def _check_parents(root: str, parts: list[str]) -> None:
    d = root
    for comp in parts[:-1]:
        d = os.path.join(d, comp)
        try:
            if stat.S_ISLNK(os.lstat(d).st_mode):
                raise CommandError(f'"{"/".join(parts)}" is below a symlink: refusing to write through it')
        except FileNotFoundError:
            return


# -- local → container --------------------------------------------------------------------------
def copy_info_source_path(path: str, follow: bool) -> CopyInfo:
    """moby ``CopyInfoSourcePath``/``ResolveHostSourcePath``."""
    try:
        if follow:
            resolved, rebase_name = get_rebase_name(path, os.path.realpath(path, strict=True))
        else:
            slash = path.rfind("/")
            dir_part, base = path[: slash + 1], path[slash + 1 :]
            resolved = os.path.realpath(dir_part or ".", strict=True).rstrip("/") + "/" + base
            rebase_name = go_base(path) if path.endswith("/") and go_base(path) != go_base(resolved) else ""
        st = os.lstat(resolved)
    except OSError as exc:
        raise CommandError(f"lstat {exc.filename or path}: {(exc.strerror or '').lower()}") from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase_name)


def write_local_tar(info: CopyInfo, change: tuple[str, str] | None, out: IO[bytes]) -> None:
    """moby ``TarResource`` of a local path, entries renamed by ``change`` (``PrepareArchiveCopy``)."""
    import tarfile

    source_dir, source_base = split_path_dir_entry(info.path)
    top = os.path.join(source_dir, source_base)
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, errors="surrogateescape") as tf:

        def add(path: str, rel: str) -> None:
            name = rel
            if info.rebase_name:
                name = name.replace(source_base, info.rebase_name, 1)
            name = rebase(name, change)
            st = os.lstat(path)
            if stat.S_ISSOCK(st.st_mode):
                return
            ti = tf.gettarinfo(path, name)
            ti.uname = ti.gname = ""
            ti.mtime = int(st.st_mtime)
            key = (st.st_dev, st.st_ino)
            if ti.isreg() and st.st_nlink > 1:
                if key in seen:
                    ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, seen[key], 0
                    tf.addfile(ti)
                    return
                seen[key] = name
            if ti.isreg():
                with open(path, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
            if ti.isdir():
                for child in sorted(os.listdir(path)):
                    add(os.path.join(path, child), f"{rel}/{child}")

        add(top, source_base)


def copy_to_container(client: Any, container: str, src: str, dst: str, args: _args.Namespace) -> None:
    if src != "-":
        src = resolve_local_path(src)
    dst_info = CopyInfo(dst)
    st = stat_path(client, container, dst)
    if st is not None:
        if st["mode"] & MODE_SYMLINK:
            link = st["linkTarget"]
            if not link.startswith("/"):
                link = posixpath.join(split_path_dir_entry(dst)[0], link)
            dst_info.path = link
            st = stat_path(client, container, link)
        if st is not None:
            why = validate_mode(st["mode"])
            if why:
                raise CommandError(f'destination "{container}:{dst}" must be a directory or a regular file: {why}')
            dst_info.exists, dst_info.is_dir = True, bool(st["mode"] & MODE_DIR)
    query = {"path": "", "noOverwriteDirNonDir": True, "copyUIDGID": bool(args.archive)}
    if src == "-":
        if not dst_info.is_dir:
            raise CommandError(f'destination "{container}:{dst}" must be a directory')
        query["path"] = dst_info.path
        client.json("PUT", f"/containers/{container}/archive", query=query, body=sys.stdin.buffer,
                    headers={"Content-Type": "application/x-tar"})
        return
    src_info = copy_info_source_path(src, args.follow_link)
    dst_dir, change = prepare_archive_copy(src_info, dst_info)
    query["path"] = dst_dir
    r, w = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(w, "wb") as out:
                write_local_tar(src_info, change, out)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # reported after the request
            failure.append(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    with os.fdopen(r, "rb") as body:
        client.json("PUT", f"/containers/{container}/archive", query=query, body=body,
                    headers={"Content-Type": "application/x-tar"})
    t.join()
    if failure:
        exc = failure[0]
        if isinstance(exc, OSError):
            raise CommandError(f"{exc.filename}: {(exc.strerror or str(exc)).lower()}") from None
        raise exc


def run(args: _args.Namespace, client: Any) -> int:
    if args.source == "":
        raise CommandError("source can not be empty")
    if args.destination == "":
        raise CommandError("destination can not be empty")
    src_c, src_p = split_cp_arg(args.source)
    dst_c, dst_p = split_cp_arg(args.destination)
    if src_c and dst_c:
        raise CommandError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise CommandError("must specify at least one container source")
    try:
        if src_c:
            copy_from_container(client, src_c, src_p, dst_p, args)
        else:
            copy_to_container(client, dst_c, src_p, dst_p, args)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        raise CommandError(f"{exc.filename or ''}: {(exc.strerror or str(exc)).lower()}".lstrip(": ")) from None
    return 0
