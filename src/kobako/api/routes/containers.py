"""Container routes: decode the request, call the backend, encode the answer. Nothing else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from kobako.api._schema import CONTAINER_CREATE, CONTAINER_UPDATE, decode
from kobako.api.request import Request
from kobako.api.response import Hijack, Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.errors import InvalidArgument

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"


def parse_filters(req: Request) -> dict[str, list[str]]:
    raw = req.q("filters")
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from None
    out: dict[str, list[str]] = {}
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid filter: must be a JSON object")
    for k, v in obj.items():
        # Both {"name": ["x"]} and the older {"name": {"x": true}} are sent by clients.
        if not isinstance(v, (list, dict)):
            raise InvalidArgument(f"invalid filter {k!r}: expected a list or an object of values")
        out[k] = [str(x) for x in v] if isinstance(v, list) else [str(x) for x, on in v.items() if on]
    return out


def _match(c: Any, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "status" and c.status not in values:
            return False
        if key == "name" and not any(v.lstrip("/") in c.name for v in values):
            return False
        if key == "id" and not any(c.id.startswith(v) for v in values):
            return False
        if key == "label":
            labels = c.config.get("Labels") or {}
            for v in values:
                k, sep, val = v.partition("=")
                if k not in labels or (sep and labels[k] != val):
                    return False
        if key == "exited" and (c.status != "exited" or str(c.state["ExitCode"]) not in values):
            return False
        if key == "ancestor" and not any(v in (c.image_ref, c.image_id) or c.image_id.removeprefix("sha256:").startswith(v)
                                         for v in values):
            return False
    return True


def add_container_routes(router: Router, containers: Any,
                         exec_ids: Callable[[str], list[str]] | None = None) -> None:
    async def container_list(req: Request) -> Response:
        filters = parse_filters(req)
        show_all = req.qbool("all")
        limit = req.qint("limit", -1)
        items = sorted(containers.containers.values(), key=lambda c: c.created, reverse=True)
        if limit and limit > 0:
            show_all = True
        out = [c.summary() for c in items if (show_all or c.running or c.status == "paused") and _match(c, filters)]
        if limit and limit > 0:
            out = out[:limit]
        return json_response(out)

    async def container_create(req: Request) -> Response:
        body = decode(req.json(), CONTAINER_CREATE)  # wrong types are 400s here, as dockerd's
        return json_response(await containers.create(body, req.q("name")), status=201)

    async def container_inspect(req: Request) -> Response:
        info = containers.get(req.params["id"]).inspect()
        if exec_ids is not None:
            info["ExecIDs"] = exec_ids(info["Id"]) or None  # the running execs, as dockerd lists them
        return json_response(info)

    async def container_start(req: Request) -> Response:
        await containers.start(req.params["id"])
        return Response(status=204)

    async def container_stop(req: Request) -> Response:
        await containers.stop(req.params["id"], req.qint("t"), req.q("signal"))
        return Response(status=204)

    async def container_restart(req: Request) -> Response:
        await containers.restart(req.params["id"], req.qint("t"), req.q("signal"))
        return Response(status=204)

    async def container_pause(req: Request) -> Response:
        await containers.pause(req.params["id"])
        return Response(status=204)

    async def container_unpause(req: Request) -> Response:
        await containers.unpause(req.params["id"])
        return Response(status=204)

    async def container_rename(req: Request) -> Response:
        await containers.rename(req.params["id"], req.q("name") or "")
        return Response(status=204)

    async def container_update(req: Request) -> Response:
        return json_response(await containers.update(req.params["id"], decode(req.json(), CONTAINER_UPDATE)))

    async def container_kill(req: Request) -> Response:
        await containers.kill(req.params["id"], req.q("signal") or "SIGKILL")
        return Response(status=204)

    async def container_wait(req: Request) -> StreamResponse:
        cid = req.params["id"]
        containers.get(cid)  # 404 before the headers go out
        if req.q("condition") not in (None, "", "not-running", "next-exit", "removed"):  # 400 before them too
            raise InvalidArgument(f"invalid condition: \"{req.q('condition')}\"")

        async def body() -> AsyncIterator[bytes]:
            result = await containers.wait(cid, req.q("condition") or "not-running")
            yield json.dumps(result).encode() + b"\n"

        return StreamResponse(body(), content_type="application/json")

    async def container_delete(req: Request) -> Response:
        await containers.remove(req.params["id"], force=req.qbool("force"), volumes=req.qbool("v"))
        return Response(status=204)

    async def container_attach(req: Request) -> Hijack:
        c = containers.get(req.params["id"])
        tty = bool(c.config.get("Tty"))

        async def relay(reader: Any, writer: Any) -> None:
            await containers.attach(c.id, stdin=req.qbool("stdin"), stdout=req.qbool("stdout"),
                                    stderr=req.qbool("stderr"), reader=reader, writer=writer,
                                    detach_keys=req.q("detachKeys"))

        return Hijack(relay, content_type=RAW if tty else MUX)

    async def container_logs(req: Request) -> StreamResponse:
        stdout, stderr = req.qbool("stdout"), req.qbool("stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        tty, chunks = await containers.logs(
            req.params["id"], stdout=stdout, stderr=stderr, follow=req.qbool("follow"),
            tail=req.q("tail") or "all", since=req.q("since"), until=req.q("until"),
            timestamps=req.qbool("timestamps"),
        )
        return StreamResponse(chunks, content_type=RAW if tty else MUX)

    async def container_resize(req: Request) -> Response:
        await containers.resize(req.params["id"], req.qint("h", 0), req.qint("w", 0))
        return Response(status=200)

    router.add("GET", "/containers/json", container_list)
    router.add("POST", "/containers/create", container_create)
    router.add("GET", "/containers/{id}/json", container_inspect)
    router.add("POST", "/containers/{id}/start", container_start)
    router.add("POST", "/containers/{id}/stop", container_stop)
    router.add("POST", "/containers/{id}/restart", container_restart)
    router.add("POST", "/containers/{id}/kill", container_kill)
    router.add("POST", "/containers/{id}/pause", container_pause)
    router.add("POST", "/containers/{id}/unpause", container_unpause)
    router.add("POST", "/containers/{id}/rename", container_rename)
    router.add("POST", "/containers/{id}/update", container_update)
    router.add("POST", "/containers/{id}/wait", container_wait)
    router.add("DELETE", "/containers/{id}", container_delete)
    router.add("POST", "/containers/{id}/attach", container_attach)
    router.add("GET", "/containers/{id}/logs", container_logs)
    router.add("POST", "/containers/{id}/resize", container_resize)
