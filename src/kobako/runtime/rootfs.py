"""The container's root filesystem, built by the init inside its new mount namespace.

Lifecycle (called in this order by ``kobako.runtime.init``)::

    rootfs = prepare_rootfs(sys, spec, bundle, rootfs_mounts)  # mounts under the host path of the rootfs
    pivot(sys, rootfs)                                        # the rootfs becomes "/", the host's is detached
    finish_rootfs(sys, spec)                                  # masked/readonly paths, read-only "/"

Every mount happens in the container's private mount namespace, so nothing is left on the host
when the container's last process exits. All kernel calls go through ``Syscalls`` so unit tests
record their order; plain file operations (mkdir, symlink) happen for real.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kobako.linux.flags import MountFlag as MS
from kobako.linux.flags import UmountFlag
from kobako.linux.syscalls import Syscalls
from kobako.mount import Mount
from kobako.runtime.copyup import copy_up
from kobako.runtime.devices import create_spec_devices
from kobako.runtime.userns import IdMap, UserNamespace, to_host

COPY_UP_ANNOTATION = "org.kobako.volumes.copy-up"  # JSON list of mount destinations to copy up

# option -> (clear?, flag), as mount(8) understands them
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS.MS_RDONLY), "rw": (True, MS.MS_RDONLY),
    "nosuid": (False, MS.MS_NOSUID), "suid": (True, MS.MS_NOSUID),
    "nodev": (False, MS.MS_NODEV), "dev": (True, MS.MS_NODEV),
    "noexec": (False, MS.MS_NOEXEC), "exec": (True, MS.MS_NOEXEC),
    "sync": (False, MS.MS_SYNCHRONOUS), "async": (True, MS.MS_SYNCHRONOUS),
    "dirsync": (False, MS.MS_DIRSYNC), "remount": (False, MS.MS_REMOUNT),
    "noatime": (False, MS.MS_NOATIME), "atime": (True, MS.MS_NOATIME),
    "nodiratime": (False, MS.MS_NODIRATIME), "diratime": (True, MS.MS_NODIRATIME),
    "relatime": (False, MS.MS_RELATIME), "norelatime": (True, MS.MS_RELATIME),
    "strictatime": (False, MS.MS_STRICTATIME), "nostrictatime": (True, MS.MS_STRICTATIME),
    "bind": (False, MS.MS_BIND), "rbind": (False, MS.MS_BIND | MS.MS_REC),
    "defaults": (False, 0),
}
_PROPAGATION = {
    "private": MS.MS_PRIVATE, "rprivate": MS.MS_PRIVATE | MS.MS_REC,
    "shared": MS.MS_SHARED, "rshared": MS.MS_SHARED | MS.MS_REC,
    "slave": MS.MS_SLAVE, "rslave": MS.MS_SLAVE | MS.MS_REC,
    "unbindable": MS.MS_UNBINDABLE, "runbindable": MS.MS_UNBINDABLE | MS.MS_REC,
}
# name, major, minor: the devices every container gets (runc ``specconv.AllowedDevices``)
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
                   ("tty", 5, 0))
DEV_SYMLINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"), ("/proc/kcore", "core"))


def parse_options(options: Sequence[str]) -> tuple[int, int, str]:
    """mount(8) options → (flags, propagation flags, data string)."""
    flags = prop = 0
    data = []
    for opt in options:
        if opt in _FLAGS:
            clear, f = _FLAGS[opt]
            flags = flags & ~f if clear else flags | f
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def secure_join(root: str, unsafe: str) -> str:
    """``root``/``unsafe`` with symlinks resolved as if ``root`` were "/", never escaping it."""
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            links += 1
            if links > 255:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), unsafe)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _mount_at(sys: Syscalls, m: Mount | Mapping[str, Any], target: str) -> None:
    """Perform one mount (a rootfs ``Mount`` or an OCI spec mount) at ``target``."""
    if isinstance(m, Mount):
        type_, source, options = m.type, m.source, m.options
    else:
        type_, source, options = m.get("type") or "bind", m.get("source") or "none", m.get("options") or ()
    flags, prop, data = parse_options(options)
    if type_ == "bind":
        flags |= MS.MS_BIND
    if flags & MS.MS_BIND:
        _make_target(target, source)
        sys.mount(source, target, None, flags & (MS.MS_BIND | MS.MS_REC), None)
        extra = flags & ~(MS.MS_BIND | MS.MS_REC | MS.MS_REMOUNT)
        if extra:  # a bind mount ignores flags except on a remount of itself
            sys.mount(None, target, None, MS.MS_BIND | MS.MS_REMOUNT | extra, None)
    else:
        os.makedirs(target, exist_ok=True)
        sys.mount(source, target, type_, flags, data or None)
    if prop:
        sys.mount(None, target, None, prop, None)


def _make_target(target: str, source: str) -> None:
    """A bind mount needs a target of the source's kind: a directory, or an empty file."""
    if os.path.lexists(target):
        return
    if os.path.isdir(source):
        os.makedirs(target)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "a"):
        pass


def rootfs_path(spec: Mapping[str, Any], bundle: Path) -> str:
    return os.path.normpath(os.path.join(bundle, spec.get("root", {}).get("path", "rootfs")))


def prepare_rootfs(sys: Syscalls, spec: Mapping[str, Any], bundle: Path,
                   rootfs_mounts: Sequence[Mount] = (), userns: UserNamespace | None = None) -> str:
    """Mount the rootfs and the spec's mounts under it; returns the rootfs' host path.

    With ``userns``, the rootfs is idmapped through it (``idmapped_rootfs``) and the caller runs this
    with its fsuid/fsgid set to the remapped root (``runtime.userns``)."""
    rootfs = rootfs_path(spec, bundle)
    linux = spec.get("linux", {})
    # 1. Nothing we mount may propagate back to the host's namespace.
    sys.mount(None, "/", None, _PROPAGATION.get(linux.get("rootfsPropagation", ""), MS.MS_REC | MS.MS_PRIVATE))
    # 2. The rootfs must be a mount point for pivot_root: the snapshot's mounts, or a bind of itself.
    if userns is not None:
        idmapped_rootfs(sys, rootfs, rootfs_mounts, userns)
    elif rootfs_mounts:
        for m in rootfs_mounts:
            _mount_at(sys, m, rootfs)
    else:
        sys.mount(rootfs, rootfs, None, MS.MS_BIND | MS.MS_REC, None)
    # 3. Spec mounts in order (a later mount may sit inside an earlier one, as /dev/pts in /dev).
    dev_is_tmpfs = False
    copy = set(json.loads(spec.get("annotations", {}).get(COPY_UP_ANNOTATION) or "[]"))
    for m in spec.get("mounts", []):
        if m.get("type") == "cgroup":
            continue  # not mounted yet: on v1 it takes one mount per hierarchy
        target = secure_join(rootfs, m["destination"])
        if m["destination"] in copy and m.get("source"):
            copy_up(target, m["source"])  # the image's content into an empty volume, before it hides it
        if userns is not None:
            m = remap_mount_options(m, userns.uid_maps, userns.gid_maps)
        _mount_at(sys, m, target)
        if os.path.normpath(m["destination"]) == "/dev" and m.get("type") != "bind":
            dev_is_tmpfs = True
    # 4. A fresh /dev gets the default devices and the usual links; a bind-mounted one has its own.
    if dev_is_tmpfs:
        create_devices(sys, os.path.join(rootfs, "dev"))
    if linux.get("devices"):  # --device, --privileged: nodes the spec adds (kobako.runtime.devices)
        create_spec_devices(sys, rootfs, linux["devices"], secure_join)
    # 5. The working directory must exist (runc creates it, as root, before dropping privileges).
    cwd = spec.get("process", {}).get("cwd") or "/"
    os.makedirs(secure_join(rootfs, cwd), mode=0o755, exist_ok=True)
    return rootfs


def idmapped_rootfs(sys: Syscalls, rootfs: str, rootfs_mounts: Sequence[Mount], userns: UserNamespace) -> None:
    """The rootfs with every layer idmapped through ``userns``: files owned by host id 0 appear owned
    by the remapped root, and what the container writes lands on disk with its unshifted ids.

    Idmapped mounts are made detached (open_tree(OPEN_TREE_CLONE) + mount_setattr) and attached in
    this mount namespace; an overlay's layers are attached on a private tmpfs over the rootfs
    directory, and the overlay is mounted over that tmpfs (overlayfs takes idmapped layers since 5.19;
    its copy-up runs with the mounter's credentials, hence the caller's remapped fsuid).
    """
    if not rootfs_mounts:
        _attach_idmapped(rootfs, rootfs, userns.fd)
        return
    staged = False
    for m in rootfs_mounts:
        if m.type == "overlay":
            if not staged:
                sys.mount("tmpfs", rootfs, "tmpfs", MS.MS_NOSUID | MS.MS_NODEV, "mode=700")
                staged = True
            _mount_at(sys, _idmapped_overlay(m, rootfs, userns.fd), rootfs)
        elif m.type == "bind" or "bind" in m.options or "rbind" in m.options:
            _attach_idmapped(m.source, rootfs, userns.fd)
            flags, _prop, _data = parse_options(m.options)
            extra = flags & ~(MS.MS_BIND | MS.MS_REC | MS.MS_REMOUNT)
            if extra:
                sys.mount(None, rootfs, None, MS.MS_BIND | MS.MS_REMOUNT | extra, None)
        else:
            raise OSError(errno.EINVAL, f"cannot idmap a {m.type} rootfs mount", rootfs)


def _attach_idmapped(source: str, target: str, userns_fd: int) -> None:
    from kobako.linux.syscalls import mount_setattr_idmap, move_mount, open_tree_clone

    if not os.path.lexists(target):
        os.mkdir(target, 0o700)
    fd = open_tree_clone(source, recursive=False)
    try:
        mount_setattr_idmap(fd, userns_fd, recursive=False)
        move_mount(fd, target)
    finally:
        os.close(fd)


def _idmapped_overlay(m: Mount, stage: str, userns_fd: int) -> Mount:
    """``m`` (an overlay) with each layer replaced by an idmapped copy attached under ``stage``."""
    opts: list[str] = []
    dirs: dict[str, str] = {}
    n = 0
    for o in m.options:
        key, sep, val = o.partition("=")
        if key == "lowerdir" and sep:
            layers = []
            for d in val.split(":"):
                t = os.path.join(stage, f"l{n}")
                n += 1
                _attach_idmapped(d, t, userns_fd)
                layers.append(t)
            opts.append("lowerdir=" + ":".join(layers))
        elif key in ("upperdir", "workdir") and sep:
            dirs[key] = val
        else:
            opts.append(o)
    if dirs:
        parent = {os.path.dirname(os.path.normpath(d)) for d in dirs.values()}
        if len(parent) != 1 or len(dirs) != 2:
            raise OSError(errno.EINVAL, "overlay upperdir and workdir must share a parent directory", stage)
        up = os.path.join(stage, "u")
        _attach_idmapped(parent.pop(), up, userns_fd)
        opts += [f"{k}={os.path.join(up, os.path.basename(os.path.normpath(d)))}" for k, d in dirs.items()]
    return Mount(m.type, m.source, tuple(opts))


def remap_mount_options(m: Mapping[str, Any], uid_maps: Sequence[IdMap],
                        gid_maps: Sequence[IdMap]) -> Mapping[str, Any]:
    """A spec mount's ``uid=``/``gid=`` options (tmpfs, devpts: ids inside the container) as host ids,
    since the init mounts them from the host's user namespace (devpts' gid=5 is the container's tty)."""
    opts = list(m.get("options") or ())
    changed = False
    for i, o in enumerate(opts):
        key, sep, val = o.partition("=")
        if sep and key in ("uid", "gid") and val.isdigit():
            host = to_host(int(val), uid_maps if key == "uid" else gid_maps)
            if host is None:
                raise OSError(errno.EINVAL, f"mount option {o} names an id the user namespace does not map",
                              m.get("destination"))
            opts[i] = f"{key}={host}"
            changed = True
    return {**m, "options": opts} if changed else m


def create_devices(sys: Syscalls, dev: str) -> None:
    old = os.umask(0)
    try:
        for name, major, minor in DEFAULT_DEVICES:
            sys.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
    finally:
        os.umask(old)
    for target, name in DEV_SYMLINKS:
        link = os.path.join(dev, name)
        if target == "/proc/kcore" and not os.path.exists(target):
            continue  # like runc: /dev/core only where the kernel has /proc/kcore (CONFIG_PROC_KCORE)
        if not os.path.lexists(link):
            os.symlink(target, link)


def pivot(sys: Syscalls, rootfs: str) -> None:
    """pivot_root the runc way: stack the old root under the new one at ".", then detach it."""
    sys.chdir(rootfs)
    sys.pivot_root(".", ".")
    # The old root is now mounted on top of "."; make it a slave so the unmount cannot
    # propagate to the host, then lazily detach it.
    sys.mount(None, ".", None, MS.MS_SLAVE | MS.MS_REC, None)
    sys.umount2(".", UmountFlag.MNT_DETACH)
    sys.chdir("/")


def _statflags(path: str) -> int:
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    return f & (MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC)  # ST_* and MS_* share these values


def finish_rootfs(sys: Syscalls, spec: Mapping[str, Any], root: str = "/") -> None:
    """After pivot_root: mask and protect /proc and /sys paths, make "/" read-only if asked."""
    linux = spec.get("linux", {})
    for p in linux.get("readonlyPaths", []):
        path = os.path.join(root, p.lstrip("/"))
        if not os.path.exists(path):
            continue
        sys.mount(path, path, None, MS.MS_BIND | MS.MS_REC, None)
        sys.mount(path, path, None, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY | _statflags(path), None)
    for p in linux.get("maskedPaths", []):
        path = os.path.join(root, p.lstrip("/"))
        if os.path.isdir(path) and not os.path.islink(path):
            sys.mount("tmpfs", path, "tmpfs", MS.MS_RDONLY, None)
        elif os.path.exists(path):
            sys.mount("/dev/null", path, None, MS.MS_BIND, None)
    if spec.get("root", {}).get("readonly"):
        sys.mount(None, root, None, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY | _statflags(root), None)
