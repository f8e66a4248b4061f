"""kobako.client against a Server with fake handlers, plus its stdlib-only import."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kobako.api.jsonstream import aux_line, error_line, status_line
from kobako.api.request import Request
from kobako.api.response import Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.api.server import add_ping_routes
from kobako.api.testing import serve_in_thread
from kobako.client import DEFAULT_HOST, Client, DaemonError, DaemonUnreachable, encode_query, resolve_host
from kobako.errors import NoSuchImage


async def echo(req: Request) -> Response:
    return json_response({"method": req.method, "target": req.target, "path": req.path,
                          "version": req.api_version, "body": req.body.decode(),
                          "ctype": req.headers.get("content-type"), "te": req.headers.get("transfer-encoding")})


async def image_inspect(req: Request) -> Response:
    raise NoSuchImage(req.params["name"])


async def image_create(req: Request) -> StreamResponse:
    async def body() -> AsyncIterator[bytes]:
        yield status_line("Pulling from library/alpine", id="latest")
        yield status_line("Downloading", id="abc", current=5, total=10)[:20]  # split mid-line
        yield status_line("Downloading", id="abc", current=5, total=10)[20:]
        yield aux_line({"ID": "sha256:x"})
        yield error_line("manifest unknown")

    return StreamResponse(body())


async def text_error(req: Request) -> Response:
    return Response(502, b"bad gateway text")


def make_router() -> Router:
    r = Router()
    add_ping_routes(r)
    for method in ("GET", "POST", "PUT", "DELETE"):
        r.add(method, "/echo", echo)
    r.add("GET", "/images/{name:path}/json", image_inspect)
    r.add("POST", "/images/create", image_create)
    r.add("GET", "/text-error", text_error)
    return r


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="kbk-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(sockdir: Path) -> Iterator[Client]:
    with serve_in_thread(make_router(), sockdir / "api.sock") as srv, Client(srv.host) as c:
        yield c


# -- host resolution ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "env", "expected"),
    [
        ("unix:///a.sock", {"KOBAKO_HOST": "unix:///b.sock"}, "unix:///a.sock"),
        (None, {"KOBAKO_HOST": "unix:///b.sock", "DOCKER_HOST": "unix:///c.sock"}, "unix:///b.sock"),
        (None, {"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "tcp://127.0.0.1:2375"),
        (None, {}, "unix:///run/kobako/kobako.sock"),
    ],
)
def test_resolve_host(monkeypatch: pytest.MonkeyPatch, arg: str | None, env: dict[str, str],
                      expected: str) -> None:
    monkeypatch.delenv("KOBAKO_HOST", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert resolve_host(arg) == expected
    assert Client(arg).host == expected
    assert DEFAULT_HOST == "unix:///run/kobako/kobako.sock"


def test_bad_host() -> None:
    with pytest.raises(ValueError, match="unsupported host"):
        Client("ssh://me@box")


@pytest.mark.parametrize(
    ("query", "encoded"),
    [
        ({"all": True, "size": False}, "all=1&size=0"),
        ({"filters": {"label": ["a=b"]}}, "filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"),
        ({"t": ["a:1", "b:2"], "skip": None}, "t=a%3A1&t=b%3A2"),
        ([("fromImage", "docker.io/library/alpine"), ("tag", "latest")],
         "fromImage=docker.io%2Flibrary%2Falpine&tag=latest"),
        (None, ""),
    ],
)
def test_encode_query(query: object, encoded: str) -> None:
    assert encode_query(query) == encoded  # type: ignore[arg-type]


# -- unreachable ------------------------------------------------------------------


def test_missing_socket(sockdir: Path) -> None:
    host = f"unix://{sockdir}/nope.sock"
    with pytest.raises(DaemonUnreachable) as info:
        Client(host).json("GET", "/version")
    assert str(info.value) == f"Cannot connect to the kobako daemon at {host}. Is the kobako daemon running?"


def test_refused_socket(sockdir: Path) -> None:
    path = sockdir / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens
    with pytest.raises(DaemonUnreachable, match="Is the kobako daemon running"):
        Client(f"unix://{path}").hijack("POST", "/containers/x/attach")
    with pytest.raises(DaemonUnreachable):
        list(Client(f"unix://{path}").stream("GET", "/events"))


# -- requests ---------------------------------------------------------------------


def test_request_versioned_and_json_body(client: Client) -> None:
    status, headers, data = client.request("POST", "/echo", query={"a": 1}, body={"Image": "busybox"})
    assert status == 200 and headers["api-version"] == "1.50"
    obj = json.loads(data)
    assert obj["target"] == "/v1.50/echo?a=1"
    assert obj["version"] == "1.50"
    assert json.loads(obj["body"]) == {"Image": "busybox"}
    assert obj["ctype"] == "application/json"


def test_already_versioned_path_is_kept(client: Client) -> None:
    assert client.json("GET", "/v1.44/echo")["version"] == "1.44"


def test_iterable_body_is_sent_chunked(client: Client) -> None:
    obj = client.json("PUT", "/echo", body=iter([b"ab", b"cd"]), headers={"Content-Type": "application/x-tar"})
    assert obj["body"] == "abcd"
    assert obj["te"] == "chunked"
    assert obj["ctype"] == "application/x-tar"


def test_json_raises_daemon_error(client: Client) -> None:
    with pytest.raises(DaemonError) as info:
        client.json("GET", "/images/docker.io/library/nope:1/json")
    assert info.value.status == 404
    assert info.value.message == "No such image: docker.io/library/nope:1"
    assert str(info.value) == "No such image: docker.io/library/nope:1"
    with pytest.raises(DaemonError, match="bad gateway text") as info:
        client.json("GET", "/text-error")
    assert info.value.status == 502
    with pytest.raises(DaemonError, match="too old"):
        client.json("GET", "/v1.20/echo")


def test_jsonlines(client: Client) -> None:
    objs = list(client.jsonlines("POST", "/images/create", query={"fromImage": "alpine", "tag": "latest"}))
    assert objs == [
        {"status": "Pulling from library/alpine", "id": "latest"},
        {"status": "Downloading", "id": "abc", "progressDetail": {"current": 5, "total": 10}},
        {"aux": {"ID": "sha256:x"}},
        {"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"},
    ]


def test_stream_error_status(client: Client) -> None:
    with pytest.raises(DaemonError, match="No such image: x"):
        client.stream("GET", "/images/x/json")


def test_ping(client: Client) -> None:
    headers = client.ping()
    assert headers["api-version"] == "1.50"
    assert headers["swarm"] == "inactive"


def test_reconnects_after_daemon_restart(sockdir: Path) -> None:
    path = sockdir / "api.sock"
    with serve_in_thread(make_router(), path) as srv:
        c = Client(srv.host)
        assert c.json("GET", "/echo")["path"] == "/echo"
    with serve_in_thread(make_router(), path):
        assert c.json("GET", "/echo")["path"] == "/echo"  # stale kept-alive connection retried
    c.close()


def test_tcp_loopback(sockdir: Path) -> None:
    with serve_in_thread(make_router(), "tcp://127.0.0.1:0") as srv:
        assert srv.host.startswith("tcp://127.0.0.1:")
        assert Client(srv.host).json("GET", "/echo")["version"] == "1.50"


def test_import_is_lean() -> None:
    code = "import kobako.client, sys; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).stdout
    modules = set(eval(out))
    for banned in ("asyncio", "ctypes", "h11", "kobako.api.server", "kobako.daemon"):
        assert banned not in modules, banned
    # the client speaks HTTP itself (kobako.client._http): http.client would bring ssl and email,
    # some 40 ms of every CLI command; urllib.parse and dataclasses cost milliseconds more
    for banned in ("http.client", "ssl", "email", "urllib.parse", "dataclasses", "inspect"):
        assert banned not in modules, banned
