"""Run a :class:`~kobako.api.server.Server` in a background thread, for tests with fake handlers.

    with serve_in_thread(router, sock_path) as srv:
        Client(srv.host).json("GET", "/version")
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kobako.api.router import Router
from kobako.api.server import Server


class ServerThread:
    def __init__(self, router: Router, hosts: list[str], **server_kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._hosts = hosts
        self._kw = server_kw
        self._router = router
        self.server: Server | None = None
        self._thread = threading.Thread(target=self._run, name="kobako-api-test", daemon=True)

    @property
    def host(self) -> str:
        assert self.server is not None
        return self.server.addresses[0]

    @property
    def path(self) -> str:
        """The unix socket path of the first address."""
        return self.host.removeprefix("unix://")

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def boot() -> None:
            self.server = Server(self._router, **self._kw)
            await self.server.start(self._hosts)

        try:
            self.loop.run_until_complete(boot())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def call(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.server is not None and self.loop.is_running():
            with contextlib.suppress(Exception):
                self.call(self.server.close())
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def serve_in_thread(router: Router, sock: str | Path, **server_kw: Any) -> Iterator[ServerThread]:
    """``sock`` is a unix socket path, or a full host such as ``tcp://127.0.0.1:0``."""
    host = str(sock) if "://" in str(sock) else f"unix://{sock}"
    srv = ServerThread(router, [host], **server_kw).start()
    try:
        yield srv
    finally:
        srv.stop()
