"""Pure parts of the archive API: Go ``os.FileMode`` bits, the ``X-Docker-Container-Path-Stat``
header, and moby's path rules for ``cp`` (``PreserveTrailingDotOrSeparator``, ``SplitPathDirEntry``).
"""

from __future__ import annotations

import base64
import json
import posixpath
import stat
import time
from typing import Any

STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go os.FileMode type bits (io/fs/fs.go)
MODE_DIR = 1 << 31
MODE_APPEND = 1 << 30
MODE_EXCLUSIVE = 1 << 29
MODE_TEMPORARY = 1 << 28
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_IRREGULAR = 1 << 19


def go_file_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` (``fillFileStatFromSys`` in os/stat_linux.go)."""
    mode = st_mode & 0o777
    fmt = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFBLK: MODE_DEVICE,
        stat.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE,
        stat.S_IFDIR: MODE_DIR,
        stat.S_IFIFO: MODE_NAMED_PIPE,
        stat.S_IFLNK: MODE_SYMLINK,
        stat.S_IFSOCK: MODE_SOCKET,
    }.get(fmt, 0)
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def rfc3339_nano(ns: int) -> str:
    """Go's ``time.Time`` JSON form in UTC: RFC 3339 with trailing zeros of the fraction trimmed."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def path_stat(name: str, st_mode: int, size: int, mtime_ns: int, link_target: str = "") -> dict[str, Any]:
    """moby ``container.PathStat``."""
    return {"name": name, "size": size, "mode": go_file_mode(st_mode), "mtime": rfc3339_nano(mtime_ns),
            "linkTarget": link_target}


def encode_stat(stat_obj: dict[str, Any]) -> str:
    """The header value: standard base64 of the compact JSON (moby ``setContainerPathStatHeader``)."""
    return base64.b64encode(json.dumps(stat_obj, separators=(",", ":")).encode()).decode()


def decode_stat(value: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(base64.b64decode(value))
    return obj


def go_base(path: str) -> str:
    """Go ``filepath.Base``: trailing slashes dropped; ``""`` → ``"."``; all slashes → ``"/"``."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def go_clean(path: str) -> str:
    """Go ``filepath.Clean`` (posixpath.normpath keeps a leading ``//``; Go does not)."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def specifies_current_dir(path: str) -> bool:
    return go_base(path) == "."


def has_trailing_separator(path: str) -> bool:
    return path.endswith("/")


def asserts_directory(path: str) -> bool:
    return has_trailing_separator(path) or specifies_current_dir(path)


def preserve_trailing_dot_or_separator(cleaned: str, original: str) -> str:
    """moby ``archive.PreserveTrailingDotOrSeparator``."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_separator(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_separator(cleaned) and has_trailing_separator(original):
        cleaned += "/"
    return cleaned


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """moby ``archive.SplitPathDirEntry``: (dir, base) of the cleaned path, keeping a trailing ``.``."""
    cleaned = go_clean(path)
    if specifies_current_dir(path):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def go_dir(path: str) -> str:
    """Go ``filepath.Dir``."""
    head = path[: path.rfind("/") + 1] if "/" in path else ""
    return go_clean(head) if head else "."


def container_abs_path(path: str) -> str:
    """The path as an absolute path in the container, keeping a trailing ``/`` or ``/.``."""
    return preserve_trailing_dot_or_separator(go_clean("/" + path), path)
