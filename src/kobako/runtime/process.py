"""``create`` and ``InitProcess``: the parent side of starting a container.

Lifecycle, as the shim drives it (the caller is single-threaded, is a subreaper, and reaps)::

    init = create(spec, bundle=..., rootfs_mounts=..., stdio=(0, out, err))  # set up, waiting
    init.start()           # execve the user's process; RuntimeFailure if exec failed
    os.waitpid(init.pid)   # the caller reaps
    init.cgroup.destroy()  # the caller removes the cgroup when the container is gone

``create`` reaps the child and removes the cgroup itself when it raises. ``close()`` on an
unstarted InitProcess makes the init exit without running anything (it sees EOF).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kobako.errors import RuntimeFailure
from kobako.linux import _libc
from kobako.linux.flags import CloneFlag
from kobako.linux.syscalls import LinuxSyscalls, Syscalls, clone, setns
from kobako.mount import Mount
from kobako.runtime import _sync
from kobako.runtime import userns as _userns
from kobako.runtime.cgroups import CgroupManager, cgroup_manager
from kobako.runtime.init import NS_FLAGS, init_main


class InitProcess:
    """A container init that finished its setup and waits for ``start()``."""

    def __init__(self, pid: int, cgroup: CgroupManager | None, sync_fd: int, report_fd: int) -> None:
        self.pid = pid
        self.cgroup = cgroup
        self._sync_fd: int | None = sync_fd
        self._report_fd: int | None = report_fd

    def start(self) -> None:
        """Release the init to execve. Raises RuntimeFailure if exec failed (the init exits 126/127)."""
        if self._sync_fd is None or self._report_fd is None:
            raise RuntimeFailure("container init already started or closed", "Conflict")
        try:
            _sync.write_all(self._sync_fd, _sync.SYNC_START)
            line = _sync.read_line(self._report_fd)
        except BrokenPipeError:
            raise RuntimeFailure("container init exited before start") from None
        finally:
            self.close()
        if line:
            msg = _sync.decode(line)
            if isinstance(msg, _sync.Failure):
                raise RuntimeFailure(msg.message, msg.kind)

    @property
    def fds(self) -> tuple[int, int]:
        """The (sync, report) pipe ends, for a creator that hands the init over to another process
        (the shim's set-up child sends them with SCM_RIGHTS; the receiver builds its own InitProcess)."""
        if self._sync_fd is None or self._report_fd is None:
            raise RuntimeFailure("container init already started or closed", "Conflict")
        return self._sync_fd, self._report_fd

    def close(self) -> None:
        for fd in (self._sync_fd, self._report_fd):
            if fd is not None:
                os.close(fd)
        self._sync_fd = self._report_fd = None

    def __repr__(self) -> str:
        return f"InitProcess(pid={self.pid})"


def clone_flags(spec: Mapping[str, Any]) -> int:
    flags = 0
    for ns in spec.get("linux", {}).get("namespaces", []):
        if ns.get("type") not in NS_FLAGS:
            raise RuntimeFailure(f"unknown namespace type {ns.get('type')!r}", "InvalidArgument")
        if ns["type"] == "user":
            continue  # joined by the init at the end (kobako.runtime.userns), never cloned
        if not ns.get("path") and ns["type"] != "cgroup":  # cgroup: unshared by the init, after placement
            flags |= NS_FLAGS[ns["type"]]
    return flags


def create(spec: Mapping[str, Any], *, bundle: Path, rootfs_mounts: Sequence[Mount] = (),
           stdio: tuple[int, int, int], cgroup_root: Path = Path("/sys/fs/cgroup"),
           syscalls: Syscalls | None = None, console_socket: int | None = None) -> InitProcess:
    """Clone the container init, place it in its cgroup, and wait until it is ready to exec.

    With ``process.terminal`` and a ``console_socket`` (a unix socket fd, like runc's
    ``--console-socket``), the init makes a pty in the container's devpts, uses it as stdio
    (``stdio`` is then ignored) and sends the master on that socket before it reports ready.
    """
    if not spec.get("process", {}).get("args"):
        raise RuntimeFailure("process.args must not be empty", "InvalidArgument")
    flags = clone_flags(spec)
    sys = syscalls or LinuxSyscalls()
    _libc.libc()  # load before clone so the child does no dlopen
    userns = _userns.prepare(spec)
    if userns is not None and userns.net_fd is not None:
        flags &= ~CloneFlag.CLONE_NEWNET  # the init joins the one made with (and owned by) the user namespace
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = _clone_into(spec, flags)
    except OSError as exc:
        for fd in (sync_r, sync_w, report_r, report_w):
            os.close(fd)
        if userns is not None:
            userns.close()
        raise RuntimeFailure(f"clone: {exc.strerror}") from None
    if pid == 0:
        os.close(sync_w)
        os.close(report_r)
        init_main(sys, spec, Path(bundle), rootfs_mounts, stdio, sync_r, report_w, console_socket, userns)
    if userns is not None:
        userns.close()
    os.close(sync_r)
    os.close(report_w)
    init = InitProcess(pid, None, sync_w, report_r)
    try:
        path = spec.get("linux", {}).get("cgroupsPath")
        if path:
            init.cgroup = cgroup_manager(path, cgroup_root)
            try:
                init.cgroup.create(spec.get("linux", {}).get("resources") or {})
                init.cgroup.add(pid)
            except OSError as exc:
                raise RuntimeFailure(f"failed to apply cgroup configuration: {exc}") from None
        _sync.write_all(sync_w, _sync.SYNC_CGROUP)
        line = _sync.read_line(report_r)
        msg = _sync.decode(line) if line else None
        if isinstance(msg, _sync.Ready):
            return init
        if msg is None:
            raise RuntimeFailure("container init exited without reporting")
        raise RuntimeFailure(msg.message, msg.kind)
    except BaseException:
        _abort(init)
        raise


def _clone_into(spec: Mapping[str, Any], flags: int) -> int:
    """clone(); a pid namespace given by path is entered around it (it only affects children)."""
    pid_path = next((ns["path"] for ns in spec.get("linux", {}).get("namespaces", [])
                     if ns.get("type") == "pid" and ns.get("path")), None)
    if pid_path is None:
        return clone(flags)
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(pid_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target, CloneFlag.CLONE_NEWPID)
        pid = clone(flags)
        if pid:
            setns(own, CloneFlag.CLONE_NEWPID)
        return pid
    finally:
        os.close(own)
        os.close(target)


def _abort(init: InitProcess) -> None:
    """Kill and reap a half-created init and remove its cgroup."""
    init.close()
    try:
        os.kill(init.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(init.pid, 0)
    except ChildProcessError:
        pass
    if init.cgroup is not None:
        try:
            init.cgroup.destroy()
        except OSError:
            pass
