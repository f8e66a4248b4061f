"""``kobako-runtime``: a runc-like command over OCI bundles.

    kobako-runtime [--root DIR] run [--bundle DIR] ID      foreground; exits with the container's status
    kobako-runtime [--root DIR] create --bundle DIR [--pid-file F] ID
    kobako-runtime [--root DIR] start ID | state ID | kill ID [SIG] | delete [--force] ID

``create`` leaves a keeper process (the init's parent) waiting on ``<root>/<id>/exec.fifo``;
``start`` opens the fifo to release the init. Failures print one JSON line
``{"kind", "message"}`` on stderr and exit 1; ``run`` exits 127/126 (as ``docker run``) when the
executable is missing / not executable, 128+N when the container died of signal N.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from kobako.errors import Conflict, InvalidArgument, KobakoError, RuntimeFailure
from kobako.runtime import _state

DEFAULT_ROOT = Path("/run/kobako-runtime")
_KINDS = ("InvalidArgument", "NotFound", "Conflict", "PermissionDenied", "Unsupported", "Unavailable")


def _kind(exc: KobakoError) -> str:
    if isinstance(exc, RuntimeFailure):
        return exc.kind
    return next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _KINDS), "Runtime")


def _load_config(bundle: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((bundle / "config.json").read_text()))
    except FileNotFoundError:
        raise InvalidArgument(f"no config.json in bundle {bundle}") from None
    except ValueError as exc:
        raise InvalidArgument(f"invalid config.json: {exc}") from None


def _exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _reap(pid: int) -> int:
    """Reap children until ``pid`` exits; return its wait status (we may be a subreaper)."""
    while True:
        got, status = os.wait()
        if got == pid:
            return status


def _destroy_cgroup(c: _state.Container) -> None:
    if c.data.get("cgroupsPath"):
        from kobako.runtime.cgroups import cgroup_manager

        try:
            cgroup_manager(c.data["cgroupsPath"]).destroy()
        except (OSError, TimeoutError):
            pass


def cmd_run(root: Path, id_: str, bundle: Path) -> int:
    from kobako.linux import Prctl, prctl
    from kobako.runtime.process import create

    config = _load_config(bundle)
    c = _state.new(root, id_, bundle, config)
    try:
        prctl(Prctl.PR_SET_CHILD_SUBREAPER, 1)
        try:
            init = create(config, bundle=bundle, stdio=(0, 1, 2))
        except RuntimeFailure as exc:
            if exc.kind.startswith("Exec"):
                _print_error(exc)
                return 127 if exc.kind == "ExecNotFound" else 126
            raise
        c.data.update(pid=init.pid, pid_start=_state.start_time(init.pid), started=True)
        c.save()
        def forward(signum: int, _frame: object) -> None:
            try:
                os.kill(init.pid, signum)
            except ProcessLookupError:
                pass

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, forward)
        init.start()
        status = _reap(init.pid)
        if init.cgroup is not None:
            init.cgroup.destroy()
        return _exit_code(status)
    finally:
        _destroy_cgroup(c)
        c.remove()


def cmd_create(root: Path, id_: str, bundle: Path, pid_file: Path | None) -> int:
    config = _load_config(bundle)
    c = _state.new(root, id_, bundle, config)
    os.mkfifo(c.fifo, 0o600)
    r, w = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        os.close(r)
        code = 1
        try:
            code = _keeper(c, config, bundle, w)
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        reply = f.read()
    if reply != b"ok":
        os.waitpid(keeper, 0)
        c.remove()
        err = json.loads(reply) if reply else {"kind": "Runtime", "message": "keeper died"}
        raise RuntimeFailure(err["message"], err["kind"])
    if pid_file:
        pid_file.write_text(str(_state.load(root, id_).data["pid"]))
    return 0


def _keeper(c: _state.Container, config: dict[str, Any], bundle: Path, report: int) -> int:
    """Own the init between create and exit: release it on "start", reap it, clean its cgroup."""
    from kobako.runtime.process import create

    os.setsid()
    me = os.getpid()
    c.data.update(keeper_pid=me, keeper_start=_state.start_time(me))
    try:
        init = create(config, bundle=bundle, stdio=(0, 1, 2))
    except KobakoError as exc:
        os.write(report, json.dumps({"kind": _kind(exc), "message": str(exc)}).encode())
        return 1
    c.data.update(pid=init.pid, pid_start=_state.start_time(init.pid))
    c.save()
    fifo = os.open(c.fifo, os.O_RDWR | os.O_CLOEXEC)  # before "ok": a quick start must find a reader
    os.write(report, b"ok")
    os.close(report)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the caller's pipes stay open only through the container
        os.dup2(null, fd)
    cmd = _wait_for_command(fifo, init.pid)
    if cmd == b"0":
        try:
            init.start()
            c.data["started"] = True
        except RuntimeFailure as exc:
            c.data["error"] = {"kind": exc.kind, "message": str(exc)}
    else:
        init.close()  # "delete" of a created container: the init sees EOF and exits
    os.unlink(c.fifo)
    c.save()
    status = _reap(init.pid)
    (c.dir / "exit").write_text(str(status))
    if init.cgroup is not None:
        try:
            init.cgroup.destroy()
        except (OSError, TimeoutError):
            pass
    return 0


def _wait_for_command(fd: int, init_pid: int) -> bytes:
    """The byte "start"/"delete" write to the fifo, or b"" if the init died first.

    O_RDWR keeps the fifo open for writers (start opens it O_NONBLOCK and fails only if no
    keeper is left) and never blocks; a pidfd notices an init killed while "created".
    """
    import select

    pidfd = os.pidfd_open(init_pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        ready = {f for f, _ in poller.poll()}
        return os.read(fd, 1) if fd in ready else b""
    finally:
        os.close(fd)
        os.close(pidfd)


def _poke_fifo(c: _state.Container, cmd: bytes) -> None:
    try:
        fd = os.open(c.fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        raise Conflict(f"container {c.id} has no process waiting to start") from None
    os.write(fd, cmd)
    os.close(fd)


def cmd_start(root: Path, id_: str) -> int:
    c = _state.load(root, id_)
    c.require("created")
    _poke_fifo(c, b"0")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        c.reload()
        if c.data.get("started"):
            return 0
        if "error" in c.data:
            raise RuntimeFailure(c.data["error"]["message"], c.data["error"]["kind"])
        time.sleep(0.005)
    raise RuntimeFailure(f"container {id_} did not start")


def cmd_state(root: Path, id_: str) -> int:
    c = _state.load(root, id_)
    status = c.status()
    out = {"ociVersion": "1.1.0", "id": id_, "status": status,
           "pid": c.data.get("pid", 0) if status in ("created", "running") else 0,
           "bundle": c.data.get("bundle", ""), "annotations": c.data.get("annotations", {})}
    print(json.dumps(out, indent=2))
    return 0


def _parse_signal(s: str) -> int:
    if s.isdigit():
        return int(s)
    name = s.upper() if s.upper().startswith("SIG") else "SIG" + s.upper()
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"unknown signal {s!r}") from None


def cmd_kill(root: Path, id_: str, sig: str) -> int:
    c = _state.load(root, id_)
    c.require("created", "running")
    os.kill(int(c.data["pid"]), _parse_signal(sig))
    return 0


def cmd_delete(root: Path, id_: str, force: bool) -> int:
    c = _state.load(root, id_)
    status = c.status()
    if status == "running" and not force:
        raise Conflict(f"cannot delete container {id_} that is not stopped: running")
    if c.fifo.exists():
        try:
            _poke_fifo(c, b"k")  # a created init is released by its keeper without running anything
        except Conflict:
            pass
    if status == "running":
        os.kill(int(c.data["pid"]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while c.keeper_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    _destroy_cgroup(c)
    c.remove()
    return 0


def _print_error(exc: KobakoError) -> None:
    sys.stderr.write(json.dumps({"kind": _kind(exc), "message": str(exc)}) + "\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kobako-runtime")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--bundle", "-b", type=Path, default=Path("."))
    create = sub.add_parser("create")
    create.add_argument("--bundle", "-b", type=Path, default=Path("."))
    create.add_argument("--pid-file", type=Path)
    for name in ("run", "create", "start", "state", "kill", "delete"):
        sp = sub.choices.get(name) or sub.add_parser(name)
        sp.add_argument("id")
    sub.choices["kill"].add_argument("signal", nargs="?", default="SIGTERM")
    sub.choices["delete"].add_argument("--force", "-f", action="store_true")
    return p


def main(argv: list[str] | None = None) -> NoReturn:
    a = _parser().parse_args(argv)
    root: Path = a.root
    try:
        if a.command == "run":
            code = cmd_run(root, a.id, a.bundle.resolve())
        elif a.command == "create":
            code = cmd_create(root, a.id, a.bundle.resolve(), a.pid_file)
        elif a.command == "start":
            code = cmd_start(root, a.id)
        elif a.command == "state":
            code = cmd_state(root, a.id)
        elif a.command == "kill":
            code = cmd_kill(root, a.id, a.signal)
        else:
            code = cmd_delete(root, a.id, a.force)
    except KobakoError as exc:
        _print_error(exc)
        code = 1
    except OSError as exc:
        _print_error(RuntimeFailure(f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)))
        code = 1
    sys.stdout.flush()
    sys.exit(code)
