"""Several containers' logs as one stream, each line prefixed ``web-1  | `` as compose prints them."""

from __future__ import annotations

import sys
import threading

from kobako.client import demux

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from kobako.client import Client


def display_name(project: str, container_name: str) -> str:
    """``app-web-1`` → ``web-1`` (compose's name without the project; ``app_web_1`` → ``web_1`` in
    compatibility mode); other names as they are."""
    for prefix in (project + "-", project + "_"):
        if container_name.startswith(prefix):
            return container_name[len(prefix):]
    return container_name


class LogPrinter:
    """Writes whole lines from several threads, each with its container's padded prefix."""

    def __init__(self, names: list[str], out: IO[bytes] | None = None, prefix: bool = True) -> None:
        self.width = max((len(n) for n in names), default=0)
        self.out = out or sys.stdout.buffer
        self.prefix = prefix
        self.lock = threading.Lock()

    def line(self, name: str, data: bytes) -> None:
        head = f"{name.ljust(self.width)}  | ".encode() if self.prefix else b""
        with self.lock:
            self.out.write(head + data)
            self.out.flush()

    def message(self, text: str) -> None:
        with self.lock:
            self.out.write(text.encode() + b"\n")
            self.out.flush()


def stream_logs(client: Client, cid: str, name: str, printer: LogPrinter, *, follow: bool, tail: str = "all",
                timestamps: bool = False, tty: bool = False, since: str | None = None) -> None:
    """One container's log, line by line, through ``printer`` (returns at its end)."""
    query: dict[str, Any] = {"stdout": 1, "stderr": 1, "follow": int(follow), "tail": tail,
                             "timestamps": int(timestamps)}
    if since:
        query["since"] = since
    chunks = client.stream("GET", f"/containers/{cid}/logs", query=query)
    pending = {1: b"", 2: b""}
    frames = ((1, c) for c in chunks) if tty else demux(chunks)
    for stream, data in frames:
        buf = pending.get(stream, b"") + data
        *lines, buf = buf.split(b"\n")
        pending[stream] = buf
        for line in lines:
            printer.line(name, line + b"\n")
    for rest in pending.values():
        if rest:
            printer.line(name, rest + b"\n")


def follow_all(client_factory: Any, targets: list[tuple[str, str, bool]], printer: LogPrinter, *, follow: bool,
               tail: str = "all", timestamps: bool = False, since: str | None = None,
               on_end: Any = None) -> list[threading.Thread]:
    """A daemon thread per ``(id, name, tty)``; ``on_end(id, name)`` when a log ends."""
    threads = []
    for cid, name, tty in targets:
        def run(cid: str = cid, name: str = name, tty: bool = tty) -> None:
            client = client_factory()
            try:
                stream_logs(client, cid, name, printer, follow=follow, tail=tail, timestamps=timestamps,
                            tty=tty, since=since)
            except Exception as exc:  # noqa: BLE001 - a container removed under us ends its log
                printer.message(f"{name}: log stream ended: {exc}")
            finally:
                client.close()
                if on_end is not None:
                    on_end(cid, name)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
    return threads
