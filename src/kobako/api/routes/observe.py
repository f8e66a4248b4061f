"""Observation routes: events, stats, top, changes, container prune, system df."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kobako.api.request import Request
from kobako.api.response import Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.api.routes.containers import parse_filters
from kobako.errors import KobakoError


def add_observe_routes(router: Router, observer: Any) -> None:
    async def system_events(req: Request) -> StreamResponse:
        body = observer.events_stream(req.q("since"), req.q("until"), parse_filters(req))
        return StreamResponse(body, content_type="application/json")

    async def container_stats(req: Request) -> StreamResponse:
        body = observer.stats_stream(req.params["id"], stream=req.qbool("stream", True),
                                     one_shot=req.qbool("one-shot"))
        return StreamResponse(body, content_type="application/json")

    async def container_top(req: Request) -> Response:
        return json_response(await observer.top(req.params["id"], req.q("ps_args") or ""))

    async def container_changes(req: Request) -> Response:
        return json_response(await observer.changes(req.params["id"]) or None)

    async def container_prune(req: Request) -> Response:
        return json_response(await observer.prune(parse_filters(req)))

    async def system_data_usage(req: Request) -> Response:
        return json_response(await asyncio.to_thread(observer.disk_usage, req.qlist("type")))

    router.add("GET", "/events", system_events)
    router.add("GET", "/containers/{id}/stats", container_stats)
    router.add("GET", "/containers/{id}/top", container_top)
    router.add("GET", "/containers/{id}/changes", container_changes)
    router.add("POST", "/containers/prune", container_prune)
    router.add("GET", "/system/df", system_data_usage)
    add_size_wrappers(router, observer)


def add_size_wrappers(router: Router, observer: Any) -> None:
    """``size=1`` on the container list and inspect: SizeRw and SizeRootFs, as docker adds them;
    and inspect's Driver/GraphDriver, which only the snapshotter knows.

    The container routes stay the lifecycle's; this wraps them (when present), and the list is
    touched only when sizes are asked for, so the common ``ps`` pays nothing.
    """

    def wrap(handler: Any, many: bool) -> Any:
        async def sized(req: Request) -> Any:
            resp = await handler(req)
            size = req.qbool("size")
            if (many and not size) or not isinstance(resp, Response) or resp.status != 200:
                return resp
            obj = json.loads(resp.body)
            items = obj if many else [obj]

            def fill() -> None:
                for item in items:
                    try:
                        c = observer.containers.get(item["Id"])
                    except KobakoError:
                        continue
                    if not many:
                        item.update(observer.graph_driver(c))
                    if size:
                        item.update(observer.sizes(c))

            await asyncio.to_thread(fill)
            return json_response(obj)

        return sized

    for pattern, many in (("/containers/json", True), ("/containers/{id}/json", False)):
        try:
            router.wrap("GET", pattern, lambda h, many=many: wrap(h, many))
        except KeyError:
            pass
