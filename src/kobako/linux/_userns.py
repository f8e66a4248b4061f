"""Making a user namespace with given id maps (and a network namespace owned by it).

Self-contained on purpose (``os`` and ``ctypes`` only, no kobako import): kobakod, which has threads and so
cannot unshare a user namespace itself, runs this file as a script (``python -I -S <this file> netns PATH
UIDMAP GIDMAP``) to make a remapped container's sandbox; without the package imports that costs one bare
interpreter start (~30 ms) instead of ~200 ms. ``kobako.runtime.userns`` imports it as a module.

Map arguments are /proc/<pid>/uid_map text with ``,`` for newlines: ``0 100000 65536`` or
``0 100000 1000,1000 300000 10``.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096


def helper_argv(path: str, uid_maps: "list[tuple[int, int, int]] | tuple[tuple[int, int, int], ...]",
                gid_maps: "list[tuple[int, int, int]] | tuple[tuple[int, int, int], ...]") -> list[str]:
    """The command that makes a network namespace at ``path`` owned by a new user namespace with these
    maps: a bare interpreter on this file (what kobakod runs; it has threads and cannot unshare one)."""
    def arg(maps: "list[tuple[int, int, int]] | tuple[tuple[int, int, int], ...]") -> str:
        return ",".join(f"{c} {h} {n}" for c, h, n in maps)
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), "netns", path, arg(uid_maps), arg(gid_maps)]


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.unshare.argtypes = [ctypes.c_int]
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return lib


def _fail(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, os.strerror(e), what)


def new_userns(uid_map: str, gid_map: str, net: bool = False) -> tuple[int, int | None]:
    """A new user namespace whose maps are ``uid_map``/``gid_map`` (uid_map file text), and a network
    namespace owned by it when ``net``: CLOEXEC fds (user, net or None).

    A child unshares them and waits; this process, privileged in the parent namespace, writes the maps
    (the child could only map its own ids), opens the namespaces and lets the child exit. It forks:
    single-threaded callers only.
    """
    lib = _libc()
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            if lib.unshare(CLONE_NEWUSER | (CLONE_NEWNET if net else 0)) == 0:
                os.write(ready_w, b"1")
                os.read(go_r, 1)
                code = 0
        except BaseException:  # noqa: BLE001 - the child must never unwind into the caller
            pass
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    fds: list[int] = []
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "could not create a user namespace (unshare failed)")
        for name, text in (("uid_map", uid_map), ("gid_map", gid_map)):
            fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        fds.append(os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC))
        if net:
            fds.append(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        os.close(ready_r)
        os.close(go_w)  # the child reads EOF and exits
        os.waitpid(pid, 0)
    return fds[0], (fds[1] if net else None)


def pin_netns(path: str, uid_map: str, gid_map: str) -> None:
    """A network namespace owned by a new user namespace with these maps, pinned (bind mount) at ``path``,
    which must not exist. The user namespace lives as long as the network namespace does."""
    user_fd, net_fd = new_userns(uid_map, gid_map, net=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        os.close(fd)
        if _libc().mount(f"/proc/self/fd/{net_fd}".encode(), path.encode(), None, MS_BIND, None) != 0:
            err = _fail(path)
            os.unlink(path)
            raise err
    finally:
        os.close(user_fd)
        if net_fd is not None:
            os.close(net_fd)


def _map_arg(text: str) -> str:
    lines = [line.split() for line in text.split(",") if line.strip()]
    if not lines or not all(len(x) == 3 and all(p.isdigit() for p in x) for x in lines):
        raise ValueError(f"invalid id map {text!r}: want 'CONTAINER HOST SIZE[,...]'")
    return "".join(" ".join(x) + "\n" for x in lines)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "netns":
        print("usage: _userns.py netns PATH UIDMAP GIDMAP", file=sys.stderr)
        return 2
    try:
        pin_netns(argv[1], _map_arg(argv[2]), _map_arg(argv[3]))
    except (OSError, ValueError) as exc:
        print(f"user namespace for {argv[1]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
