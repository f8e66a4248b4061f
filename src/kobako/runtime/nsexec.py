"""``exec_process``: start one more process inside a running container (``docker exec``).

The caller is the container's shim: single-threaded, a subreaper, and the parent of the
container's init.  Protocol (a SEQPACKET socketpair *report*, child → parent, and a pipe *sync*)::

      parent (shim)                                   child
      ─────────────                                   ─────
      setns(init's pid ns) for children; fork ─────▶  (born in the container's pid namespace)
      setns back to its own pid ns
      cgroup.add(pid); sync "cgroup\\n" ───────────▶  setns ipc, uts, net, cgroup, then mnt (root and
                                                      cwd become the container's); setsid; user;
                                                      pty from the container's /dev/ptmx if terminal
      report ◀──────────────── "console" + SCM_RIGHTS (terminal only)
                                                      setuid, chdir, PATH lookup, stdio, execve
      report ◀──── EOF (report is CLOEXEC): exec'd    or {"kind","message"}, _exit(127|126|1)

The parent reaps the child (its own child: no double fork is needed, because setns(CLONE_NEWPID)
only changes where the caller's *children* are born).  Everything the child needs is imported
before the fork: after setns(mnt) the host's stdlib is out of reach.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from kobako.errors import RuntimeFailure
from kobako.linux.flags import CloneFlag
from kobako.linux.syscalls import LinuxSyscalls, set_fsids, setns
from kobako.runtime import _sync, security
from kobako.runtime.console import open_pty
from kobako.runtime.init import _environment, _getenv, _read, _set_rlimits, _setup_stdio
from kobako.runtime.lookup import NOT_FOUND, exec_failure, lookup_path
from kobako.runtime.user import ExecUser, parse_passwd, resolve_group_add, resolve_user

# Joined in this order; mnt last, since opening the others needs the host's /proc.
EXEC_NAMESPACES = (("ipc", CloneFlag.CLONE_NEWIPC), ("uts", CloneFlag.CLONE_NEWUTS),
                   ("net", CloneFlag.CLONE_NEWNET), ("cgroup", CloneFlag.CLONE_NEWCGROUP),
                   ("mnt", CloneFlag.CLONE_NEWNS), ("user", CloneFlag.CLONE_NEWUSER))  # user last, as the init


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """What to run: an OCI ``process`` reduced to what ``docker exec`` can set."""

    args: Sequence[str]
    env: Sequence[str] = ()
    cwd: str = "/"
    user: str = ""  # Docker's --user string, resolved against the container's /etc/passwd
    group_add: str = ""  # the container's HostConfig.GroupAdd (comma-joined), added as its init adds them
    terminal: bool = False
    console_size: tuple[int, int] = (0, 0)
    rlimits: Sequence[Mapping[str, Any]] = ()
    no_new_privileges: bool = False
    # The container's: an exec is confined like its init (runc exec does the same).
    capabilities: Mapping[str, Any] | None = None
    seccomp: Mapping[str, Any] | None = None  # OCI linux.seccomp
    privileged: bool = False  # `exec --privileged`: every capability the shim holds; seccomp stays

    def security(self) -> security.Security:
        spec = {"process": {"capabilities": self.capabilities, "noNewPrivileges": self.no_new_privileges},
                "linux": {"seccomp": self.seccomp}}
        return security.prepare(spec, privileged_caps=self.privileged)


@dataclass(frozen=True, slots=True)
class ExecProcess:
    pid: int
    master: int | None  # the pty master with a terminal; the caller owns (and closes) it


def exec_process(init_pid: int, spec: ExecSpec, *, stdio: tuple[int, int, int] | None = None,
                 cgroup: Any = None, complete: Callable[[ExecSpec], ExecSpec] | None = None) -> ExecProcess:
    """Fork ``spec`` into the namespaces and cgroup of ``init_pid``; returns once it exec'd.

    ``stdio`` is used without a terminal.  Raises RuntimeFailure (kind ExecNotFound or
    ExecNotExecutable for a command that cannot run) after reaping the child.
    ``complete``, if given, is called in the child (still on the host, in the cgroup) and returns the
    spec to run (same ``args`` and ``terminal``); its errors and those of its seccomp filter come back
    as a RuntimeFailure like any other.  The shim uses it to read the container's config there,
    so that neither the config nor the compiling of its filter touches the long-lived shim's memory.
    """
    if not spec.args:
        raise RuntimeFailure("args must not be empty", "InvalidArgument")
    # Without ``complete`` the seccomp filter is compiled here, so a bad one fails before the fork.
    sec = spec.security() if complete is None else None
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    own_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/proc/{init_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        for fd in (sync_r, sync_w, own_ns):
            os.close(fd)
        ours.close()
        theirs.close()
        raise RuntimeFailure(f"container process {init_pid} is gone: {exc.strerror}", "Conflict") from None
    try:
        setns(target, CloneFlag.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            ours.close()
            os.close(sync_w)
            _child(init_pid, spec, sec, stdio, sync_r, theirs.fileno(), complete)
        setns(own_ns, CloneFlag.CLONE_NEWPID)
    finally:
        os.close(target)
        os.close(own_ns)
        os.close(sync_r)
        theirs.close()
    master: int | None = None
    try:
        if cgroup is not None:
            try:
                cgroup.add(pid)
            except OSError as exc:
                raise RuntimeFailure(f"failed to join the container's cgroup: {exc}") from None
        _sync.write_all(sync_w, _sync.SYNC_CGROUP)
        while True:
            msg, fds, _flags, _addr = socket.recv_fds(ours, 65536, 1)
            if fds and msg == b"console":
                master = fds[0]
                continue
            for fd in fds:
                os.close(fd)
            if not msg:
                return ExecProcess(pid, master)  # EOF: the report socket closed on execve
            failure = _sync.decode(msg)
            raise RuntimeFailure(getattr(failure, "message", "exec failed"), getattr(failure, "kind", "Runtime"))
    except BaseException:
        if master is not None:
            os.close(master)
        _reap(pid)
        raise
    finally:
        os.close(sync_w)
        ours.close()


def _reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child(init_pid: int, spec: ExecSpec, sec: security.Security | None, stdio: tuple[int, int, int] | None,
           sync_fd: int, report_fd: int, complete: Callable[[ExecSpec], ExecSpec] | None = None) -> NoReturn:
    code = 1
    try:
        _exec(init_pid, spec, sec, stdio, sync_fd, report_fd, complete)
    except RuntimeFailure as exc:
        code = 127 if exc.kind == NOT_FOUND else 126 if exc.kind.startswith("Exec") else 1
        _report(report_fd, {"kind": exc.kind, "message": str(exc)})
    except BaseException as exc:  # noqa: BLE001 - never unwind into the shim's code
        msg = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
        _report(report_fd, {"kind": "Runtime", "message": f"exec: {msg or type(exc).__name__}"})
    finally:
        os._exit(code)


def _report(fd: int, obj: dict[str, str]) -> None:
    try:
        os.write(fd, json.dumps(obj).encode())
    except OSError:
        pass


def _exec(init_pid: int, spec: ExecSpec, sec: security.Security | None, stdio: tuple[int, int, int] | None,
          sync_fd: int, report_fd: int, complete: Callable[[ExecSpec], ExecSpec] | None = None) -> None:
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if _sync.read_line(sync_fd) + b"\n" != _sync.SYNC_CGROUP:
        os._exit(1)
    os.close(sync_fd)
    if complete is not None:
        spec = complete(spec)
    if sec is None:
        sec = spec.security()
    # Open every namespace first: after setns(mnt), /proc/<host pid> no longer resolves.
    fds = []
    for name, flag in EXEC_NAMESPACES:
        path = f"/proc/{init_pid}/ns/{name}"
        if os.path.exists(path) and os.readlink(path) != os.readlink(f"/proc/self/ns/{name}"):
            fds.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag))
    for fd, flag in fds:
        setns(fd, flag)
        os.close(fd)
        if flag == CloneFlag.CLONE_NEWUSER:
            set_fsids(0, 0)  # the namespace's root, so the pty below gets ids it maps (see the init)
    os.chdir("/")
    # A session of our own: the terminal (if any) becomes our controlling tty; signals to the
    # shim's process group never reach us.
    os.setsid()
    _set_rlimits(spec.rlimits)
    user = _user(spec.user)
    if spec.group_add:  # as moby's exec: the container's --group-add after the user's own groups
        added = resolve_group_add(spec.group_add, _read("/etc/group"))
        extra = tuple(g for g in added if g not in user.additional_gids)
        user = ExecUser(user.uid, user.gid, user.additional_gids + extra, user.home)
    env = _environment(spec.env, user)
    if spec.terminal:
        master, slave = open_pty(spec.console_size, owner=user.uid)
        socket.send_fds(socket.socket(fileno=os.dup(report_fd)), [b"console"], [master])
        os.close(master)
        stdio = (slave, slave, slave)
    elif stdio is None:
        null = os.open("/dev/null", os.O_RDWR)
        stdio = (null, null, null)
    # The init's order (runtime.security): bounding set, user, capset, no_new_privs, seccomp.
    sys = LinuxSyscalls()
    security.switch_user(sys, sec, user.uid, user.gid, list(user.additional_gids))
    cwd = spec.cwd or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f"chdir to cwd ({cwd!r}) set in config.json failed: "
                             f"{(exc.strerror or '').lower()}") from None
    path = lookup_path(spec.args[0], _getenv(env, "PATH") or "")
    # _setup_stdio keeps two fds above 2 (the init's protocol pipes); ours is report, twice.
    _unused, report_fd = _setup_stdio(stdio, report_fd, report_fd, spec.terminal)
    security.before_exec(sys, sec)
    try:
        os.execve(path, list(spec.args), dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as exc:
        raise exec_failure(spec.args[0], exc) from None


def _user(name: str) -> ExecUser:
    if not name:
        return ExecUser(0, 0, (), _home(0))
    return resolve_user(name, _read("/etc/passwd"), _read("/etc/group"))


def _home(uid: int) -> str:
    return next((p.home for p in parse_passwd(_read("/etc/passwd")) if p.uid == uid), "/") or "/"
