"""Build routes: ``POST /build`` (the legacy builder protocol) and ``POST /build/prune``.

The context tar is received and indexed as it arrives (``builds.receive``, nothing extracted),
then the build runs as a task whose progress (``{"stream": …}``, ``{"aux": {"ID": …}}``) is
relayed line by line; a failure becomes the last
line, ``{"errorDetail": {"message": …}, "error": …}``, as dockerd writes it (the HTTP status
is already 200 by then). A client that goes away cancels the build.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from kobako.api.jsonstream import aux_line, error_line, stream_line
from kobako.api.request import Request
from kobako.api.response import Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.errors import InvalidArgument, KobakoError

log = logging.getLogger("kobako.build")


def _line(obj: dict[str, Any]) -> bytes:
    if "stream" in obj:
        return stream_line(obj["stream"])
    if "aux" in obj:
        return aux_line(obj["aux"])
    return json.dumps(obj, separators=(",", ":")).encode() + b"\r\n"


def _json_map(req: Request, name: str) -> dict[str, Any]:
    value = req.qjson(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: expected a JSON object")
    return value


def build_options(req: Request) -> dict[str, Any]:
    """The query as ``kobako.build.BuildOptions`` fields."""
    if req.q("remote"):
        raise InvalidArgument("remote build contexts are not supported; send the context as the request body")
    cache_from = req.qjson("cachefrom", []) or []
    return dict(
        dockerfile=req.q("dockerfile") or "Dockerfile",
        tags=[t for t in req.qlist("t") if t],
        build_args={str(k): (None if v is None else str(v)) for k, v in _json_map(req, "buildargs").items()},
        labels={str(k): str(v) for k, v in _json_map(req, "labels").items()},
        target=req.q("target") or "",
        no_cache=req.qbool("nocache"),
        cache_from=[str(c) for c in cache_from] if isinstance(cache_from, list) else [],
        network=req.q("networkmode") or "",
        quiet=req.qbool("q"),
        pull=req.qbool("pull"),
        registry_auth=registry_config(req.headers.get("x-registry-config", "")),
    )


def registry_config(header: str) -> dict[str, str]:
    """``X-Registry-Config`` (base64url JSON: registry → {username, password, ...}) as registry →
    an ``X-Registry-Auth`` value for the pull of a base image; an unreadable header is ignored, as
    dockerd does."""
    if not header:
        return {}
    import base64
    import json

    try:
        pad = "=" * (-len(header) % 4)
        data = json.loads(base64.urlsafe_b64decode(header + pad))
    except (ValueError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for registry, cfg in data.items():
        if isinstance(registry, str) and isinstance(cfg, dict):
            domain = registry.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
            encoded = base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()
            out[registry] = out[domain] = encoded
    return out


def add_build_routes(router: Router, builds: Any) -> None:
    """``builds``: ``receive(body) -> context``, ``build(context, options, emit)``, ``prune()``,
    ``history(name)``; the context has ``close()``."""

    async def image_build(req: Request) -> StreamResponse:
        opts = build_options(req)
        builds.validate(opts)  # a bad tag is a 400 before anything is read or built
        context = await builds.receive(req.stream())

        async def progress() -> AsyncIterator[bytes]:
            # Lines are encoded as the build emits them; the relay sleeps on one future per burst
            # (set by the first line after a write, or by the build's end), so a cached build's
            # whole output, and an error line, go out in one write.
            loop = asyncio.get_running_loop()
            pending: list[bytes] = []
            wake: asyncio.Future[None] | None = None

            def alarm() -> None:
                if wake is not None and not wake.done():
                    wake.set_result(None)

            def emit(obj: dict[str, Any]) -> None:
                pending.append(_line(obj))
                alarm()

            task = asyncio.create_task(builds.build(context, opts, emit))
            task.add_done_callback(lambda _t: alarm())
            try:
                while True:
                    if not pending and not task.done():
                        wake = loop.create_future()
                        await wake
                        wake = None
                    if task.done():
                        exc = task.exception()
                        if exc is not None:
                            if not isinstance(exc, KobakoError):
                                log.error("build failed", exc_info=exc)
                            pending.append(error_line(str(exc)))
                        if pending:
                            yield b"".join(pending)
                        return
                    if pending:
                        lines = b"".join(pending)
                        pending.clear()
                        yield lines
            finally:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                context.close()

        return StreamResponse(progress(), content_type="application/json")

    async def build_prune(req: Request) -> Response:
        return json_response(await asyncio.to_thread(builds.prune))

    async def image_history(req: Request) -> Response:
        return json_response(await asyncio.to_thread(builds.history, req.params["name"]))

    router.add("POST", "/build", image_build, stream_body=True)
    router.add("GET", "/images/{name:path}/history", image_history)
    router.add("POST", "/build/prune", build_prune)
