"""The per-container shim: parent of the container's init and of its exec'd processes, keeper of
their stdio and exit statuses.

Lifecycle
    1. forked by the spawner, in a session of its own (adopted by init if the spawner exits);
    2. becomes a child subreaper, sets up stdio (pipes; with ``tty`` a console socket on which
       the init sends the master of a pty it made in the container's own devpts);
    3. a short-lived child (``_creator``) reads the bundle and runs ``runtime.create``, which clones
       the init (it waits just before execve); the child hands the init's pipes over and exits, the
       init becomes the shim's child; what creation allocated never enters the long-lived shim;
    4. binds ``<exec-root>/shims/<id>.sock`` and reports ``{"pid": N}`` on the ready pipe;
    5. serves control connections until the init exits and its output is drained;
    6. writes ``<id>.exit`` atomically, answers waiters, closes attached streams, removes the
       socket and exits.  kobakod may be absent for any of this: the exit file is the record.

Control socket: each connection starts with one JSON request line.
    {"op": "attach", "stdin": b, "stdout": b, "stderr": b}
        → {"ok": true}, then output as stdcopy frames (raw bytes with a tty) until the container
        exits; bytes sent by the client go to the container's stdin; the client's half-close is
        stdin EOF when the container has StdinOnce and no tty (Docker: a tty's stdin is never
        closed by a client).
    {"op": "start"}                 → {"ok": true} | {"kind", "message"}
    {"op": "wait"}                  → {"exit_code", "oom_killed", "finished_at"} at exit
    {"op": "kill", "signal": N}     → {"ok": true}
    {"op": "resize", "h": H, "w": W}→ {"ok": true}
    {"op": "state"}                 → {"pid", "status", "exit_code", "execs": {id: {"pid", "running", "exit_code"}}}
    {"op": "exec", "id": ID, "process": {"args", "env", "cwd", "user", "terminal", "console_size"},
     "stdin": b, "stdout": b, "stderr": b, "detach": b}
        → {"ok": true, "pid": N} then, unless detached, the exec's output exactly like attach
        (its stdin from the client; half-close is its stdin EOF without a tty) until it exits
        and its output is drained; or {"kind", "message", "exit_code": 126|127|...}
    {"op": "exec_resize", "id": ID, "h": H, "w": W} → {"ok": true}
    {"op": "exec_wait", "id": ID}   → {"exit_code": N} once the exec exited and its output drained
    {"op": "exec_kill", "id": ID, "signal": N} → {"ok": true}
Exec'd processes live in the container's pid namespace: they die with its init.
"""

from __future__ import annotations

import errno
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from kobako.errors import KobakoError, RuntimeFailure
from kobako.fsutil import atomic_write_json
from kobako.runtime.console import recv_console, set_winsize
from kobako.shim._jsonlog import JsonFileLog, rfc3339_nano
from kobako.shim._protocol import ShimConfig, exit_path, pid_path, socket_path

STREAM_IDS = {"stdout": 1, "stderr": 2}
DRAIN_TIMEOUT = 5.0
EXEC_DRAIN_TIMEOUT = 2.0  # a background child may keep an exec's output open; don't wait for it
MAX_DONE_EXECS = 256


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


class _Stdio:
    """One process' streams as the shim holds them: the container's init, or an exec'd process."""

    def __init__(self, tty: bool, stdin_once: bool, log: JsonFileLog | None = None) -> None:
        self.tty = tty
        self.stdin_once = stdin_once and not tty  # Docker never closes a tty's stdin for a client
        self.log = log
        self.outputs: dict[int, str] = {}
        self.stdin_w: int | None = None
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.master: int | None = None
        self.status: int | None = None
        self.exited_at = 0.0

    def pipes(self, open_stdin: bool) -> tuple[tuple[int, int, int], list[int]]:
        """Pipes for a process without a tty: its (stdin, stdout, stderr) and the fds to close after."""
        if open_stdin:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            self.stdin_w = in_w
        else:
            in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.outputs[out_r] = "stdout"
        self.outputs[err_r] = "stderr"
        return (in_r, out_w, err_w), [in_r, out_w, err_w]

    def set_master(self, master: int, open_stdin: bool) -> None:
        self.master = master
        self.outputs[master] = "stdout"
        self.stdin_w = master if open_stdin else None

    @property
    def drained(self) -> bool:
        return not self.outputs


class _Exec(_Stdio):
    def __init__(self, eid: str, tty: bool) -> None:
        super().__init__(tty, stdin_once=True)
        self.id = eid
        self.pid = 0
        self.finished = False


class _Conn:
    __slots__ = ("sock", "inbuf", "outbuf", "op", "stdout", "stderr", "stdin", "closing", "read_eof", "target",
                 "exec_id")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.op = ""
        self.stdout = self.stderr = self.stdin = False
        self.closing = False  # close once outbuf is flushed
        self.read_eof = False
        self.target: _Stdio | None = None  # the process whose streams this connection carries
        self.exec_id = ""


class Shim:
    def __init__(self, cfg: ShimConfig, ready_fd: int) -> None:
        self.cfg = cfg
        self.ready_fd = ready_fd
        self.exec_root = Path(cfg.exec_root)
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, _Conn] = {}
        self.init = _Stdio(cfg.tty, cfg.stdin_once)
        self.owner: dict[int, _Stdio] = {}  # output/stdin fd → the process it belongs to
        self.execs: dict[str, _Exec] = {}
        self.exec_pids: dict[int, _Exec] = {}
        self.done_execs: dict[str, int] = {}  # id → exit code, for late exec_wait requests
        self.status: int | None = None
        self.exited_at = 0.0
        self.started = False
        self.proc: Any = None
        self.log: JsonFileLog | None = None

    # -- set-up -----------------------------------------------------------------------------
    def _report(self, obj: dict[str, Any]) -> None:
        try:
            os.write(self.ready_fd, json.dumps(obj).encode() + b"\n")
        finally:
            os.close(self.ready_fd)

    def run(self) -> int:
        from kobako.linux import Prctl, prctl, set_name

        prctl(Prctl.PR_SET_CHILD_SUBREAPER, 1)
        set_name("kobako-shim")
        (self.exec_root / "shims").mkdir(parents=True, exist_ok=True)
        exit_path(self.exec_root, self.cfg.id).unlink(missing_ok=True)
        self.log = JsonFileLog(self.cfg.log_path, self.cfg.log_max_size, self.cfg.log_max_files)
        self.init.log = self.log
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        console: tuple[socket.socket, socket.socket] | None = None
        child_fds: list[int] = []
        try:
            if self.cfg.tty:
                # The init makes the pty in the container's devpts and sends us the master.
                console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
                stdio, child_fds = (null, null, null), [null]
            else:
                stdio, child_fds = self.init.pipes(self.cfg.open_stdin)
            err = self._create(stdio, console[1].fileno() if console else None)
            if err is not None:
                self._report(err)
                return 1
            if console is not None:
                console[1].close()
                master = recv_console(console[0])
                if master is None:
                    raise RuntimeFailure("container init did not send its console")
                self.init.set_master(master, self.cfg.open_stdin)
        except KobakoError as exc:
            self._abort()
            err = exc.to_json() if isinstance(exc, RuntimeFailure) else {"kind": "Runtime", "message": str(exc)}
            self._report(err)
            return 1
        except Exception as exc:  # noqa: BLE001 - reported to kobakod, which shows it to the user
            self._abort()
            self._report({"kind": "Runtime", "message": f"shim: {exc}"})
            return 1
        finally:
            for fd in child_fds:
                os.close(fd)
            if console is not None:
                console[0].close()
                console[1].close()
        sock_path = socket_path(self.exec_root, self.cfg.id)
        sock_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(sock_path))
        os.chmod(sock_path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        pid_path(self.exec_root, self.cfg.id).write_text(f"{os.getpid()}\n")
        self._register(self.init)
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.sel.register(wake_r, selectors.EVENT_READ, "signal")
        self._report({"pid": self.proc.pid})
        try:
            self._loop(listener, wake_r)
        finally:
            sock_path.unlink(missing_ok=True)
            pid_path(self.exec_root, self.cfg.id).unlink(missing_ok=True)
        return 0

    def _create(self, stdio: tuple[int, int, int], console_fd: int | None) -> dict[str, Any] | None:
        """Create the container in a short-lived child (see ``_creator``) and take over its init.

        Returns the creator's error as ``{"kind", "message"}``, or None once ``self.proc`` is set.
        """
        from kobako.runtime.cgroups import cgroup_manager
        from kobako.runtime.process import InitProcess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            pid = os.fork()
            if pid == 0:
                ours.close()
                _creator(self.cfg, stdio, console_fd, theirs)
            theirs.close()
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ours, 65536, 2)
            finally:
                _waitpid(pid)  # reaped now: its init is re-parented to us (a subreaper) as it exits
        finally:
            ours.close()
            theirs.close()
        reply = json.loads(msg) if msg else {"kind": "Runtime", "message": "shim: container set-up died"}
        if "pid" not in reply or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return reply
        cgroup = cgroup_manager(reply["cgroup"], Path(self.cfg.cgroup_root)) if reply.get("cgroup") else None
        self.proc = InitProcess(int(reply["pid"]), cgroup, fds[0], fds[1])
        return None

    def _abort(self) -> None:
        """Undo a half-created container: kill and reap its init, remove its cgroup."""
        if self.proc is None:
            return
        self.proc.close()
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _waitpid(self.proc.pid)
        if self.proc.cgroup is not None:
            try:
                self.proc.cgroup.destroy()
            except OSError:
                pass

    def _register(self, p: _Stdio) -> None:
        for fd in p.outputs:
            os.set_blocking(fd, False)
            self.owner[fd] = p
            self.sel.register(fd, selectors.EVENT_READ, "output")
        if p.stdin_w is not None and p.stdin_w != p.master:
            os.set_blocking(p.stdin_w, False)
            self.owner[p.stdin_w] = p
        if p.master is not None:
            os.set_blocking(p.master, False)

    # -- main loop --------------------------------------------------------------------------
    def _loop(self, listener: socket.socket, wake_r: int) -> None:
        self._reap()
        while True:
            now = time.monotonic()
            for ex in list(self.execs.values()):
                if ex.status is not None and (ex.drained or now - ex.exited_at > EXEC_DRAIN_TIMEOUT):
                    self._finish_exec(ex)
            if self.status is not None and (
                    (self.init.drained and not self.execs) or now - self.exited_at > DRAIN_TIMEOUT):
                self._finish()
                return
            timeout = 0.2 if self.status is not None or any(e.status is not None for e in self.execs.values()) \
                else None
            for key, events in self.sel.select(timeout):
                tag = key.data
                if tag == "listen":
                    self._accept(listener)
                elif tag == "signal":
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self._reap()
                elif tag == "output":
                    self._read_output(key.fd)
                elif tag == "stdin":
                    self._flush_stdin(self.owner[key.fd])
                elif isinstance(tag, _Conn):
                    if events & selectors.EVENT_READ:
                        self._conn_read(tag)
                    if events & selectors.EVENT_WRITE and tag.sock.fileno() in self.conns:
                        self._conn_write(tag)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            if self.proc is not None and pid == self.proc.pid and self.status is None:
                self.status = code
                self.exited_at = time.monotonic()
                self.finished_at = rfc3339_nano()
            ex = self.exec_pids.pop(pid, None)
            if ex is not None and ex.status is None:
                ex.status = code
                ex.exited_at = time.monotonic()

    # -- process output ---------------------------------------------------------------------
    def _read_output(self, fd: int) -> None:
        p = self.owner[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO on a pty master once every slave is closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        stream = p.outputs[fd]
        if not data:
            self._close_output(p, fd)
            return
        if p.log is not None:
            p.log.write(stream, data)
        framed = data if p.tty else _frame(STREAM_IDS[stream], data)
        for conn in list(self.conns.values()):
            if conn.target is p and conn.op in ("attach", "exec") and getattr(conn, stream):
                conn.outbuf += framed
                self._conn_write(conn)

    def _close_output(self, p: _Stdio, fd: int) -> None:
        self.sel.unregister(fd)
        del p.outputs[fd]
        if fd != p.master:
            self.owner.pop(fd, None)
            os.close(fd)

    # -- stdin ----------------------------------------------------------------------------------
    def _write_stdin(self, p: _Stdio, data: bytes) -> None:
        if p.stdin_w is None:
            return
        if p.stdin_w == p.master:
            try:
                os.write(p.master, data)  # a tty: the line discipline buffers it
            except OSError:
                pass
            return
        p.stdin_buf += data
        self._flush_stdin(p)

    def _flush_stdin(self, p: _Stdio) -> None:
        if p.stdin_w is None:
            return
        try:
            while p.stdin_buf:
                n = os.write(p.stdin_w, p.stdin_buf)
                del p.stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:  # the process closed its stdin
            p.stdin_buf.clear()
        self._update_stdin_interest(p)
        if not p.stdin_buf and p.stdin_close_pending:
            self._close_stdin(p)

    def _update_stdin_interest(self, p: _Stdio) -> None:
        fd = p.stdin_w
        if fd is None or fd == p.master:
            return
        registered = fd in self.sel.get_map()
        if p.stdin_buf and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, "stdin")
        elif not p.stdin_buf and registered:
            self.sel.unregister(fd)

    def _request_stdin_close(self, p: _Stdio) -> None:
        if p.stdin_buf:
            p.stdin_close_pending = True
        else:
            self._close_stdin(p)

    def _close_stdin(self, p: _Stdio) -> None:
        p.stdin_close_pending = False
        fd = p.stdin_w
        if fd is None or fd == p.master:
            return
        p.stdin_w = None
        if fd in self.sel.get_map():
            self.sel.unregister(fd)
        self.owner.pop(fd, None)
        os.close(fd)

    # -- control connections --------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        conn = _Conn(sock)
        self.conns[sock.fileno()] = conn
        self.sel.register(sock, selectors.EVENT_READ, conn)

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd in self.conns:
            del self.conns[fd]
            self.sel.unregister(conn.sock)
            conn.sock.close()
        if conn.stdin and conn.target is not None and conn.target.stdin_once:
            conn.stdin = False
            self._request_stdin_close(conn.target)

    def _conn_read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        if not conn.op:
            if not data:
                self._drop(conn)
                return
            conn.inbuf += data
            if b"\n" not in conn.inbuf:
                return
            line, rest = conn.inbuf.split(b"\n", 1)
            conn.inbuf = b""
            try:
                req = json.loads(line)
                self._request(conn, req)
            except Exception as exc:  # noqa: BLE001 - answered to the caller
                self._reply(conn, {"kind": "InvalidArgument", "message": f"shim: bad request: {exc}"})
                return
            data = rest
            if not data:
                return
        if conn.op not in ("attach", "exec") or conn.target is None:
            if not data:
                self._drop(conn)
            return
        p = conn.target
        if not data:  # half-close from the client: stdin EOF
            conn.read_eof = True
            self._update_conn_interest(conn)
            if conn.stdin:
                conn.stdin = False
                if p.stdin_once:
                    self._request_stdin_close(p)
            if (p.status is not None or getattr(p, "finished", False)) and not conn.outbuf:
                self._drop(conn)
            return
        if conn.stdin:
            self._write_stdin(p, data)

    def _conn_write(self, conn: _Conn) -> None:
        try:
            while conn.outbuf:
                n = conn.sock.send(conn.outbuf)
                del conn.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(conn)
            return
        if not conn.outbuf and conn.closing:
            self._drop(conn)
            return
        self._update_conn_interest(conn)

    def _update_conn_interest(self, conn: _Conn) -> None:
        if conn.sock.fileno() not in self.conns:
            return
        events = 0 if conn.read_eof else selectors.EVENT_READ
        if conn.outbuf:
            events |= selectors.EVENT_WRITE
        if events:
            self.sel.modify(conn.sock, events, conn)
        else:
            self.sel.modify(conn.sock, selectors.EVENT_READ, conn)

    def _reply(self, conn: _Conn, obj: dict[str, Any]) -> None:
        conn.outbuf += json.dumps(obj).encode() + b"\n"
        conn.closing = True
        self._conn_write(conn)

    def _request(self, conn: _Conn, req: dict[str, Any]) -> None:
        op = req.get("op")
        conn.op = str(op)
        if op == "attach":
            conn.target = self.init
            conn.stdout = bool(req.get("stdout"))
            conn.stderr = bool(req.get("stderr"))
            conn.stdin = bool(req.get("stdin")) and self.init.stdin_w is not None
            # The ack tells kobakod the stream is registered, so it can let the process start
            # knowing no output will be missed.
            conn.outbuf += b'{"ok":true}\n'
            if self.status is not None and self.init.drained:
                conn.closing = True
            self._conn_write(conn)
        elif op == "start":
            self._reply(conn, self._start())
        elif op == "wait":
            if self.status is not None and self.init.drained and not self.execs:
                self._reply(conn, self._exit_info())
        elif op == "kill":
            if self.status is None:
                try:
                    os.kill(self.proc.pid, int(req.get("signal", signal.SIGKILL)))
                except ProcessLookupError:
                    pass
            self._reply(conn, {"ok": True})
        elif op == "resize":
            if self.init.master is not None:
                set_winsize(self.init.master, int(req.get("h", 0)), int(req.get("w", 0)))
            self._reply(conn, {"ok": True})
        elif op == "state":
            status = "stopped" if self.status is not None else ("running" if self.started else "created")
            execs = {e.id: {"pid": e.pid, "running": e.status is None, "exit_code": e.status}
                     for e in self.execs.values()}
            execs.update({eid: {"pid": 0, "running": False, "exit_code": code}
                          for eid, code in self.done_execs.items()})
            self._reply(conn, {"pid": self.proc.pid, "status": status, "exit_code": self.status, "execs": execs})
        elif op == "exec":
            self._exec(conn, req)
        elif op == "exec_resize":
            ex = self.execs.get(str(req.get("id")))
            if ex is not None and ex.master is not None:
                set_winsize(ex.master, int(req.get("h", 0)), int(req.get("w", 0)))
            self._reply(conn, {"ok": True})
        elif op == "exec_kill":
            ex = self.execs.get(str(req.get("id")))
            if ex is not None and ex.status is None and ex.pid:
                try:
                    os.kill(ex.pid, int(req.get("signal", signal.SIGKILL)))
                except ProcessLookupError:
                    pass
            self._reply(conn, {"ok": True})
        elif op == "exec_wait":
            eid = str(req.get("id"))
            conn.exec_id = eid
            if eid in self.done_execs:
                self._reply(conn, {"exit_code": self.done_execs[eid]})
            elif eid not in self.execs:
                self._reply(conn, {"kind": "NotFound", "message": f"No such exec instance: {eid}"})
        else:
            self._reply(conn, {"kind": "InvalidArgument", "message": f"shim: unknown op {op!r}"})

    def _start(self) -> dict[str, Any]:
        if self.started:
            return {"ok": True}
        try:
            self.proc.start()
        except RuntimeFailure as exc:
            return exc.to_json()
        self.started = True
        return {"ok": True}

    # -- exec -----------------------------------------------------------------------------------
    def _exec_spec(self, req: dict[str, Any]) -> Any:
        """The request's part of the exec's spec; ``_ExecBase`` adds the container's in the exec's child."""
        from kobako.runtime.nsexec import ExecSpec

        proc = req.get("process") or {}
        size = proc.get("console_size") or (0, 0)
        return ExecSpec(
            args=[str(a) for a in proc.get("args") or []],
            env=[str(e) for e in proc.get("env") or []],
            cwd=str(proc.get("cwd") or ""),
            user=str(proc.get("user") or ""),
            terminal=bool(proc.get("terminal")),
            console_size=(int(size[0]), int(size[1])),
            privileged=bool(proc.get("privileged")),
        )

    def _exec(self, conn: _Conn, req: dict[str, Any]) -> None:
        from kobako.runtime.nsexec import exec_process

        eid = str(req.get("id") or "")
        if not eid or eid in self.execs or eid in self.done_execs:
            self._reply(conn, {"kind": "Conflict", "message": f"exec {eid!r} already exists"})
            return
        if self.status is not None or not self.started:
            self._reply(conn, {"kind": "Conflict", "message": f"container {self.cfg.id} is not running"})
            return
        try:
            spec = self._exec_spec(req)
        except (TypeError, ValueError) as exc:
            self._reply(conn, {"kind": "InvalidArgument", "message": f"exec: {exc}"})
            return
        ex = _Exec(eid, spec.terminal)
        want_stdin = bool(req.get("stdin")) and not req.get("detach")
        child_fds: list[int] = []
        try:
            stdio = None
            if not spec.terminal:
                stdio, child_fds = ex.pipes(want_stdin)
            proc = exec_process(self.proc.pid, spec, stdio=stdio, cgroup=getattr(self.proc, "cgroup", None),
                                complete=_ExecBase(self.cfg.bundle))
        except RuntimeFailure as exc:
            for fd in [*ex.outputs, *([ex.stdin_w] if ex.stdin_w is not None else [])]:
                os.close(fd)
            kind = exc.kind
            code = 127 if kind == "ExecNotFound" else 126 if kind == "ExecNotExecutable" else 126
            self._remember(eid, code)
            self._reply(conn, {**exc.to_json(), "exit_code": code})
            return
        finally:
            for fd in child_fds:
                os.close(fd)
        ex.pid = proc.pid
        if proc.master is not None:
            ex.set_master(proc.master, want_stdin)
        self.execs[eid] = ex
        self.exec_pids[proc.pid] = ex
        self._register(ex)
        conn.target = ex
        conn.stdout = bool(req.get("stdout"))
        conn.stderr = bool(req.get("stderr"))
        conn.stdin = want_stdin
        conn.outbuf += json.dumps({"ok": True, "pid": proc.pid}).encode() + b"\n"
        if req.get("detach"):
            conn.closing = True
            conn.target = None
        self._conn_write(conn)

    def _drain_now(self, p: _Stdio) -> None:
        """Read what is already buffered in a process's output before giving up on it: a loaded
        machine may reach the drain deadline before the loop has read output written before exit."""
        for fd in list(p.outputs):
            for _ in range(256):
                if fd not in p.outputs or not select.select([fd], [], [], 0)[0]:
                    break
                self._read_output(fd)

    def _finish_exec(self, ex: _Exec) -> None:
        ex.finished = True
        self._drain_now(ex)
        for fd in list(ex.outputs):
            self._close_output(ex, fd)
        if ex.stdin_w is not None and ex.stdin_w != ex.master:
            self._close_stdin(ex)
        if ex.master is not None:
            self.owner.pop(ex.master, None)
            os.close(ex.master)
            ex.master = None
        ex.stdin_w = None
        self.execs.pop(ex.id, None)
        assert ex.status is not None
        self._remember(ex.id, ex.status)
        for conn in list(self.conns.values()):
            if conn.target is ex:
                conn.target = None
                conn.stdin = False
                conn.closing = True
                self._conn_write(conn)
            elif conn.op == "exec_wait" and conn.exec_id == ex.id:
                self._reply(conn, {"exit_code": ex.status})

    def _remember(self, eid: str, code: int) -> None:
        self.done_execs[eid] = code
        while len(self.done_execs) > MAX_DONE_EXECS:
            del self.done_execs[next(iter(self.done_execs))]

    # -- exit -----------------------------------------------------------------------------------
    def _exit_info(self) -> dict[str, Any]:
        return {
            "exit_code": self.status,
            "oom_killed": getattr(self, "oom_killed", False),
            "finished_at": getattr(self, "finished_at", rfc3339_nano()),
        }

    def _finish(self) -> None:
        assert self.log is not None
        for ex in list(self.execs.values()):
            if ex.status is None:
                ex.status = 137  # killed with the container's pid namespace, not reaped yet
            self._finish_exec(ex)
        self._drain_now(self.init)
        self.log.close()
        cgroup = getattr(self.proc, "cgroup", None)
        self.oom_killed = False
        if cgroup is not None:
            try:
                self.oom_killed = bool(cgroup.oom_killed()) and self.status == 137
            except OSError:
                pass
            try:
                cgroup.destroy()
            except OSError as exc:
                print(f"shim {self.cfg.id}: cgroup cleanup: {exc}", file=sys.stderr)
        info = self._exit_info()
        atomic_write_json(exit_path(self.exec_root, self.cfg.id), info)
        if self.init.stdin_w is not None and self.init.stdin_w != self.init.master:
            os.close(self.init.stdin_w)
        for conn in list(self.conns.values()):
            if conn.op == "wait":
                conn.outbuf += json.dumps(info).encode() + b"\n"
            elif conn.op == "exec_wait" and conn.exec_id in self.done_execs and not conn.outbuf:
                conn.outbuf += json.dumps({"exit_code": self.done_execs[conn.exec_id]}).encode() + b"\n"
            conn.closing = True
        deadline = time.monotonic() + 2.0
        for conn in list(self.conns.values()):
            conn.sock.setblocking(True)
            conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                conn.sock.sendall(conn.outbuf)
            except OSError:
                pass
            conn.sock.close()
        self.conns.clear()


class _ExecBase:
    """Completes an exec's spec with the container's (env, user, --group-add, cwd, rlimits, capabilities,
    seccomp).

    Called in the exec's forked child, before it joins the container: the shim never holds the
    container's config (its seccomp profile alone is thousands of objects), it reads it there.
    """

    __slots__ = ("bundle",)

    def __init__(self, bundle: str) -> None:
        self.bundle = bundle

    def __call__(self, spec: Any) -> Any:
        from dataclasses import replace

        from kobako.runtime.spec import USER_ANNOTATION
        from kobako.runtime.user import GROUP_ADD_ANNOTATION

        with open(Path(self.bundle) / "config.json", "rb") as f:
            config = json.load(f)
        base = config.get("process") or {}
        env: dict[str, str] = {}
        extra = ["TERM=xterm"] if spec.terminal else []
        for item in [*(base.get("env") or []), *extra, *spec.env]:
            k, sep, v = str(item).partition("=")
            if sep:
                env.pop(k, None)  # a replaced variable moves to the end, as Docker's ReplaceOrAppendEnvValues
                env[k] = v
        user = spec.user or (config.get("annotations") or {}).get(USER_ANNOTATION) or ""
        if not user:
            u = base.get("user") or {}
            uid, gid = int(u.get("uid", 0)), int(u.get("gid", 0))
            user = f"{uid}:{gid}" if uid or gid else ""
        return replace(
            spec,
            env=[f"{k}={v}" for k, v in env.items()],
            cwd=spec.cwd or base.get("cwd") or "/",
            user=str(user),
            group_add=str((config.get("annotations") or {}).get(GROUP_ADD_ANNOTATION) or ""),
            rlimits=base.get("rlimits") or (),
            no_new_privileges=bool(base.get("noNewPrivileges")),
            capabilities=base.get("capabilities"),
            seccomp=(config.get("linux") or {}).get("seccomp"),
        )


def _creator(cfg: ShimConfig, stdio: tuple[int, int, int], console_fd: int | None,
             sock: socket.socket) -> None:
    """The shim's short-lived child: reads the bundle, creates the container and hands its init over.

    Everything container creation allocates or dirties (the config with its seccomp profile, the
    runtime's work, the clone) dies with this process, so the long-lived shim stays small.  Sends one
    message on ``sock``: ``{"pid", "cgroup"}`` with the init's sync and report pipe ends attached, or
    ``{"kind", "message"}``.  Its init becomes the shim's child when it exits (the shim is a subreaper).
    """
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
            from kobako import runtime

            with open(Path(cfg.bundle) / "config.json", "rb") as f:
                spec = json.load(f)
            h, w = cfg.console_size
            if cfg.tty and h > 0 and w > 0:
                spec.setdefault("process", {})["consoleSize"] = {"height": h, "width": w}
            proc = runtime.create(spec, bundle=Path(cfg.bundle), rootfs_mounts=cfg.rootfs_mounts, stdio=stdio,
                                  cgroup_root=Path(cfg.cgroup_root), console_socket=console_fd)
        except RuntimeFailure as exc:
            sock.send(json.dumps(exc.to_json()).encode())
            return
        except KobakoError as exc:
            sock.send(json.dumps({"kind": "Runtime", "message": str(exc)}).encode())
            return
        except Exception as exc:  # noqa: BLE001 - reported to kobakod, which shows it to the user
            sock.send(json.dumps({"kind": "Runtime", "message": f"shim: {exc}"}).encode())
            return
        reply = {"pid": proc.pid, "cgroup": proc.cgroup.path if proc.cgroup is not None else None}
        socket.send_fds(sock, [json.dumps(reply).encode()], list(proc.fds))
    except BaseException:  # noqa: BLE001 - never unwind into the shim's code
        code = 1
    finally:
        os._exit(code)


def _waitpid(pid: int) -> None:
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def main(cfg: ShimConfig, ready_fd: int) -> int:
    return Shim(cfg, ready_fd).run()


def rehearse(rounds: int = 10) -> None:
    """Run the shim's set-up, attach and output code in the spawner, on throw-away objects and pipes.

    CPython specialises code as it runs it and fills its type caches; done here, before any fork,
    forked shims find that done instead of each writing to (so copying) the shared pages holding it.
    """
    cfg = ShimConfig(id="0" * 64, bundle="/", exec_root="/", log_path=os.devnull)
    for _ in range(rounds):
        shim = Shim(cfg, -1)
        shim.log = shim.init.log = JsonFileLog(os.devnull)
        (_in, out_w, _err), child_fds = shim.init.pipes(True)
        os.write(out_w, b"rehearsal\n")
        for fd in child_fds:
            os.close(fd)
        shim._register(shim.init)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            ours.setblocking(False)
            conn = _Conn(ours)
            shim.conns[ours.fileno()] = conn
            shim.sel.register(ours, selectors.EVENT_READ, conn)
            theirs.sendall(b'{"op": "attach", "stdin": true, "stdout": true, "stderr": true}\n')
            shim._conn_read(conn)
            shim.sel.select(0)
            for fd in list(shim.init.outputs):
                shim._read_output(fd)  # data, then EOF: the fd is closed
            theirs.recv(4096)
            shim._drop(conn)
        finally:
            theirs.close()
            ours.close()
            for fd in list(shim.init.outputs):
                shim._close_output(shim.init, fd)
            shim._close_stdin(shim.init)
            shim.log.close()
            shim.sel.close()
        json.loads(json.dumps({"pid": 1, "cgroup": None}))
