"""The container init: what the cloned child does between clone() and execve().

It runs in a raw-cloned copy of the (single-threaded) caller, already inside its new
pid/mount/uts/ipc/net namespaces. ``init_main`` never returns: it ends in ``os.execve`` or
``os._exit``, and it never lets an exception escape into the caller's code. Each step says
why it sits where it does (runc ``standard_init_linux.go`` style). Protocol: ``_sync``.
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kobako.errors import RuntimeFailure
from kobako.linux.flags import CloneFlag
from kobako.linux.syscalls import Syscalls, set_fsids, setns
from kobako.mount import Mount
from kobako.runtime import _sync, rootfs, security, sysctl
from kobako.runtime.userns import UserNamespace
from kobako.runtime.console import open_pty, send_console
from kobako.runtime.lookup import NOT_FOUND, exec_failure, lookup_path
from kobako.runtime.spec import DEFAULT_PATH, USER_ANNOTATION
from kobako.runtime.user import GROUP_ADD_ANNOTATION, ExecUser, parse_passwd, resolve_group_add, resolve_user

# Everything the init needs is imported above: after pivot_root the host's stdlib is out of reach.

NS_FLAGS = {"pid": CloneFlag.CLONE_NEWPID, "mount": CloneFlag.CLONE_NEWNS, "uts": CloneFlag.CLONE_NEWUTS,
            "ipc": CloneFlag.CLONE_NEWIPC, "network": CloneFlag.CLONE_NEWNET,
            "cgroup": CloneFlag.CLONE_NEWCGROUP, "user": CloneFlag.CLONE_NEWUSER}


def init_main(sys: Syscalls, spec: Mapping[str, Any], bundle: Path, rootfs_mounts: Sequence[Mount],
              stdio: tuple[int, int, int], sync_fd: int, report_fd: int, console_fd: int | None = None,
              userns: UserNamespace | None = None) -> NoReturn:
    code = 1
    try:
        _init(sys, spec, bundle, rootfs_mounts, stdio, sync_fd, report_fd, console_fd, userns)
    except RuntimeFailure as exc:
        code = 127 if exc.kind == NOT_FOUND else 126 if exc.kind.startswith("Exec") else 1
        _report(report_fd, _sync.Failure(exc.kind, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - the child must never unwind into the caller
        msg = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
        _report(report_fd, _sync.Failure("Runtime", f"container init: {msg or type(exc).__name__}"))
    finally:
        os._exit(code)


def _report(fd: int, msg: _sync.Report) -> None:
    try:
        _sync.write_all(fd, _sync.encode(msg))
    except OSError:
        pass


def _init(sys: Syscalls, spec: Mapping[str, Any], bundle: Path, rootfs_mounts: Sequence[Mount],
          stdio: tuple[int, int, int], sync_fd: int, report_fd: int, console_fd: int | None,
          userns: UserNamespace | None = None) -> None:
    proc = spec.get("process", {})
    linux = spec.get("linux", {})
    namespaces = linux.get("namespaces", [])
    # Default signal dispositions and an empty mask first: the caller's Python handlers must never
    # run in this copy of it, and the container's process must not inherit SIG_IGN for SIGPIPE.
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # Compile the seccomp filter first: a bad profile fails before anything is mounted.
    sec = security.prepare(spec)
    # Join namespaces given by path before anything looks at the mount table or the network.
    # (A pid namespace by path was entered by the parent, as setns(pid) only affects children.)
    for ns in namespaces:
        if ns.get("path") and ns["type"] not in ("pid", "user"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(fd, NS_FLAGS[ns["type"]])
            finally:
                os.close(fd)
    if userns is not None and userns.net_fd is not None:
        setns(userns.net_fd, CloneFlag.CLONE_NEWNET)  # made with the user namespace, so owned by it
    # Wait until the parent has put us in our cgroup: everything after this is accounted and limited.
    if _sync.read_line(sync_fd) + b"\n" != _sync.SYNC_CGROUP:
        os._exit(1)
    # Unshare the cgroup namespace only now, so the container sees its own cgroup as its root.
    if any(ns["type"] == "cgroup" and not ns.get("path") for ns in namespaces):
        sys.unshare(CloneFlag.CLONE_NEWCGROUP)
    # A session of our own; the container's terminal (if any) becomes its controlling tty below.
    os.setsid()
    # Namespaced sysctls: /proc/sys answers for the writer's own ipc/net/uts namespaces, so the host's
    # /proc still mounted here reaches the container's; written as full root, before any fsid change.
    if linux.get("sysctl"):
        sysctl.apply(linux["sysctl"], namespaces)
    # With a user namespace, writes into the (idmapped) rootfs run as the remapped root: an idmapped
    # mount refuses ids it cannot map. Leaving fsuid 0 drops the file capabilities; take them back.
    if userns is not None:
        set_fsids(userns.root_uid, userns.root_gid)
        eff, perm, inh = sys.capget()
        sys.capset(perm, perm, inh)
    # Mounts happen before pivot_root, while host paths (bind sources) are still reachable.
    new_root = rootfs.prepare_rootfs(sys, spec, bundle, rootfs_mounts, userns)
    rootfs.pivot(sys, new_root)
    # Masking needs the container's /proc and /sys, so it follows pivot_root.
    rootfs.finish_rootfs(sys, spec)
    if userns is not None:
        set_fsids(0, 0)
    if spec.get("hostname") and any(ns["type"] == "uts" for ns in namespaces):
        sys.sethostname(spec["hostname"])
    # Limits and OOM score need privileges we drop with the user switch.
    _set_rlimits(proc.get("rlimits", []))
    if proc.get("oomScoreAdj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc["oomScoreAdj"]))
    # Into the user namespace last: everything above needed host privileges; the user, capabilities
    # and the console below are the container's, inside it (kobako.runtime.userns).
    if userns is not None:
        setns(userns.fd, CloneFlag.CLONE_NEWUSER)
        set_fsids(0, 0)  # now the namespace's root: files made below (the pty) get ids it maps
    # The user is resolved against the container's own /etc/passwd, hence after pivot_root.
    user = _exec_user(spec)
    env = _environment(proc.get("env", []), user)
    os.umask(int(proc.get("user", {}).get("umask", 0o022)))
    terminal = bool(proc.get("terminal"))
    if terminal and console_fd is not None:
        # The console lives in the container's own devpts (mounted above, newinstance), made while
        # we are still root so the slave can be given to the user; the master goes to the shim.
        stdio = console_stdio(proc, user.uid, console_fd)
    # User, capabilities, no_new_privs (and seccomp without it): see runtime.security for the order.
    security.switch_user(sys, sec, user.uid, user.gid, list(user.additional_gids))
    # chdir and the PATH lookup run as the user, so permission errors are the user's (like runc).
    cwd = proc.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f"chdir to cwd ({cwd!r}) set in config.json failed: {exc.strerror.lower()}") from None
    args = list(proc.get("args") or [])
    if not args:
        raise RuntimeFailure("args must not be empty", "InvalidArgument")
    path = lookup_path(args[0], _getenv(env, "PATH") or "")
    # stdio last: until here an error went to the report pipe, never to the container's streams.
    sync_fd, report_fd = _setup_stdio(stdio, sync_fd, report_fd, terminal)
    _sync.write_all(report_fd, _sync.encode(_sync.Ready()))
    if _sync.read_line(sync_fd) + b"\n" != _sync.SYNC_START:
        os._exit(1)  # the parent went away or aborted: run nothing
    # With no_new_privs, seccomp comes last: only execve itself runs under the container's filter.
    security.before_exec(sys, sec)
    try:
        os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as exc:
        raise exec_failure(args[0], exc) from None


def console_stdio(proc: Mapping[str, Any], uid: int, console_fd: int) -> tuple[int, int, int]:
    """A pty sized to ``process.consoleSize``; its master is sent on ``console_fd``, the slave is stdio."""
    size = proc.get("consoleSize") or {}
    master, slave = open_pty((int(size.get("height", 0)), int(size.get("width", 0))), owner=uid)
    send_console(console_fd, master)
    return slave, slave, slave


def _exec_user(spec: Mapping[str, Any]) -> ExecUser:
    u = spec.get("process", {}).get("user", {})
    name = spec.get("annotations", {}).get(USER_ANNOTATION)
    if not name:
        user = ExecUser(int(u.get("uid", 0)), int(u.get("gid", 0)),
                        tuple(int(g) for g in u.get("additionalGids", [])), _home_of(int(u.get("uid", 0))))
    else:
        user = resolve_user(name, _read("/etc/passwd"), _read("/etc/group"))
    added = spec.get("annotations", {}).get(GROUP_ADD_ANNOTATION)
    if added:  # --group-add: after the user's own groups
        extra = tuple(g for g in resolve_group_add(added, _read("/etc/group")) if g not in user.additional_gids)
        user = ExecUser(user.uid, user.gid, user.additional_gids + extra, user.home)
    return user


def _home_of(uid: int) -> str:
    return next((p.home for p in parse_passwd(_read("/etc/passwd")) if p.uid == uid), "/") or "/"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _getenv(env: Sequence[str], key: str) -> str | None:
    for e in reversed(env):
        k, _, v = e.partition("=")
        if k == key:
            return v
    return None


def _environment(env: Sequence[str], user: ExecUser) -> list[str]:
    out = list(env)
    if _getenv(out, "PATH") is None:
        out.append(f"PATH={DEFAULT_PATH}")
    if _getenv(out, "HOME") is None:
        out.append(f"HOME={user.home}")
    return out


def _set_rlimits(rlimits: Sequence[Mapping[str, Any]]) -> None:
    for r in rlimits:
        res = getattr(resource, r["type"], None)
        if res is None:
            raise RuntimeFailure(f"unknown rlimit {r['type']}", "InvalidArgument")
        soft, hard = int(r["soft"]), int(r["hard"])
        try:
            resource.setrlimit(res, (soft, hard))
        except (OSError, ValueError) as exc:
            cur = resource.getrlimit(res)[1]
            inf = resource.RLIM_INFINITY
            raising = cur != inf and (hard == inf or hard > cur)
            why = (f"raising the hard limit above {cur} needs CAP_SYS_RESOURCE, which this host does not grant"
                   if raising else (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else str(exc))
            raise RuntimeFailure(f"error setting rlimit type {r['type']} ({soft}:{hard}): {why}") from None


def _setup_stdio(stdio: tuple[int, int, int], sync_fd: int, report_fd: int, terminal: bool) -> tuple[int, int]:
    """dup stdio onto 0/1/2 and close every other fd but the two protocol pipes (moved above 2)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (*stdio, sync_fd, report_fd)]
    for target, fd in enumerate(high[:3]):
        os.dup2(fd, target, inheritable=True)
    keep = sorted(high[3:])
    os.closerange(3, keep[0])
    os.closerange(keep[0] + 1, keep[1])
    os.closerange(keep[1] + 1, 1 << 20)
    if terminal:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    return high[3], high[4]
