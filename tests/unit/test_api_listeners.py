"""Server listeners: unix socket set-up and the loopback-only TCP rule."""

from __future__ import annotations

import asyncio
import grp
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kobako.api.router import Router
from kobako.api.server import Server, add_ping_routes
from kobako.api.testing import serve_in_thread
from kobako.client import Client
from kobako.errors import InvalidArgument, Unavailable


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="kbk-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _router() -> Router:
    r = Router()
    add_ping_routes(r)
    return r


def _group_of(path: Path) -> str | None:
    try:
        return grp.getgrgid(path.stat().st_gid).gr_name
    except KeyError:
        return None


def test_unix_socket_created_with_parents_mode_and_group(sockdir: Path) -> None:
    path = sockdir / "run" / "kobako" / "api.sock"
    with serve_in_thread(_router(), path) as srv:
        st = path.stat()
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        expected = next((g for g in ("kobako", "docker") if _has_group(g)), None)
        if expected is not None and os.geteuid() == 0:
            assert _group_of(path) == expected
        assert srv.server is not None and srv.server.addresses == [f"unix://{path}"]
        assert Client(srv.host).request("GET", "/_ping")[2] == b"OK"
    assert not path.exists()  # close() removes it


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def test_stale_socket_is_replaced(sockdir: Path) -> None:
    path = sockdir / "api.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    with serve_in_thread(_router(), path) as srv:
        assert Client(srv.host).request("GET", "/_ping")[0] == 200


def test_live_socket_is_not_stolen(sockdir: Path) -> None:
    path = sockdir / "api.sock"
    with (serve_in_thread(_router(), path), pytest.raises(Unavailable, match="already listening"),
          serve_in_thread(_router(), path)):
        pass


def test_regular_file_is_not_removed(sockdir: Path) -> None:
    path = sockdir / "api.sock"
    path.write_text("precious")
    with pytest.raises(InvalidArgument, match="not a socket"), serve_in_thread(_router(), path):
        pass
    assert path.read_text() == "precious"


@pytest.mark.parametrize("host", ["tcp://0.0.0.0:2375", "tcp://192.0.2.1:2375", "ssh://x", "fd://"])
def test_refused_hosts(host: str) -> None:
    async def go() -> None:
        server = Server(_router())
        try:
            await server.start([host])
        finally:
            await server.close()

    with pytest.raises(InvalidArgument) as info:
        asyncio.run(go())
    if host.startswith("tcp"):
        assert "only allowed on a loopback address" in str(info.value)


def test_serve_returns_after_close(sockdir: Path) -> None:
    async def go() -> None:
        server = Server(_router())
        task = asyncio.create_task(server.serve([f"unix://{sockdir}/a.sock"]))
        while not server.addresses:
            await asyncio.sleep(0.01)
        await server.close()
        await asyncio.wait_for(task, 5)

    asyncio.run(go())
