"""User namespaces for the runtime: id maps, making a namespace, idmapped mounts.

How a container with ``{"type": "user"}`` in ``linux.namespaces`` is built (``create`` and the init):

    parent   ``prepare(spec)`` finds the user namespace to use: the one given by ``path``; else, when the
             network namespace is given by path and owned by another user namespace (kobakod made it that
             way), that owner (a process holds capabilities over a network namespace only through its
             owner, so this is the only way the container's root can bind port 80 or use raw sockets);
             else a new one, with the spec's maps written by this (privileged) process, plus a new
             network namespace owned by it when the spec asks for a new network namespace.
    init     everything that needs host privileges happens first, as host root: the rootfs and the spec's
             mounts (the image layers and the writable layer are *idmapped* through the user namespace,
             mount_setattr(MOUNT_ATTR_IDMAP), so image files owned by 0 appear owned by the container's
             root and files it writes land on disk owned by 0: no chown-copy of layers), devices, /proc,
             /sys, hostname, rlimits. File system writes into the rootfs run with fsuid/fsgid set to the
             remapped root (the idmapped mounts refuse ids they cannot map). Then the init setns()es into
             the user namespace, and switches user and capabilities there as usual.

So the container's processes live in the user namespace (``/proc/self/uid_map`` shows the map) with the
usual capability set, which counts only inside it: over files whose owners it maps, its own network
namespace, its processes. Its mount, pid, uts and ipc namespaces are owned by the host's user namespace,
which gives the container's root strictly less than runc's layout would (it cannot mount or set the
hostname even with CAP_SYS_ADMIN), and keeps every mount the init makes a host-root operation.

Only single-threaded callers may use ``new_userns`` (it forks); kobakod runs ``helper_argv``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kobako.errors import RuntimeFailure
from kobako.linux.syscalls import ns_owner

IdMap = tuple[int, int, int]  # (container id, host id, size), as in /proc/<pid>/uid_map


def parse_maps(entries: Sequence[Mapping[str, Any]] | None) -> tuple[IdMap, ...]:
    """OCI ``linux.uidMappings``/``gidMappings`` entries → id maps; raises RuntimeFailure if malformed."""
    out = []
    for e in entries or ():
        try:
            m = (int(e["containerID"]), int(e["hostID"]), int(e["size"]))
        except (KeyError, TypeError, ValueError):
            raise RuntimeFailure(f"invalid id mapping {e!r}", "InvalidArgument") from None
        if m[0] < 0 or m[1] < 0 or m[2] <= 0 or m[0] + m[2] > 1 << 32 or m[1] + m[2] > 1 << 32:
            raise RuntimeFailure(f"invalid id mapping {e!r}", "InvalidArgument")
        out.append(m)
    if len(out) > 340:
        raise RuntimeFailure("too many id mappings (the kernel takes at most 340)", "InvalidArgument")
    return tuple(out)


def format_map(maps: Sequence[IdMap]) -> str:
    """The text written to /proc/<pid>/uid_map or gid_map."""
    return "".join(f"{c} {h} {n}\n" for c, h, n in maps)


def to_host(cid: int, maps: Sequence[IdMap]) -> int | None:
    """The host id of container id ``cid``, or None when it is not mapped."""
    for c, h, n in maps:
        if c <= cid < c + n:
            return h + cid - c
    return None


def to_container(hid: int, maps: Sequence[IdMap]) -> int | None:
    """The container id of host id ``hid``, or None when it is not mapped."""
    for c, h, n in maps:
        if h <= hid < h + n:
            return c + hid - h
    return None


@dataclass
class UserNamespace:
    """The user namespace a container joins, as fds the init inherits."""

    fd: int
    uid_maps: tuple[IdMap, ...]
    gid_maps: tuple[IdMap, ...]
    net_fd: int | None = None  # a new network namespace owned by it (when the spec asked for one)

    @property
    def root_uid(self) -> int:
        return _mapped_root(self.uid_maps, "uid")

    @property
    def root_gid(self) -> int:
        return _mapped_root(self.gid_maps, "gid")

    def close(self) -> None:
        for fd in (self.fd, self.net_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _mapped_root(maps: Sequence[IdMap], what: str) -> int:
    host = to_host(0, maps)
    if host is None:
        raise RuntimeFailure(f"the user namespace does not map container {what} 0", "InvalidArgument")
    return host


def spec_userns(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((ns for ns in (spec.get("linux") or {}).get("namespaces", []) if ns.get("type") == "user"), None)


def _same_ns(fd: int, own: str) -> bool:
    a, b = os.fstat(fd), os.stat(own)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def prepare(spec: Mapping[str, Any]) -> UserNamespace | None:
    """The user namespace for ``spec`` (see the module docstring), or None when it asks for none."""
    ns = spec_userns(spec)
    if ns is None:
        return None
    linux = spec.get("linux") or {}
    uid_maps, gid_maps = parse_maps(linux.get("uidMappings")), parse_maps(linux.get("gidMappings"))
    if ns.get("path"):
        try:
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise RuntimeFailure(f"open user namespace {ns['path']}: {exc.strerror}") from None
        return UserNamespace(fd, uid_maps or _read_maps(ns["path"], "uid"), gid_maps or _read_maps(ns["path"], "gid"))
    if not uid_maps or not gid_maps:
        raise RuntimeFailure("a new user namespace needs linux.uidMappings and linux.gidMappings", "InvalidArgument")
    net = next((n for n in linux.get("namespaces", []) if n.get("type") == "network"), None)
    if net is not None and net.get("path"):
        net_fd = os.open(net["path"], os.O_RDONLY | os.O_CLOEXEC)
        try:
            owner = ns_owner(net_fd)
        except OSError as exc:
            raise RuntimeFailure(f"owner of network namespace {net['path']}: {exc.strerror}") from None
        finally:
            os.close(net_fd)
        os.set_inheritable(owner, False)
        if not _same_ns(owner, "/proc/self/ns/user"):
            return UserNamespace(owner, uid_maps, gid_maps)
        os.close(owner)
    fd, net_fd = new_userns(uid_maps, gid_maps, net=net is not None and not net.get("path"))
    return UserNamespace(fd, uid_maps, gid_maps, net_fd)


def _read_maps(path: str, kind: str) -> tuple[IdMap, ...]:
    """The maps of a user namespace given as /proc/<pid>/ns/user (another process's)."""
    d = os.path.dirname(os.path.dirname(path))
    try:
        with open(os.path.join(d, f"{kind}_map")) as f:
            return tuple(tuple(int(x) for x in line.split()) for line in f if line.strip())  # type: ignore[misc]
    except OSError:
        raise RuntimeFailure(f"user namespace {path}: no {kind} map given and none readable", "InvalidArgument") \
            from None


def new_userns(uid_maps: Sequence[IdMap], gid_maps: Sequence[IdMap], *, net: bool = False) -> tuple[int, int | None]:
    """A new user namespace with these maps (and a network namespace owned by it when ``net``): fds
    (``kobako.linux._userns``; it forks, so single-threaded callers only)."""
    from kobako.linux import _userns

    try:
        return _userns.new_userns(format_map(uid_maps), format_map(gid_maps), net)
    except OSError as exc:
        raise RuntimeFailure(f"creating the user namespace: {exc.strerror or exc}") from None


def helper_argv(path: str, uid_maps: Sequence[IdMap], gid_maps: Sequence[IdMap]) -> list[str]:
    """The command kobakod runs to make a network namespace at ``path`` owned by a new user namespace
    with these maps (``kobako.linux._userns.helper_argv``)."""
    from kobako.linux import _userns

    return _userns.helper_argv(path, uid_maps, gid_maps)


