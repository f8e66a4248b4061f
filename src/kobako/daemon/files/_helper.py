"""The short-lived process that touches a container's files: ``python -m kobako.daemon.files._helper REQUEST``.

kobakod never resolves a path of a container itself. It starts this helper, which first enters
the container's root and only then looks at paths, so the kernel resolves every path and every
symlink inside the container and nothing can reach the host:

* a running (or paused) container: ``chroot("/proc/<pid>/root")``, its live root with its mounts;
* a stopped or created one: ``unshare(CLONE_NEWNS)``, ``/`` made rprivate, the snapshot's mounts
  performed at the container's ``bundle/rootfs``, then ``chroot`` there. The mount namespace dies
  with the helper, so nothing is left mounted on the host, even if the helper is SIGKILLed;
* ``root``: a plain ``chroot`` (commit reads a snapshot's upper directory this way).

Protocol: the request is one JSON argument; the helper answers on stderr with one JSON line,
``{"ok": {...}}`` or ``{"error": {"kind", "message"}}``, before any tar goes to stdout (``get``,
``export``, ``diff``) or after the tar on stdin was extracted (``put``). A failure in the middle of
a stream is one more error line and exit status 1. Every module is imported before the chroot.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tarfile  # noqa: F401 - imported before the chroot
from typing import IO, Any, cast

from kobako.daemon.files import _tar
from kobako.errors import Conflict, KobakoError
from kobako.linux import CloneFlag, Prctl, prctl, setns, unshare
from kobako.linux.syscalls import LinuxSyscalls
from kobako.mount import Mount
from kobako.runtime import resolve_user
from kobako.runtime.rootfs import prepare_rootfs
from kobako.snapshots import diff_layer


def _say(obj: dict[str, Any]) -> None:
    os.write(2, json.dumps(obj).encode() + b"\n")


def _enter_pid(pid: int, cid: str) -> None:
    """chroot into the root of container init ``pid``, checking (after the root is pinned by an open
    fd) that the pid still belongs to container ``cid``, so a reused pid can never lead to the host."""
    fd = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    user_fd = None
    try:
        if os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user"):
            user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        with open(f"/proc/{pid}/cgroup") as f:
            if cid not in f.read():
                raise Conflict(f"Container {cid} is not running")
        os.fchdir(fd)
    finally:
        os.close(fd)
    os.chroot(".")
    os.chdir("/")
    if user_fd is not None:
        # --userns-remap: its rootfs is idmapped through its user namespace; read and write as its root
        # there, so archives carry the container's ids and files land with ids the mount can map.
        setns(user_fd, CloneFlag.CLONE_NEWUSER)
        os.close(user_fd)
        os.setgroups([])
        os.setgid(0)
        os.setuid(0)


def _enter(req: dict[str, Any]) -> None:
    if req.get("pid"):
        _enter_pid(int(req["pid"]), req["cid"])
        return
    if req.get("mounts"):
        unshare(CloneFlag.CLONE_NEWNS)
        mounts = [Mount.from_json(m) for m in req["mounts"]]
        root = req["target"]
        spec = {"root": {"path": root}, "linux": {}}
        prepare_rootfs(LinuxSyscalls(), spec, os.path.dirname(root), mounts)  # type: ignore[arg-type]
    else:
        root = req["root"]
    os.chroot(root)
    os.chdir("/")


def _uid_gid(user: str) -> tuple[int, int] | None:
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    u = resolve_user(user, read("/etc/passwd"), read("/etc/group"))
    return u.uid, u.gid


def run(req: dict[str, Any], stdin: IO[bytes], stdout: IO[bytes]) -> None:
    op = req["op"]
    _enter(req)
    if op == "stat":
        _say({"ok": {"stat": _tar.stat_path(req["path"])[2]}})
    elif op == "get":
        plan = _tar.plan_resource(req["path"])
        _say({"ok": {"stat": plan["stat"]}})
        _tar.write_resource(plan, stdout)
    elif op == "put":
        dest = _tar.extraction_dir(req["path"])
        chown = _uid_gid(req["user"]) if req.get("user") else None
        count = _tar.extract(stdin, dest, no_overwrite_dir_non_dir=bool(req.get("no_overwrite")), chown=chown)
        _say({"ok": {"count": count}})
    elif op == "export":
        _say({"ok": {}})
        _tar.export_root(stdout, "/", one_file_system=True)
    elif op == "diff":
        _say({"ok": {}})
        diff_layer("/", stdout)
    elif op == "treediff":
        _say({"ok": {}})
        _tar.tree_diff(req["new"], req.get("old"), stdout)
    else:
        raise KobakoError(f"unknown files operation {op!r}")


def main(argv: list[str]) -> int:
    prctl(Prctl.PR_SET_PDEATHSIG, int(signal.SIGKILL))
    req = json.loads(argv[1])
    stdout = os.fdopen(1, "wb", buffering=1 << 16)
    try:
        run(req, cast("IO[bytes]", sys.stdin.buffer), stdout)
        stdout.flush()
    except BrokenPipeError:
        return 1
    except KobakoError as exc:
        _say({"error": {"kind": type(exc).__name__, "message": str(exc)}})
        return 1
    except OSError as exc:
        _say({"error": {"kind": "OSError", "errno": exc.errno, "message": exc.strerror or str(exc)}})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
