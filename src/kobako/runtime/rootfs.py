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
                   rootfs_mounts: Sequence[Mount] = ()) -> str:
    """Mount the rootfs and the spec's mounts under it; returns the rootfs' host path."""
    rootfs = rootfs_path(spec, bundle)
    linux = spec.get("linux", {})
    # 1. Nothing we mount may propagate back to the host's namespace.
    sys.mount(None, "/", None, _PROPAGATION.get(linux.get("rootfsPropagation", ""), MS.MS_REC | MS.MS_PRIVATE))
    # 2. The rootfs must be a mount point for pivot_root: the snapshot's mounts, or a bind of itself.
    if rootfs_mounts:
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
