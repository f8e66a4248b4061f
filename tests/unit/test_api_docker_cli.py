"""The real docker CLI against the server with fake /_ping and /version routes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kobako.api._hijack import HijackReader
from kobako.api.request import Request
from kobako.api.response import Hijack, Response, StreamResponse, json_response, no_content
from kobako.api.router import Router
from kobako.api.server import add_ping_routes
from kobako.api.stdcopy import frame
from kobako.api.testing import serve_in_thread

DOCKER = "/usr/local/bin/docker"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(DOCKER).exists(), reason=f"needs the docker CLI at {DOCKER}"),
]


async def system_version(req: Request) -> Response:
    return json_response({
        "Platform": {"Name": "kobako"}, "Version": "0.1.0", "ApiVersion": "1.50", "MinAPIVersion": "1.24",
        "GitCommit": "none", "GoVersion": "n/a", "Os": "linux", "Arch": "amd64", "KernelVersion": "x",
        "BuildTime": "", "Components": [],
    })


def test_docker_version(tmp_path: Path) -> None:
    r = Router()
    add_ping_routes(r)
    r.add("GET", "/version", system_version)
    d = tempfile.mkdtemp(prefix="kbk-")
    try:
        with serve_in_thread(r, Path(d) / "api.sock") as srv:
            env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / ".docker"), "PATH": "/usr/bin:/bin"}
            proc = subprocess.run(
                [DOCKER, "-H", srv.host, "version", "--format", "{{.Server.APIVersion}}"],
                capture_output=True, text=True, env=env, timeout=30, check=False,
            )
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1.50"


class FakeEngine:
    """Just enough of create/attach/wait/start for `echo x | docker run -i img cat`."""

    def __init__(self) -> None:
        self.exited: asyncio.Event | None = None
        self.requests: list[str] = []

    def router(self) -> Router:
        async def container_create(req: Request) -> Response:
            self.requests.append(f"create {req.json()['Image']}")
            self.exited = asyncio.Event()
            return json_response({"Id": "c" * 64, "Warnings": []}, 201)

        async def container_attach(req: Request) -> Hijack:
            self.requests.append("attach stdin=" + str(req.qbool("stdin")))
            exited = self.exited
            assert exited is not None

            async def run(reader: HijackReader, writer: asyncio.StreamWriter) -> None:
                data = await reader.read()  # until the CLI half-closes (stdin EOF)
                writer.write(frame(1, data))
                await writer.drain()
                exited.set()

            return Hijack(run)

        async def container_wait(req: Request) -> StreamResponse:
            self.requests.append(f"wait {req.q('condition')}")
            exited = self.exited
            assert exited is not None

            async def body() -> AsyncIterator[bytes]:
                await exited.wait()
                yield b'{"StatusCode":3,"Error":null}\n'

            return StreamResponse(body())

        async def container_start(req: Request) -> Response:
            self.requests.append("start")
            return no_content()

        r = Router()
        add_ping_routes(r)
        r.add("POST", "/containers/create", container_create)
        r.add("POST", "/containers/{id}/attach", container_attach)
        r.add("POST", "/containers/{id}/wait", container_wait)
        r.add("POST", "/containers/{id}/start", container_start)
        return r


def test_docker_run_interactive_half_close(tmp_path: Path) -> None:
    """`echo hello | docker run -i img cat`: stdin EOF, output still delivered, exit code kept."""
    engine = FakeEngine()
    d = tempfile.mkdtemp(prefix="kbk-")
    try:
        with serve_in_thread(engine.router(), Path(d) / "api.sock") as srv:
            env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / ".docker"), "PATH": "/usr/bin:/bin"}
            proc = subprocess.run(
                [DOCKER, "-H", srv.host, "run", "-i", "img", "cat"],
                input="hello\n", capture_output=True, text=True, env=env, timeout=30, check=False,
            )
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert proc.stdout == "hello\n", proc.stderr
    assert proc.returncode == 3, proc.stderr
    assert engine.requests == ["create img", "attach stdin=True", "wait next-exit", "start"]
