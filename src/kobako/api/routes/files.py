"""A container's files: the archive API (``docker cp``), export and commit. Decode, call, encode."""

from __future__ import annotations

from typing import Any

from kobako.api.request import Request
from kobako.api.response import Response, StreamResponse, json_response
from kobako.api.router import Router
from kobako.errors import InvalidArgument

TAR = "application/x-tar"
STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(req: Request) -> str:
    path = req.q("path")
    if not path:
        raise InvalidArgument("bad parameter: path cannot be empty")
    if "\x00" in path:
        raise InvalidArgument("bad parameter: path contains a NUL byte")
    return path


def _stat_header(stat: dict[str, Any]) -> dict[str, str]:
    import base64
    import json

    return {STAT_HEADER: base64.b64encode(json.dumps(stat, separators=(",", ":")).encode()).decode()}


def add_file_routes(router: Router, files: Any) -> None:
    async def container_archive_info(req: Request) -> Response:
        stat = await files.stat_path(req.params["id"], _path(req))
        return Response(200, b"", _stat_header(stat), None)

    async def container_archive(req: Request) -> StreamResponse:
        stat, chunks = await files.archive(req.params["id"], _path(req))
        return StreamResponse(chunks, content_type=TAR, headers=_stat_header(stat))

    async def put_container_archive(req: Request) -> Response:
        await files.extract(req.params["id"], _path(req), req.stream(),
                            no_overwrite_dir_non_dir=req.qbool("noOverwriteDirNonDir"),
                            copy_uid_gid=req.qbool("copyUIDGID"))
        return Response(200, b"", {}, None)

    async def container_export(req: Request) -> StreamResponse:
        return StreamResponse(await files.export(req.params["id"]), content_type=TAR)

    async def image_commit(req: Request) -> Response:
        container = req.q("container")
        if not container:
            raise InvalidArgument("No such container: ")
        pause = req.qbool("pause", default=not req.version_before("1.13"))
        changes = [line for value in req.qlist("changes") for line in value.splitlines()]
        image_id = await files.commit(
            container, repo=req.q("repo") or "", tag=req.q("tag") or "", author=req.q("author") or "",
            comment=req.q("comment") or "", pause=pause, changes=changes, config=req.json_or_none(dict),
        )
        return json_response({"Id": image_id}, status=201)

    router.add("HEAD", "/containers/{id}/archive", container_archive_info)
    router.add("GET", "/containers/{id}/archive", container_archive)
    router.add("PUT", "/containers/{id}/archive", put_container_archive, stream_body=True)
    router.add("GET", "/containers/{id}/export", container_export)
    router.add("POST", "/commit", image_commit)
