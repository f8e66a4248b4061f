"""``GET``/``HEAD /_ping``: the first request of every docker CLI command (moby ``client/ping.go``)."""

from __future__ import annotations

from collections.abc import Callable

from kobako import API_VERSION
from kobako.api.request import Request
from kobako.api.response import TEXT, Response
from kobako.api.router import Router


def ping_headers(swarm: str = "inactive") -> dict[str, str]:
    return {
        "Api-Version": API_VERSION,
        "Builder-Version": "1",
        "Swarm": swarm,
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        "Docker-Experimental": "false",
        "Ostype": "linux",
    }


def add_ping_routes(router: Router, *, swarm: Callable[[], str] = lambda: "inactive") -> None:
    """Add ``GET /_ping`` (body ``OK``) and ``HEAD /_ping`` (no body, Content-Length 0).

    ``swarm`` gives the ``Swarm`` header: ``inactive``, ``active/manager``, ``active/worker``...
    """

    async def system_ping(req: Request) -> Response:
        return Response(200, b"OK", ping_headers(swarm()), TEXT)

    async def system_ping_head(req: Request) -> Response:
        return Response(200, b"", ping_headers(swarm()), TEXT)

    router.add("GET", "/_ping", system_ping)
    router.add("HEAD", "/_ping", system_ping_head)
