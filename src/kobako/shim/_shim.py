"""The per-container shim: parent of the container's init, keeper of its stdio and exit status.

Lifecycle
    1. spawned (by the spawner, already in its own session, reparented away from kobakod);
    2. becomes a child subreaper, sets up stdio (pipes, or a pty when ``tty``);
    3. ``runtime.create`` clones the init, which waits just before execve;
    4. binds ``<exec-root>/shims/<id>.sock`` and reports ``{"pid": N}`` on the ready pipe;
    5. serves control connections until the init exits and its output is drained;
    6. writes ``<id>.exit`` atomically, answers waiters, closes attached streams, removes the
       socket and exits.  kobakod may be absent for any of this: the exit file is the record.

Control socket: each connection starts with one JSON request line.
    {"op": "attach", "stdin": b, "stdout": b, "stderr": b}
        then output as stdcopy frames (raw bytes with a tty) until the container exits; bytes
        sent by the client go to the container's stdin; the client's half-close is stdin EOF
        (honoured when the container has StdinOnce).
    {"op": "start"}                 → {"ok": true} | {"kind", "message"}
    {"op": "wait"}                  → {"exit_code", "oom_killed", "finished_at"} at exit
    {"op": "kill", "signal": N}     → {"ok": true}
    {"op": "resize", "h": H, "w": W}→ {"ok": true}
    {"op": "state"}                 → {"pid", "status", "exit_code"}
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

from kobako.errors import KobakoError, RuntimeFailure
from kobako.fsutil import atomic_write_json
from kobako.shim._jsonlog import JsonFileLog, rfc3339_nano
from kobako.shim._protocol import ShimConfig, exit_path, pid_path, socket_path

STREAM_IDS = {"stdout": 1, "stderr": 2}
DRAIN_TIMEOUT = 5.0


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def _set_winsize(fd: int, h: int, w: int) -> None:
    if h > 0 and w > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))


class _Conn:
    __slots__ = ("sock", "inbuf", "outbuf", "op", "stdout", "stderr", "stdin", "closing", "read_eof")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.op = ""
        self.stdout = self.stderr = self.stdin = False
        self.closing = False  # close once outbuf is flushed
        self.read_eof = False


class Shim:
    def __init__(self, cfg: ShimConfig, ready_fd: int) -> None:
        self.cfg = cfg
        self.ready_fd = ready_fd
        self.exec_root = Path(cfg.exec_root)
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, _Conn] = {}
        self.outputs: dict[int, str] = {}
        self.stdin_w: int | None = None
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.master: int | None = None
        self.status: int | None = None
        self.exited_at = 0.0
        self.started = False
        self.proc: Any = None
        self.log: JsonFileLog | None = None

    # -- set-up -----------------------------------------------------------------------------
    def _stdio(self) -> tuple[tuple[int, int, int], list[int]]:
        """Returns the container's (stdin, stdout, stderr) and the fds to close after create."""
        cfg = self.cfg
        if cfg.tty:
            master, slave = os.openpty()
            _set_winsize(slave, *cfg.console_size)
            self.master = master
            self.outputs[master] = "stdout"
            self.stdin_w = master if cfg.open_stdin else None
            return (slave, slave, slave), [slave]
        if cfg.open_stdin:
            in_r, in_w = os.pipe()
            self.stdin_w = in_w
        else:
            in_r = os.open("/dev/null", os.O_RDONLY)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs[out_r] = "stdout"
        self.outputs[err_r] = "stderr"
        return (in_r, out_w, err_w), [in_r, out_w, err_w]

    def _report(self, obj: dict[str, Any]) -> None:
        try:
            os.write(self.ready_fd, json.dumps(obj).encode() + b"\n")
        finally:
            os.close(self.ready_fd)

    def run(self) -> int:
        from kobako import runtime
        from kobako.linux import Prctl, prctl, set_name

        prctl(Prctl.PR_SET_CHILD_SUBREAPER, 1)
        set_name("kobako-shim")
        (self.exec_root / "shims").mkdir(parents=True, exist_ok=True)
        exit_path(self.exec_root, self.cfg.id).unlink(missing_ok=True)
        self.log = JsonFileLog(self.cfg.log_path, self.cfg.log_max_size, self.cfg.log_max_files)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        try:
            stdio, child_fds = self._stdio()
            spec = json.loads((Path(self.cfg.bundle) / "config.json").read_text())
            self.proc = runtime.create(
                spec,
                bundle=Path(self.cfg.bundle),
                rootfs_mounts=self.cfg.rootfs_mounts,
                stdio=stdio,
                cgroup_root=Path(self.cfg.cgroup_root),
            )
        except KobakoError as exc:
            err = exc.to_json() if isinstance(exc, RuntimeFailure) else {"kind": "Runtime", "message": str(exc)}
            self._report(err)
            return 1
        except Exception as exc:  # noqa: BLE001 - reported to kobakod, which shows it to the user
            self._report({"kind": "Runtime", "message": f"shim: {exc}"})
            return 1
        for fd in child_fds:
            os.close(fd)
        sock_path = socket_path(self.exec_root, self.cfg.id)
        sock_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(sock_path))
        os.chmod(sock_path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        pid_path(self.exec_root, self.cfg.id).write_text(f"{os.getpid()}\n")
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, "output")
        if self.stdin_w is not None and self.stdin_w != self.master:
            os.set_blocking(self.stdin_w, False)
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        self.sel.register(wake_r, selectors.EVENT_READ, "signal")
        self._report({"pid": self.proc.pid})
        try:
            self._loop(listener, wake_r)
        finally:
            sock_path.unlink(missing_ok=True)
            pid_path(self.exec_root, self.cfg.id).unlink(missing_ok=True)
        return 0

    # -- main loop --------------------------------------------------------------------------
    def _loop(self, listener: socket.socket, wake_r: int) -> None:
        self._reap()
        while True:
            if self.status is not None and (not self.outputs or time.monotonic() - self.exited_at > DRAIN_TIMEOUT):
                self._finish()
                return
            timeout = 0.5 if self.status is not None else None
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
                    self._flush_stdin()
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
            if self.proc is not None and pid == self.proc.pid and self.status is None:
                code = os.waitstatus_to_exitcode(status)
                self.status = 128 - code if code < 0 else code
                self.exited_at = time.monotonic()
                self.finished_at = rfc3339_nano()

    # -- container output ---------------------------------------------------------------------
    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO on a pty master once every slave is closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        stream = self.outputs[fd]
        if not data:
            self.sel.unregister(fd)
            del self.outputs[fd]
            if fd != self.master:
                os.close(fd)
            return
        assert self.log is not None
        self.log.write(stream, data)
        framed = data if self.cfg.tty else _frame(STREAM_IDS[stream], data)
        for conn in list(self.conns.values()):
            if conn.op == "attach" and getattr(conn, stream):
                conn.outbuf += framed
                self._conn_write(conn)

    # -- stdin ----------------------------------------------------------------------------------
    def _flush_stdin(self) -> None:
        if self.stdin_w is None:
            return
        try:
            while self.stdin_buf:
                n = os.write(self.stdin_w, self.stdin_buf)
                del self.stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin
            self.stdin_buf.clear()
        self._update_stdin_interest()
        if not self.stdin_buf and self.stdin_close_pending:
            self._close_stdin()

    def _update_stdin_interest(self) -> None:
        fd = self.stdin_w
        if fd is None or fd == self.master:
            return
        registered = fd in self.sel.get_map()
        if self.stdin_buf and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, "stdin")
        elif not self.stdin_buf and registered:
            self.sel.unregister(fd)

    def _close_stdin(self) -> None:
        self.stdin_close_pending = False
        fd = self.stdin_w
        if fd is None:
            return
        self.stdin_w = None
        if fd == self.master:
            # With a tty, EOF is the terminal's EOF character, as when a user types ^D.
            os.write(fd, b"\x04")
            return
        if fd in self.sel.get_map():
            self.sel.unregister(fd)
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
        if conn.stdin and self.cfg.stdin_once:
            self._request_stdin_close()

    def _request_stdin_close(self) -> None:
        if self.stdin_buf:
            self.stdin_close_pending = True
        else:
            self._close_stdin()

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
        if conn.op != "attach":
            if not data:
                self._drop(conn)
            return
        if not data:  # half-close from the client: stdin EOF
            conn.read_eof = True
            self._update_conn_interest(conn)
            if conn.stdin:
                conn.stdin = False
                if self.cfg.stdin_once:
                    self._request_stdin_close()
            if self.status is not None and not conn.outbuf:
                self._drop(conn)
            return
        if conn.stdin and self.stdin_w is not None:
            if self.stdin_w == self.master:
                try:
                    os.write(self.master, data)
                except OSError:
                    pass
            else:
                self.stdin_buf += data
                self._flush_stdin()

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
            conn.stdout = bool(req.get("stdout"))
            conn.stderr = bool(req.get("stderr"))
            conn.stdin = bool(req.get("stdin")) and self.stdin_w is not None
            # The ack tells kobakod the stream is registered, so it can let the process start
            # knowing no output will be missed.
            conn.outbuf += b'{"ok":true}\n'
            if self.status is not None and not self.outputs:
                conn.closing = True
            self._conn_write(conn)
        elif op == "start":
            self._reply(conn, self._start())
        elif op == "wait":
            if self.status is not None and not self.outputs:
                self._reply(conn, self._exit_info())
        elif op == "kill":
            if self.status is None:
                try:
                    os.kill(self.proc.pid, int(req.get("signal", signal.SIGKILL)))
                except ProcessLookupError:
                    pass
            self._reply(conn, {"ok": True})
        elif op == "resize":
            if self.master is not None:
                _set_winsize(self.master, int(req.get("h", 0)), int(req.get("w", 0)))
            self._reply(conn, {"ok": True})
        elif op == "state":
            status = "stopped" if self.status is not None else ("running" if self.started else "created")
            self._reply(conn, {"pid": self.proc.pid, "status": status, "exit_code": self.status})
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

    # -- exit -----------------------------------------------------------------------------------
    def _exit_info(self) -> dict[str, Any]:
        return {
            "exit_code": self.status,
            "oom_killed": getattr(self, "oom_killed", False),
            "finished_at": getattr(self, "finished_at", rfc3339_nano()),
        }

    def _finish(self) -> None:
        assert self.log is not None
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
        if self.stdin_w is not None and self.stdin_w != self.master:
            os.close(self.stdin_w)
        for conn in list(self.conns.values()):
            if conn.op == "wait":
                conn.outbuf += json.dumps(info).encode() + b"\n"
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


def main(cfg: ShimConfig, ready_fd: int) -> int:
    return Shim(cfg, ready_fd).run()
