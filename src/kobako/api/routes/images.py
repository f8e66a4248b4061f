"""Image routes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from kobako.api.routes.containers import parse_filters
from kobako.api.jsonstream import error_line
from kobako.api.jsonstream import message_line as _line
from kobako.api.request import Request
from kobako.api.response import Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.errors import InvalidArgument, KobakoError


def _error_line(exc: Exception) -> bytes:
    return error_line(str(exc))


async def save_body(req: Request) -> str:
    """Spool a streamed request body to a temp file (removed by whoever consumes it)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="kobako-upload-")
    try:
        async for chunk in req.stream():
            await asyncio.to_thread(os.write, fd, chunk)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    return path


def add_image_routes(router: Router, images: Any) -> None:
    async def image_list(req: Request) -> Response:
        return json_response(images.list(parse_filters(req), show_all=req.qbool("all")))

    async def image_inspect(req: Request) -> Response:
        return json_response(images.inspect(req.params["name"]))

    async def image_delete(req: Request) -> Response:
        return json_response(await images.remove(req.params["name"], force=req.qbool("force"),
                                                 noprune=req.qbool("noprune")))

    async def image_tag(req: Request) -> Response:
        repo = req.q("repo")
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        await images.tag(req.params["name"], repo, req.q("tag") or "")
        return Response(status=201)

    async def image_create(req: Request) -> StreamResponse:
        from_src = req.q("fromSrc")
        from_image = req.q("fromImage")
        if from_src is not None:
            if from_src != "-":
                raise InvalidArgument("importing from a URL is not supported yet; send the tarball as the body")
            path = await save_body(req)
            repo, tag = req.q("repo") or "", req.q("tag") or ""
            changes = req.query.get("changes", [])
            message = req.q("message") or ""

            async def imported() -> AsyncIterator[bytes]:
                try:
                    image = await images.import_tarball(path, repo, tag, changes, message)
                    yield _line({"status": image.id})
                except KobakoError as exc:
                    yield _error_line(exc)

            return StreamResponse(imported(), content_type="application/json")
        if not from_image:
            raise InvalidArgument("fromImage or fromSrc is required")
        tag = req.q("tag") or ""

        async def pulled() -> AsyncIterator[bytes]:
            try:
                async for obj in images.pull(from_image, tag, auth=req.headers.get("x-registry-auth"),
                                             platform=req.q("platform")):
                    yield _line(obj)
            except KobakoError as exc:
                yield _error_line(exc)

        return StreamResponse(pulled(), content_type="application/json")

    async def image_bootstrap(req: Request) -> StreamResponse:
        name = req.q("name") or "busybox"
        ref = req.q("ref") or ""

        async def made() -> AsyncIterator[bytes]:
            try:
                yield _line({"status": f"Making {name} from the host's packages"})
                image = await images.bootstrap(name, ref)
                yield _line({"status": f"Tagged {', '.join(image.repo_tags)}", "id": image.id})
                yield _line({"aux": {"ID": image.id}})
            except KobakoError as exc:
                yield _error_line(exc)

        return StreamResponse(made(), content_type="application/json")

    async def image_push(req: Request) -> StreamResponse:
        name, tag = req.params["name"], req.q("tag") or ""
        auth = req.headers.get("x-registry-auth")

        async def pushed() -> AsyncIterator[bytes]:
            try:
                async for obj in images.push(name, tag, auth=auth):
                    yield _line(obj)
            except KobakoError as exc:
                yield _error_line(exc)

        return StreamResponse(pushed(), content_type="application/json")

    async def system_auth(req: Request) -> Response:
        return json_response(await images.auth(req.json()))

    async def distribution_inspect(req: Request) -> Response:
        info = await images.distribution(req.params["name"], auth=req.headers.get("x-registry-auth"))
        if not req.qbool("manifest"):  # Docker's shape; ?manifest=1 adds the raw manifest (kobako)
            info.pop("Manifest", None)
        return json_response(info)

    async def image_get(req: Request) -> StreamResponse:
        names = [req.params["name"]] if "name" in req.params else req.qlist("names")
        body = await images.save(names, req.q("format") or "")  # ?format=oci-archive: a kobako extension
        return StreamResponse(body, content_type="application/x-tar")

    async def image_load(req: Request) -> StreamResponse:
        lines = await images.load(req.stream())

        async def loaded() -> AsyncIterator[bytes]:
            for text in lines:
                yield _line({"stream": text + "\n"})

        return StreamResponse(loaded(), content_type="application/json")

    async def image_prune(req: Request) -> Response:
        return json_response(await images.prune(parse_filters(req)))

    async def image_search(req: Request) -> Response:
        return json_response(await images.search(req.q("term") or "", req.qint("limit"), parse_filters(req),
                                                 auth=req.headers.get("x-registry-auth")))

    router.add("POST", "/images/prune", image_prune)
    router.add("GET", "/images/search", image_search)
    router.add("GET", "/images/get", image_get)
    router.add("GET", "/images/{name:path}/get", image_get)
    router.add("POST", "/images/load", image_load, stream_body=True)
    router.add("POST", "/images/{name:path}/push", image_push)
    router.add("POST", "/auth", system_auth)
    router.add("GET", "/distribution/{name:path}/json", distribution_inspect)
    router.add("GET", "/images/json", image_list)
    router.add("POST", "/images/create", image_create, stream_body=True)
    router.add("POST", "/kobako/images/bootstrap", image_bootstrap)
    router.add("GET", "/images/{name:path}/json", image_inspect)
    router.add("POST", "/images/{name:path}/tag", image_tag)
    router.add("DELETE", "/images/{name:path}", image_delete)
