"""The spawner: a small single-threaded process that forks shims for kobakod.

kobakod is an asyncio process with threads; forking it is unsafe and slow.  It starts this
process once (``python -m kobako.shim.spawner FD``) with one end of a SOCK_SEQPACKET socketpair.
Each message is a ShimConfig as JSON with one fd attached: the write end of the "ready" pipe on
which the shim will report ``{"pid": N}`` or an error.  The spawner forks once and the child, in a
session of its own, becomes the shim; the spawner ignores SIGCHLD (the kernel reaps shims that end)
and when it exits, with kobakod, init adopts the shims, which go on.  Every module a shim or its
children run is imported here, and the shim's code rehearsed, before any fork: a shim starts with no
import cost, and writes (so copies) as few of the pages it shares with the spawner as it can.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

# Pre-import everything a shim and its children run (kobako.runtime loads its names lazily), so no
# forked shim pays for, or dirties pages with, an import.
import kobako.runtime.cgroups  # noqa: F401
import kobako.runtime.console  # noqa: F401
import kobako.runtime.nsexec  # noqa: F401
import kobako.runtime.process  # noqa: F401
from kobako.shim import _shim
from kobako.shim._protocol import ShimConfig


def _warm_seccomp() -> None:
    """Compile the default seccomp filter once, here, so every forked shim inherits it compiled.
    libseccomp does it in a throw-away child: only the bytes come back, pyseccomp stays out of the
    spawner (its objects would cost every shim ≈ 0.4 MiB of private memory)."""
    try:
        from kobako.runtime.caps import DEFAULT_CAPS, mask, names
        from kobako.runtime.seccomp import default_profile, precompile, resolve_profile

        precompile(resolve_profile(default_profile(), names(mask(DEFAULT_CAPS))))
    except Exception as exc:  # noqa: BLE001 - only a cache; the container start compiles it then
        print(f"spawner: seccomp warm-up failed: {exc}", file=sys.stderr)


def _become_shim(cfg: ShimConfig, ready_fd: int, log_path: str) -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(log, 2)
        os.close(log)
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return _shim.main(cfg, ready_fd)


def serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Shims are forked once and stay our children until we exit (then init or a subreaper adopts them,
    # so they outlive kobakod and us); the kernel reaps the ones that finish.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
        except InterruptedError:
            continue
        if not msg:
            return  # kobakod went away
        try:
            cfg = ShimConfig.from_json(json.loads(msg))
        except Exception as exc:  # noqa: BLE001
            for fd in fds:
                os.write(fd, json.dumps({"kind": "Runtime", "message": f"spawner: {exc}"}).encode())
                os.close(fd)
            continue
        ready_fd = fds[0]
        for extra in fds[1:]:
            os.close(extra)
        log_path = os.path.join(cfg.exec_root, "shims", f"{cfg.id}.log")
        if os.fork() == 0:
            code = 1
            try:
                sock.close()
                os.setsid()
                code = _become_shim(cfg, ready_fd, log_path)
            except BaseException as exc:  # noqa: BLE001
                try:
                    print(f"shim {cfg.id}: {exc!r}", file=sys.stderr)
                except Exception:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        os.close(ready_fd)


def main() -> None:
    fd = int(sys.argv[1])
    from kobako.linux import Prctl, prctl

    prctl(Prctl.PR_SET_PDEATHSIG, signal.SIGKILL)
    sock = socket.socket(fileno=fd)
    _warm_seccomp()
    try:
        _shim.rehearse()
    except Exception as exc:  # noqa: BLE001 - only a warm-up
        print(f"spawner: shim rehearsal failed: {exc!r}", file=sys.stderr)
    serve(sock)


if __name__ == "__main__":
    main()
