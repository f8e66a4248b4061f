"""The server over a real unix socket, with fake handlers (no daemon).

Table style after podman's test/apiv2: ``(method, path) → status, body``.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kobako.api.request import Request
from kobako.api.response import Response, json_response, no_content
from kobako.api.router import Router
from kobako.api.server import add_ping_routes
from kobako.api.testing import ServerThread, serve_in_thread
from kobako.errors import Conflict, InvalidArgument, NoSuchContainer, NotModified

MAX_BODY = 4096

# -- fake handlers ---------------------------------------------------------------


async def system_version(req: Request) -> Response:
    return json_response({"ApiVersion": "1.50", "MinAPIVersion": "1.24", "Asked": req.api_version})


async def container_inspect(req: Request) -> Response:
    if req.params["id"] == "web":
        return json_response({"Id": "0" * 64, "Name": "/web"})
    raise NoSuchContainer(req.params["id"])


async def container_start(req: Request) -> Response:
    if req.params["id"] == "running":
        raise NotModified("container already started")
    return no_content()


async def container_remove(req: Request) -> Response:
    raise Conflict(f"You cannot remove a running container {req.params['id']}")


async def container_create(req: Request) -> Response:
    body = req.json()
    if "Image" not in body:
        raise InvalidArgument("config cannot be empty in order to create a container")
    return json_response({"Id": "c" * 64, "Warnings": [], "Name": req.q("name")}, 201)


async def image_inspect(req: Request) -> Response:
    return json_response({"Name": req.params["name"]})


async def echo(req: Request) -> Response:
    return json_response({"path": req.path, "query": dict(req.query), "len": len(req.body),
                          "headers": dict(req.headers), "body": req.body.decode("latin-1")})


async def image_load(req: Request) -> Response:
    size = 0
    async for chunk in req.stream():
        size += len(chunk)
    return json_response({"received": size, "body": len(req.body)})


async def broken(req: Request) -> Response:
    raise RuntimeError("handler bug")


def make_router() -> Router:
    r = Router()
    add_ping_routes(r)
    r.add("GET", "/version", system_version)
    r.add("GET", "/containers/{id}/json", container_inspect)
    r.add("POST", "/containers/{id}/start", container_start)
    r.add("DELETE", "/containers/{id}", container_remove)
    r.add("POST", "/containers/create", container_create)
    r.add("GET", "/images/{name:path}/json", image_inspect)
    r.add("POST", "/echo", echo)
    r.add("GET", "/echo", echo)
    r.add("POST", "/images/load", image_load, stream_body=True)
    r.add("GET", "/broken", broken)
    return r


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    d = tempfile.mkdtemp(prefix="kbk-")
    try:
        with serve_in_thread(make_router(), Path(d) / "api.sock", max_body=MAX_BODY) as s:
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def call(srv: ServerThread, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = UnixHTTPConnection(srv.path)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def raw(srv: ServerThread, data: bytes, *, wait_close: bool = True) -> bytes:
    """Send bytes, read until the server closes (or goes quiet for 1 s)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1 if not wait_close else 10)
        s.connect(srv.path)
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


# -- tables ----------------------------------------------------------------------

MSG = "message"
CASES = [
    # method, path, body, status, expected JSON subset (or raw bytes)
    ("GET", "/_ping", None, 200, b"OK"),
    ("GET", "/v1.50/_ping", None, 200, b"OK"),
    ("GET", "/version", None, 200, {"ApiVersion": "1.50", "Asked": None}),
    ("GET", "/v1.50/version", None, 200, {"Asked": "1.50"}),
    ("GET", "/v1.24/version", None, 200, {"Asked": "1.24"}),
    ("GET", "/v1.44/version", None, 200, {"Asked": "1.44"}),
    ("GET", "/v1.23/version", None, 400, {MSG: "client version 1.23 is too old. Minimum supported API "
                                          "version is 1.24, please upgrade your client to a newer version"}),
    ("GET", "/v1.12/_ping", None, 400, {MSG: "client version 1.12 is too old. Minimum supported API "
                                        "version is 1.24, please upgrade your client to a newer version"}),
    ("GET", "/v1.51/version", None, 400,
     {MSG: "client version 1.51 is too new. Maximum supported API version is 1.50"}),
    ("GET", "/v2.0/version", None, 400,
     {MSG: "client version 2.0 is too new. Maximum supported API version is 1.50"}),
    ("GET", "/v1..2/version", None, 400, {MSG: "invalid API version: 1..2"}),
    ("GET", "/nope", None, 404, {MSG: "page not found"}),
    ("GET", "/v1.50/nope", None, 404, {MSG: "page not found"}),
    ("POST", "/version", b"{}", 405, {}),
    ("GET", "/v1.50/containers/web/json", None, 200, {"Name": "/web"}),
    ("GET", "/v1.50/containers/db/json", None, 404, {MSG: "No such container: db"}),
    ("POST", "/v1.50/containers/x/start", None, 204, b""),
    ("POST", "/v1.50/containers/running/start", None, 304, b""),
    ("DELETE", "/v1.50/containers/web", None, 409, {MSG: "You cannot remove a running container web"}),
    ("POST", "/v1.50/containers/create?name=a", b'{"Image":"busybox"}', 201, {"Name": "a"}),
    ("POST", "/v1.50/containers/create", b"{}", 400,
     {MSG: "config cannot be empty in order to create a container"}),
    ("POST", "/v1.50/containers/create", b"not json", 400, {}),
    ("POST", "/v1.50/containers/create", b"", 400, {MSG: "invalid JSON: request body is empty"}),
    ("GET", "/v1.50/images/docker.io/library/alpine:3.20/json", None, 200,
     {"Name": "docker.io/library/alpine:3.20"}),
    ("GET", "/v1.50/images/localhost:5000/ns/app/json", None, 200, {"Name": "localhost:5000/ns/app"}),
    ("GET", "/v1.50/images/sha256%3Aabc/json", None, 200, {"Name": "sha256:abc"}),
    ("GET", "/v1.50/broken", None, 500, {MSG: "handler bug"}),
    ("GET", "/echo?a=1&a=2&b=&c=x%20y", None, 200, {"path": "/echo", "query": {"a": ["1", "2"], "b": [""],
                                                                              "c": ["x y"]}}),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "expected"), CASES,
                         ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES])
def test_table(srv: ServerThread, method: str, path: str, body: bytes | None, status: int,
               expected: object) -> None:
    got_status, headers, data = call(srv, method, path, body)
    assert got_status == status, data
    # Every response carries the version headers.
    assert headers["api-version"] == "1.50"
    assert headers["ostype"] == "linux"
    assert headers["server"] == "kobako/0.1.0"
    assert headers["docker-experimental"] == "false"
    if isinstance(expected, bytes):
        assert data == expected
    else:
        assert headers["content-type"] == "application/json"
        obj = json.loads(data)
        assert isinstance(obj, dict) and isinstance(expected, dict)
        assert {k: obj.get(k) for k in expected} == expected
        if status >= 400:
            assert isinstance(obj[MSG], str) and obj[MSG]


def test_405_has_allow_header(srv: ServerThread) -> None:
    status, headers, _ = call(srv, "PUT", "/version")
    assert status == 405
    assert headers["allow"] == "GET"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_headers(srv: ServerThread, method: str) -> None:
    status, headers, data = call(srv, method, "/_ping")
    assert status == 200
    assert data == (b"OK" if method == "GET" else b"")
    assert headers["content-type"].startswith("text/plain")
    for name, value in {
        "api-version": "1.50", "builder-version": "1", "swarm": "inactive",
        "cache-control": "no-cache, no-store, must-revalidate", "pragma": "no-cache",
        "docker-experimental": "false", "ostype": "linux",
    }.items():
        assert headers[name] == value, name


def test_head_falls_back_to_get_without_body(srv: ServerThread) -> None:
    status, headers, data = call(srv, "HEAD", "/v1.50/containers/web/json")
    assert status == 200
    assert data == b""
    assert int(headers["content-length"]) > 0  # the GET body's length


def test_server_survives_handler_exception(srv: ServerThread) -> None:
    for _ in range(3):
        assert call(srv, "GET", "/broken")[0] == 500
        assert call(srv, "GET", "/_ping")[0] == 200


def test_keep_alive_two_requests_one_connection(srv: ServerThread) -> None:
    conn = UnixHTTPConnection(srv.path)
    try:
        conn.request("GET", "/v1.50/version")
        first = conn.getresponse()
        assert first.status == 200 and json.loads(first.read())["Asked"] == "1.50"
        sock = conn.sock
        conn.request("GET", "/v1.50/containers/nope/json")
        second = conn.getresponse()
        assert second.status == 404
        assert json.loads(second.read()) == {"message": "No such container: nope"}
        assert conn.sock is sock  # same socket: kept alive
        conn.request("POST", "/echo", body=b"abc")
        assert json.loads(conn.getresponse().read())["body"] == "abc"
        assert conn.sock is sock
    finally:
        conn.close()


def test_keep_alive_after_error_reply_with_unread_body(srv: ServerThread) -> None:
    """A 404 for a POST with a body: the server drains it and the connection stays usable."""
    conn = UnixHTTPConnection(srv.path)
    try:
        conn.request("POST", "/v1.50/nope", body=b"x" * 1000)
        assert conn.getresponse().read() and True
        sock = conn.sock
        conn.request("GET", "/_ping")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"OK")
        assert conn.sock is sock
    finally:
        conn.close()


def test_pipelined_requests_on_raw_socket(srv: ServerThread) -> None:
    req = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    out = raw(srv, req + req + b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert out.endswith(b"OK")


def test_request_headers_lowercased_and_joined(srv: ServerThread) -> None:
    out = raw(srv, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Registry-Auth: e30=\r\nX-Multi: a\r\n"
                   b"X-Multi: b\r\nConnection: close\r\n\r\n")
    body = json.loads(out.partition(b"\r\n\r\n")[2])
    assert body["headers"]["x-registry-auth"] == "e30="
    assert body["headers"]["x-multi"] == "a, b"


def test_body_limit_content_length(srv: ServerThread) -> None:
    status, _, data = call(srv, "POST", "/echo", b"x" * (MAX_BODY + 1))
    assert status == 413
    assert json.loads(data) == {"message": f"request body too large: the limit is {MAX_BODY} bytes"}
    status, _, data = call(srv, "POST", "/echo", b"x" * MAX_BODY)
    assert status == 200 and json.loads(data)["len"] == MAX_BODY


def test_body_limit_chunked(srv: ServerThread) -> None:
    chunk = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    out = raw(srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 413 ")
    assert b"request body too large" in out


def test_chunked_request_body(srv: ServerThread) -> None:
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    out = raw(srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(out.partition(b"\r\n\r\n")[2])["body"] == "hello world"


def test_streamed_upload_is_not_limited(srv: ServerThread) -> None:
    size = MAX_BODY * 50
    status, _, data = call(srv, "POST", "/images/load", b"t" * size,
                           {"Content-Type": "application/x-tar"})
    assert status == 200
    assert json.loads(data) == {"received": size, "body": 0}


def test_expect_100_continue(srv: ServerThread) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(srv.path)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        s.sendall(b"hello")
        out = b""
        while b'"body"' not in out:
            out += s.recv(65536)
        assert b"HTTP/1.1 200 OK" in out and b'"body":"hello"' in out


def test_expect_100_continue_refused_when_too_large(srv: ServerThread) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(srv.path)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        assert out.startswith(b"HTTP/1.1 413 ")  # no 100 Continue first
        assert b"connection: close" in out.lower()


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"],
)
def test_malformed_http_gets_400_and_close(srv: ServerThread, request_bytes: bytes) -> None:
    started = time.monotonic()
    out = raw(srv, request_bytes)
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert time.monotonic() - started < 5  # closed by the server, not by our timeout
    assert call(srv, "GET", "/_ping")[0] == 200


def test_http10_client(srv: ServerThread) -> None:
    out = raw(srv, b"GET /_ping HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\nOK")
