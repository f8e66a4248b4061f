"""Chunked streaming responses and hijacked connections (attach/exec), with fake handlers."""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kobako.api._hijack import HijackReader
from kobako.api.request import Request
from kobako.api.response import RAW_STREAM, Hijack, Response, StreamResponse
from kobako.api.router import Router
from kobako.api.server import add_ping_routes
from kobako.api.stdcopy import frame
from kobako.api.testing import ServerThread, serve_in_thread
from kobako.client import Client, DaemonError, demux


class Fakes:
    """Handlers plus the hooks a test uses to drive them."""

    def __init__(self) -> None:
        self.release: asyncio.Event | None = None
        self.closed = threading.Event()
        self.seen: list[bytes] = []

    async def container_wait(self, req: Request) -> StreamResponse:
        self.release = asyncio.Event()
        release = self.release

        async def body() -> AsyncIterator[bytes]:
            await release.wait()  # the container "exits"
            yield b'{"StatusCode":0,"Error":null}\n'

        return StreamResponse(body())

    async def system_events(self, req: Request) -> StreamResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield b'{"Type":"container","Action":"start"}\n'
                await asyncio.Event().wait()  # nothing more happens
            finally:
                self.closed.set()

        return StreamResponse(body())

    async def container_logs(self, req: Request) -> StreamResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(3):
                await asyncio.sleep(0.01)
                yield frame(1 + i % 2, b"line %d\n" % i)

        return StreamResponse(body(), "application/vnd.docker.multiplexed-stream")

    async def broken_stream(self, req: Request) -> StreamResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("stream failed")

        return StreamResponse(body())

    async def container_attach(self, req: Request) -> Hijack:
        async def run(reader: HijackReader, writer: asyncio.StreamWriter) -> None:
            data = b""
            while chunk := await reader.read(65536):
                data += chunk
            self.seen.append(data)
            # stdin reached EOF, the "container" still writes its output, then exits
            writer.write(frame(1, data.upper()))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(frame(2, b"bye"))
            await writer.drain()

        return Hijack(run)

    async def exec_start(self, req: Request) -> Response | Hijack:
        opts = req.json()
        if opts.get("Detach"):
            return Response(200, b"", {}, None)

        async def run(reader: HijackReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            writer.write(json.dumps(opts).encode() + b"|" + line)
            await writer.drain()

        return Hijack(run, RAW_STREAM)

    async def hijack_fails(self, req: Request) -> Hijack:
        async def run(reader: HijackReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"before")
            raise RuntimeError("hijack handler bug")

        return Hijack(run)

    async def image_build(self, req: Request) -> StreamResponse:
        """Like POST /build: progress streamed while the context tar is still uploading."""

        async def body() -> AsyncIterator[bytes]:
            total = 0
            async for chunk in req.stream():
                total += len(chunk)
                yield b'{"stream":"got %d"}\r\n' % total
            yield b'{"aux":{"ID":"sha256:%d"}}\r\n' % total

        return StreamResponse(body())

    def router(self) -> Router:
        r = Router()
        r.add("POST", "/build", self.image_build, stream_body=True)
        add_ping_routes(r)
        r.add("POST", "/containers/{id}/wait", self.container_wait)
        r.add("GET", "/events", self.system_events)
        r.add("GET", "/containers/{id}/logs", self.container_logs)
        r.add("GET", "/broken-stream", self.broken_stream)
        r.add("POST", "/containers/{id}/attach", self.container_attach)
        r.add("POST", "/exec/{id}/start", self.exec_start)
        r.add("POST", "/hijack-fails", self.hijack_fails)
        return r


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def srv(fakes: Fakes) -> Iterator[ServerThread]:
    d = tempfile.mkdtemp(prefix="kbk-")
    try:
        with serve_in_thread(fakes.router(), Path(d) / "api.sock") as s:
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


def connect(srv: ServerThread) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(srv.path)
    return s


def read_head(s: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def read_all(s: socket.socket, initial: bytes = b"") -> bytes:
    out = initial
    while chunk := s.recv(65536):
        out += chunk
    return out


def release(srv: ServerThread, fakes: Fakes) -> None:
    async def go() -> None:
        assert fakes.release is not None
        fakes.release.set()

    srv.call(go())


# -- streaming -----------------------------------------------------------------


def test_stream_headers_before_first_chunk(srv: ServerThread, fakes: Fakes) -> None:
    with connect(srv) as s:
        s.sendall(b"POST /v1.50/containers/c1/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\r\n")
        head, rest = read_head(s)  # arrives although the body generator is still blocked
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        assert b"api-version: 1.50" in head.lower()
        assert rest == b""
        release(srv, fakes)
        body = rest
        while not body.endswith(b"0\r\n\r\n"):
            body += s.recv(65536)
        assert b'{"StatusCode":0,"Error":null}\n' in body


def test_client_stream_returns_at_headers(srv: ServerThread, fakes: Fakes) -> None:
    chunks = Client(srv.host).stream("POST", "/containers/c1/wait", query={"condition": "removed"})
    release(srv, fakes)  # only reachable because stream() returned before the body
    assert json.loads(b"".join(chunks)) == {"StatusCode": 0, "Error": None}


def test_stream_closed_when_client_leaves(srv: ServerThread, fakes: Fakes) -> None:
    with connect(srv) as s:
        s.sendall(b"GET /v1.50/events HTTP/1.1\r\nHost: x\r\n\r\n")
        _, rest = read_head(s)
        while b"start" not in rest:
            rest += s.recv(65536)
    assert fakes.closed.wait(5), "the event generator was not closed after the client left"


def test_stream_then_keep_alive(srv: ServerThread) -> None:
    with Client(srv.host) as c:
        assert c.request("GET", "/_ping")[2] == b"OK"
        conn = c._conn
        assert conn is not None
        status, headers, body = c.request("GET", "/containers/c1/logs", query={"follow": 1, "stdout": 1})
        assert status == 200
        assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert list(demux([body])) == [(1, b"line 0\n"), (2, b"line 1\n"), (1, b"line 2\n")]
        assert c.request("GET", "/_ping")[2] == b"OK"
        assert c._conn is conn


def test_client_stream_demux(srv: ServerThread) -> None:
    chunks = Client(srv.host).stream("GET", "/containers/c1/logs", query={"follow": True})
    assert list(demux(chunks)) == [(1, b"line 0\n"), (2, b"line 1\n"), (1, b"line 2\n")]


def test_stream_failure_aborts_the_response(srv: ServerThread) -> None:
    with pytest.raises(http.client.IncompleteRead):
        b"".join(Client(srv.host).stream("GET", "/broken-stream"))
    assert Client(srv.host).request("GET", "/_ping")[0] == 200


def test_streamed_upload_with_streamed_progress(srv: ServerThread) -> None:
    c = Client(srv.host)
    objs = list(c.jsonlines("POST", "/build", query={"t": "x"}, body=iter([b"a" * 1000] * 50),
                            headers={"Content-Type": "application/x-tar"}))
    assert objs[-1] == {"aux": {"ID": "sha256:50000"}}
    assert all("stream" in o for o in objs[:-1])


# -- hijack ---------------------------------------------------------------------

ATTACH = (b"POST /v1.50/containers/c1/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
          b"Host: x\r\nContent-Type: text/plain\r\n")


def test_hijack_upgrade_half_close(srv: ServerThread, fakes: Fakes) -> None:
    """`echo x | docker run -i img cat`: stdin EOF, then output still arrives."""
    with connect(srv) as s:
        s.sendall(ATTACH + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        head, rest = read_head(s)
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 101 UPGRADED"
        assert b"Content-Type: application/vnd.docker.multiplexed-stream" in lines
        assert b"Connection: Upgrade" in lines and b"Upgrade: tcp" in lines
        assert b"Api-Version: 1.50" in lines
        s.sendall(b"hello\n")
        s.shutdown(socket.SHUT_WR)
        out = read_all(s, rest)
    assert fakes.seen == [b"hello\n"]
    assert out == frame(1, b"HELLO\n") + frame(2, b"bye")


def test_hijack_bytes_sent_with_the_request(srv: ServerThread, fakes: Fakes) -> None:
    """Stdin bytes in the same packet as the request reach the handler (h11 trailing data)."""
    with connect(srv) as s:
        s.sendall(ATTACH + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly bytes")
        s.shutdown(socket.SHUT_WR)
        head, rest = read_head(s)
        out = read_all(s, rest)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert fakes.seen == [b"early bytes"]
    assert out == frame(1, b"EARLY BYTES") + frame(2, b"bye")


def test_hijack_legacy_without_upgrade(srv: ServerThread, fakes: Fakes) -> None:
    with connect(srv) as s:
        s.sendall(ATTACH + b"\r\n")
        head, rest = read_head(s)
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"Content-Type: application/vnd.docker.multiplexed-stream" in lines
        assert not any(line.lower().startswith((b"content-length", b"transfer-encoding")) for line in lines)
        s.sendall(b"abc")
        s.shutdown(socket.SHUT_WR)
        out = read_all(s, rest)
    assert out == frame(1, b"ABC") + frame(2, b"bye")


def test_client_hijack_and_demux(srv: ServerThread, fakes: Fakes) -> None:
    conn = Client(srv.host).hijack("POST", "/containers/c1/attach",
                                   query={"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1})
    with conn:
        assert conn.status == 101
        assert conn.content_type == "application/vnd.docker.multiplexed-stream"
        conn.sendall(b"x\n")
        conn.shutdown_write()
        assert list(demux(conn)) == [(1, b"X\n"), (2, b"bye")]


def test_client_hijack_exec_with_json_body(srv: ServerThread) -> None:
    c = Client(srv.host)
    with c.hijack("POST", "/exec/e1/start", body={"Detach": False, "Tty": True}) as conn:
        assert conn.content_type == "application/vnd.docker.raw-stream"
        conn.sendall(b"ls\n")
        out = conn.initial
        conn.initial = b""
        while chunk := conn.sock.recv(65536):
            out += chunk
    assert out == b'{"Detach": false, "Tty": true}|ls\n'
    # Detach=true is an ordinary response on the same route
    assert c.request("POST", "/exec/e1/start", body={"Detach": True})[0] == 200


def test_client_hijack_error_status(srv: ServerThread) -> None:
    with pytest.raises(DaemonError) as info:
        Client(srv.host).hijack("POST", "/v1.99/containers/c1/attach")
    assert info.value.status == 400
    assert "too new" in info.value.message
    with pytest.raises(DaemonError, match="page not found"):
        Client(srv.host).hijack("POST", "/containers/c1/nope")


def test_hijack_handler_failure_closes_connection(srv: ServerThread) -> None:
    with connect(srv) as s:
        s.sendall(b"POST /hijack-fails HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        head, rest = read_head(s)
        assert head.startswith(b"HTTP/1.1 101")
        assert read_all(s, rest) == b"before"
    assert Client(srv.host).request("GET", "/_ping")[0] == 200
