"""Request helpers and Router matching, without a socket."""

from __future__ import annotations

import asyncio

import pytest

from kobako.api.request import Request
from kobako.api.router import Router
from kobako.errors import InvalidArgument


def _req(query: dict[str, list[str]] | None = None, body: bytes = b"", version: str | None = None) -> Request:
    return Request("GET", "/x", version, query or {}, {}, {}, body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("True", True), ("yes", True), ("0", False), ("false", False),
     ("False", False), ("", False), ("no", False), ("none", False), (" 1 ", True)],
)
def test_qbool(value: str, expected: bool) -> None:
    assert _req({"all": [value]}).qbool("all") is expected


def test_qbool_absent_uses_default() -> None:
    assert _req().qbool("all") is False
    assert _req().qbool("all", True) is True


def test_q_qint_qlist_qjson() -> None:
    r = _req({"tail": ["10"], "t": ["a", "b"], "filters": ['{"label":["x"]}'], "empty": [""]})
    assert r.q("tail") == "10"
    assert r.q("nope", "d") == "d"
    assert r.qint("tail") == 10
    assert r.qint("empty", 5) == 5
    assert r.qlist("t") == ["a", "b"]
    assert r.qjson("filters") == {"label": ["x"]}
    with pytest.raises(InvalidArgument, match="not an integer"):
        _req({"tail": ["all"]}).qint("tail")


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "request body is empty"), (b"{bad", "invalid JSON"), (b"[1]", "expected an object, got array"),
     (b'"s"', "got string"), (b"\xff", "invalid JSON")],
)
def test_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _req(body=body).json()


def test_json_ok_and_or_none() -> None:
    assert _req(body=b'{"Image":"busybox"}').json() == {"Image": "busybox"}
    assert _req(body=b"[1,2]").json(list) == [1, 2]
    assert _req(body=b"").json_or_none() is None
    assert _req(body=b"  null ").json_or_none() is None
    assert _req(body=b'{"a":1}').json_or_none() == {"a": 1}


def test_versions() -> None:
    assert _req(version="1.41").version_before("1.44")
    assert not _req(version="1.44").version_before("1.44")
    assert _req().effective_version == "1.50"


def test_stream_of_plain_body() -> None:
    async def collect() -> list[bytes]:
        return [c async for c in _req(body=b"abc").stream()]

    assert asyncio.run(collect()) == [b"abc"]


async def _h(req: Request) -> None:  # type: ignore[empty-body]
    ...


def _router() -> Router:
    r = Router()
    for method, pattern in [
        ("GET", "/containers/json"),
        ("POST", "/containers/create"),
        ("GET", "/containers/{id}/json"),
        ("DELETE", "/containers/{id}"),
        ("GET", "/images/json"),
        ("GET", "/images/{name:path}/json"),
        ("POST", "/images/{name:path}/tag"),
        ("DELETE", "/images/{name:path}"),
        ("GET", "/images/get"),
    ]:
        r.add(method, pattern, _h)  # type: ignore[arg-type]
    return r


@pytest.mark.parametrize(
    ("method", "path", "pattern", "params"),
    [
        ("GET", "/containers/json", "/containers/json", {}),
        ("GET", "/containers/abc/json", "/containers/{id}/json", {"id": "abc"}),
        ("HEAD", "/containers/abc/json", "/containers/{id}/json", {"id": "abc"}),
        ("DELETE", "/containers/abc", "/containers/{id}", {"id": "abc"}),
        ("GET", "/images/json", "/images/json", {}),
        ("GET", "/images/get", "/images/get", {}),
        ("GET", "/images/alpine/json", "/images/{name:path}/json", {"name": "alpine"}),
        ("GET", "/images/docker.io/library/alpine:3.20/json", "/images/{name:path}/json",
         {"name": "docker.io/library/alpine:3.20"}),
        ("GET", "/images/localhost:5000/a/b/json", "/images/{name:path}/json", {"name": "localhost:5000/a/b"}),
        ("GET", "/images/docker.io%2Flibrary%2Falpine/json", "/images/{name:path}/json",
         {"name": "docker.io/library/alpine"}),
        ("POST", "/images/a/b/tag", "/images/{name:path}/tag", {"name": "a/b"}),
        ("DELETE", "/images/a/b", "/images/{name:path}", {"name": "a/b"}),
    ],
)
def test_router_match(method: str, path: str, pattern: str, params: dict[str, str]) -> None:
    m = _router().match(method, path)
    assert m.route is not None and m.route.pattern == pattern
    assert m.params == params


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/nope", ()), ("GET", "/containers/a/b/json", ()), ("POST", "/containers/json", ("GET", "DELETE")),
     ("PUT", "/containers/abc", ("DELETE",))],
)
def test_router_no_match(method: str, path: str, allowed: tuple[str, ...]) -> None:
    m = _router().match(method, path)
    assert m.route is None
    assert m.allowed == allowed


def test_router_rejects_duplicates_and_bad_patterns() -> None:
    r = _router()
    with pytest.raises(ValueError, match="duplicate"):
        r.add("GET", "/containers/json", _h)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        r.add("GET", "containers", _h)  # type: ignore[arg-type]


def test_api_package_exports_resolve_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, kobako.api.stdcopy, kobako.api.jsonstream, kobako.api.httpstatus; "
            "assert 'asyncio' not in sys.modules and 'h11' not in sys.modules, 'eager'; "
            "import kobako.api as a; [getattr(a, n) for n in a.__all__]; assert 'h11' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
