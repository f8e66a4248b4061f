"""``POST /build``'s relay (``api/routes/build.py``) over a real socket, with a fake backend: the
lines of a burst go out together, a failure is the last line, a client that leaves cancels the
build, and the context is closed in every case."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kobako.api.router import Router
from kobako.api.routes.build import add_build_routes
from kobako.api.testing import ServerThread, serve_in_thread
from kobako.client import Client
from kobako.errors import InvalidArgument


class FakeContext:
    def __init__(self, closed: threading.Event) -> None:
        self._closed = closed

    def close(self) -> None:
        self._closed.set()


class FakeBuilds:
    """``t`` picks the behaviour: ``burst`` (every line at once), ``slow`` (lines with pauses),
    ``fail`` (a line, then a KobakoError), ``crash`` (a line, then a bug), ``hang`` (a line, then
    waits until cancelled)."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.cancelled = threading.Event()
        self.started = threading.Event()

    async def receive(self, body: AsyncIterator[bytes]) -> FakeContext:
        async for _ in body:
            pass
        return FakeContext(self.closed)

    def validate(self, opts: dict[str, Any]) -> None:
        return None

    async def build(self, context: FakeContext, opts: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> str:
        mode = opts["tags"][0]
        self.started.set()
        emit({"stream": "Step 1/2 : FROM scratch\n"})
        if mode == "burst":
            for i in range(50):
                emit({"stream": f" ---> line {i}\n"})
        elif mode == "slow":
            for i in range(3):
                await asyncio.sleep(0.02)
                emit({"stream": f"slow {i}\n"})
        elif mode == "fail":
            raise InvalidArgument("Dockerfile:2: it failed")
        elif mode == "crash":
            raise RuntimeError("a bug")
        elif mode == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        emit({"aux": {"ID": "sha256:" + "a" * 64}})
        return "sha256:" + "a" * 64

    def prune(self) -> dict[str, Any]:
        return {}

    def history(self, name: str) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def builds() -> FakeBuilds:
    return FakeBuilds()


@pytest.fixture
def srv(builds: FakeBuilds) -> Iterator[ServerThread]:
    router = Router()
    add_build_routes(router, builds)
    d = tempfile.mkdtemp(prefix="kbb-")
    try:
        with serve_in_thread(router, Path(d) / "api.sock") as s:
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _build(srv: ServerThread, mode: str) -> list[dict[str, Any]]:
    return list(Client(srv.host).jsonlines("POST", "/build", query={"t": mode}, body=iter([b"x" * 100]),
                                           headers={"Content-Type": "application/x-tar"}))


def test_burst_slow_and_keep_alive(srv: ServerThread, builds: FakeBuilds) -> None:
    objs = _build(srv, "burst")
    assert objs[0] == {"stream": "Step 1/2 : FROM scratch\n"}
    assert [o["stream"] for o in objs[1:-1]] == [f" ---> line {i}\n" for i in range(50)]
    assert objs[-1] == {"aux": {"ID": "sha256:" + "a" * 64}}
    assert builds.closed.wait(5)
    assert [o.get("stream") for o in _build(srv, "slow")][1:4] == ["slow 0\n", "slow 1\n", "slow 2\n"]
    with Client(srv.host) as c:  # the connection is reusable after a build's stream
        for mode in ("burst", "slow"):
            objs = list(c.jsonlines("POST", "/build", query={"t": mode}, body=b"ctx"))
            assert objs[-1] == {"aux": {"ID": "sha256:" + "a" * 64}}


@pytest.mark.parametrize("mode, message", [("fail", "Dockerfile:2: it failed"), ("crash", "a bug")])
def test_failure_is_the_last_line(srv: ServerThread, builds: FakeBuilds, mode: str, message: str) -> None:
    objs = _build(srv, mode)
    assert objs[0] == {"stream": "Step 1/2 : FROM scratch\n"}
    assert objs[-1] == {"errorDetail": {"message": message}, "error": message}
    assert len(objs) == 2
    assert builds.closed.wait(5)


def test_a_client_that_leaves_cancels_the_build(srv: ServerThread, builds: FakeBuilds) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(srv.path)
    s.sendall(b"POST /build?t=hang HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nctx")
    buf = b""
    while b"FROM scratch" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    assert buf.startswith(b"HTTP/1.1 200 ")
    line = next(x for x in buf.split(b"\r\n") if b"FROM scratch" in x)
    assert json.loads(line) == {"stream": "Step 1/2 : FROM scratch\n"}
    assert not builds.cancelled.is_set()
    s.close()
    assert builds.cancelled.wait(5), "the build was not cancelled when the client left"
    assert builds.closed.wait(5)
    assert _build(srv, "burst")[-1] == {"aux": {"ID": "sha256:" + "a" * 64}}  # the server is fine
