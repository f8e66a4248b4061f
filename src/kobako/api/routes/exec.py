"""Exec routes: decode the request, call the exec backend, encode the answer. Nothing else."""

from __future__ import annotations

from typing import Any

from kobako.api._schema import EXEC_CONFIG, EXEC_START, decode
from kobako.api.request import Request
from kobako.api.response import Hijack, Response, json_response
from kobako.api.router import Router

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"


def add_exec_routes(router: Router, execs: Any) -> None:
    async def container_exec(req: Request) -> Response:
        return json_response(await execs.create(req.params["id"], decode(req.json(), EXEC_CONFIG)), status=201)

    async def exec_start(req: Request) -> Response | Hijack:
        eid = req.params["id"]
        body = decode(req.json_or_none() or {}, EXEC_START)
        rec = execs.check_startable(eid)  # 404/409 before the connection is taken over
        if body.get("Detach"):
            await execs.start(eid, detach=True, console_size=body.get("ConsoleSize"))
            return Response(status=200, body=b"", content_type=None)

        async def stream(reader: Any, writer: Any) -> None:
            await execs.start(eid, detach=False, console_size=body.get("ConsoleSize"), reader=reader,
                              writer=writer)

        return Hijack(stream, content_type=RAW if rec.tty else MUX)

    async def exec_resize(req: Request) -> Response:
        await execs.resize(req.params["id"], req.qint("h", 0), req.qint("w", 0))
        return Response(status=200, body=b"", content_type=None)

    async def exec_inspect(req: Request) -> Response:
        return json_response(execs.get(req.params["id"]).inspect())

    router.add("POST", "/containers/{id}/exec", container_exec)
    router.add("POST", "/exec/{id}/start", exec_start)
    router.add("POST", "/exec/{id}/resize", exec_resize)
    router.add("GET", "/exec/{id}/json", exec_inspect)
