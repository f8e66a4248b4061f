"""The client half of a hijacked stream (run, start -a, attach, exec): stdin, output, raw tty,
window size, detach keys, signal proxying.

The daemon detaches when it sees the detach sequence on a tty's stdin (as dockerd does), so any
client can detach; this side only watches the bytes it sends, to know that the stream ended
because the user detached (exit 0, the process keeps running) rather than because it exited.

``exec C true`` and ``run`` come through here on the CLI's fast path: ``threading``, ``termios`` and
``os`` are imported only by the parts that need them (stdin, a tty), and signals are handled through
``_signal`` (the ``signal`` module builds ``IntEnum``s of every signal when imported).
"""

from __future__ import annotations

import sys

from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL = ["ctrl-@", *(f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)),
         "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def detach_key_bytes(keys: str | None) -> bytes:
    """Docker's ``--detach-keys`` syntax ("ctrl-p,ctrl-q", "ctrl-a,x") as bytes."""
    out = bytearray()
    for key in (keys or DEFAULT_DETACH_KEYS).split(","):
        if len(key) == 1:
            out += key.encode()
        elif key.lower() in _CTRL:
            out.append(_CTRL.index(key.lower()))
        elif key == "DEL":
            out.append(127)
        else:
            raise CommandError(f"Invalid detach keys ({keys}) provided: Unknown character: '{key}'", 125)
    return bytes(out)


def terminal_size() -> tuple[int, int] | None:
    import os

    for fd in (1, 0, 2):
        try:
            size = os.get_terminal_size(fd)
            return size.lines, size.columns
        except OSError:
            continue
    return None


class _Watcher:
    """Notices the detach sequence in what the user types (without holding anything back)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0
        self.seen = False

    def feed(self, data: bytes) -> None:
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.seen = True
                    self.matched = 0
            else:
                self.matched = 1 if b == self.keys[0] else 0


def pump_stdin(conn: Any, watcher: _Watcher | None) -> None:
    import os

    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            if watcher is not None:
                watcher.feed(data)
            conn.sendall(data)
            if watcher is not None and watcher.seen:
                return  # the daemon ends the stream; keep the process' stdin open
    except OSError:
        pass
    conn.shutdown_write()


def copy_output(conn: Any, tty: bool) -> None:
    out = sys.stdout.buffer
    if tty or "raw-stream" in conn.content_type:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            out.write(data)
            out.flush()
    from kobako.client import demux

    err = sys.stderr.buffer
    try:
        for stream, data in demux(conn):
            target = err if stream == 2 else out
            target.write(data)
            target.flush()
    except OSError:
        return


def stream(conn: Any, *, tty: bool, stdin: bool, detach_keys: str | None) -> bool:
    """Pump stdin (when ``stdin``) and copy output until the daemon closes the stream.

    Returns True when the user typed the detach sequence (tty only, as in Docker).
    """
    watcher = _Watcher(detach_key_bytes(detach_keys)) if tty and stdin else None
    if stdin:
        import threading

        threading.Thread(target=pump_stdin, args=(conn, watcher), daemon=True).start()
    copy_output(conn, tty)
    return bool(watcher and watcher.seen)


class Terminal:
    """Raw mode on the user's terminal for a tty session, and SIGWINCH → ``resize(h, w)``."""

    def __init__(self, enabled: bool, resize: Callable[[int, int], None] | None) -> None:
        if enabled:
            import os

            enabled = os.isatty(0)
        self.enabled = enabled
        self.resize = resize
        self._old: Any = None
        self._old_handler: Any = None

    def __enter__(self) -> Terminal:
        if self.enabled:
            import termios
            import tty

            self._old = termios.tcgetattr(0)
            tty.setraw(0)
        if self.resize is not None and terminal_size() is not None:
            import _signal

            self._send_size()
            self._old_handler = _signal.signal(_signal.SIGWINCH, lambda *_: self._send_size())
        return self

    def _send_size(self) -> None:
        size = terminal_size()
        if size is None or self.resize is None:
            return
        try:
            self.resize(*size)
        except Exception:  # noqa: BLE001 - a lost resize must never end the session
            pass

    def __exit__(self, *exc: object) -> None:
        if self._old_handler is not None:
            import _signal

            _signal.signal(_signal.SIGWINCH, self._old_handler)
        if self._old is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._old)


def proxy_signals(kill: Callable[[str], None]) -> Callable[[], None]:
    """Forward the usual signals to the container (``--sig-proxy``); returns the undo function."""
    import _signal

    old: dict[int, Any] = {}
    names = {getattr(_signal, name): name for name in PROXIED_SIGNALS}

    def handler(signo: int, _frame: object) -> None:
        try:
            kill(names[signo])
        except Exception:  # noqa: BLE001 - the container may be gone already
            pass

    for sig in names:
        old[sig] = _signal.signal(sig, handler)

    def undo() -> None:
        for sig, h in old.items():
            _signal.signal(sig, h)

    return undo
