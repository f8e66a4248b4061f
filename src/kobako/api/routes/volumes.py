"""Volume routes: decode the request, call the backend, encode the answer. Nothing else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kobako.api._schema import VOLUME_CREATE, decode
from kobako.api.request import Request
from kobako.api.response import Response, json_response
from kobako.api.router import Router
from kobako.api.routes.containers import parse_filters


def add_volume_routes(router: Router, volumes: Any) -> None:
    async def volume_list(req: Request) -> Response:
        return json_response(volumes.list(parse_filters(req)))

    async def volume_create(req: Request) -> Response:
        return json_response(await volumes.create(decode(req.json_or_none() or {}, VOLUME_CREATE)), status=201)

    async def volume_inspect(req: Request) -> Response:
        size = req.qbool("size")  # only the size walks the disk
        name = req.params["name"]
        return json_response(await asyncio.to_thread(volumes.inspect, name, True) if size else volumes.inspect(name))

    async def volume_delete(req: Request) -> Response:
        await volumes.remove(req.params["name"], force=req.qbool("force"))
        return Response(status=204)

    async def volume_prune(req: Request) -> Response:
        return json_response(await volumes.prune(parse_filters(req), req.api_version))

    router.add("GET", "/volumes", volume_list)
    router.add("POST", "/volumes/create", volume_create)
    router.add("POST", "/volumes/prune", volume_prune)
    router.add("GET", "/volumes/{name}", volume_inspect)
    router.add("DELETE", "/volumes/{name}", volume_delete)


def add_volume_usage(router: Router, volumes: Any) -> None:
    """``/system/df`` lists volumes with their size and reference count: wraps the system route."""

    def wrapper(handler: Any) -> Any:
        async def system_data_usage(req: Request) -> Any:
            resp = await handler(req)
            types = req.qlist("type")
            if not isinstance(resp, Response) or resp.status != 200 or (types and "volume" not in types):
                return resp
            obj = json.loads(resp.body)
            obj["Volumes"] = await asyncio.to_thread(volumes.usage)
            return json_response(obj)

        return system_data_usage

    try:
        router.wrap("GET", "/system/df", wrapper)
    except KeyError:
        pass
