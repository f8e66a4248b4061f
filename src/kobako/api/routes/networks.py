"""Network routes: decode the request, call the backend, encode the answer. Nothing else."""

from __future__ import annotations

from typing import Any

from kobako.api._schema import NETWORK_CONNECT, NETWORK_CREATE, NETWORK_DISCONNECT, decode
from kobako.api.request import Request
from kobako.api.response import Response, json_response
from kobako.api.router import Router
from kobako.api.routes.containers import parse_filters


def add_network_routes(router: Router, networks: Any) -> None:
    async def network_list(req: Request) -> Response:
        return json_response(networks.list(parse_filters(req)))

    async def network_inspect(req: Request) -> Response:
        return json_response(networks.inspect(req.params["id"]))

    async def network_create(req: Request) -> Response:
        return json_response(await networks.create(decode(req.json(), NETWORK_CREATE)), status=201)

    async def network_delete(req: Request) -> Response:
        await networks.remove(req.params["id"])
        return Response(status=204)

    async def network_connect(req: Request) -> Response:
        await networks.connect(req.params["id"], decode(req.json() or {}, NETWORK_CONNECT))
        return Response(status=200)

    async def network_disconnect(req: Request) -> Response:
        await networks.disconnect(req.params["id"], decode(req.json() or {}, NETWORK_DISCONNECT))
        return Response(status=200)

    async def network_prune(req: Request) -> Response:
        return json_response(await networks.prune(parse_filters(req)))

    router.add("GET", "/networks", network_list)
    router.add("GET", "/networks/{id}", network_inspect)
    router.add("POST", "/networks/create", network_create)
    router.add("POST", "/networks/prune", network_prune)
    router.add("POST", "/networks/{id}/connect", network_connect)
    router.add("POST", "/networks/{id}/disconnect", network_disconnect)
    router.add("DELETE", "/networks/{id}", network_delete)
