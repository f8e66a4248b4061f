"""The registry's HTTP API (OCI distribution-spec v1.1) on kobako's h11 server.

Each route is ``(method, pattern) → handler``; ``_guard`` checks access first and turns
``RegistryError`` into the spec's error body. Uploads live in memory as open content writers
(one ingest file each), so a partial or failed upload is never a blob: only a ``PUT ?digest=``
whose bytes hash to that digest commits one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kobako.api import FileResponse, Request, Response, Router, StreamResponse
from kobako.content import ContentWriter
from kobako.errors import DigestMismatch, InvalidArgument, NotFound
from kobako.registry._access import AuthPolicy
from kobako.registry._errors import RegistryError
from kobako.registry._names import OCI_INDEX, is_digest
from kobako.registry._paging import link_header, paginate, parse_content_range, parse_range, upload_range
from kobako.registry._storage import MAX_MANIFEST, RegistryStorage

if TYPE_CHECKING:
    from kobako.api.response import Hijack

log = logging.getLogger("kobako.registry")

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
READ_CHUNK = 1024 * 1024
UPLOAD_TTL = 24 * 3600
Handler = Callable[[Request], Awaitable[Response | StreamResponse | FileResponse]]


@dataclass(slots=True, eq=False)
class Upload:
    name: str
    writer: ContentWriter
    offset: int = 0
    started: float = field(default_factory=time.time)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _err_response(exc: RegistryError, method: str) -> Response:
    body = b"" if method == "HEAD" else json.dumps(exc.to_json()).encode()
    headers = {**API_HEADER, **exc.headers}
    return Response(exc.status, body, headers, "application/json")


def _as_registry_error(exc: Exception, upload: bool) -> RegistryError:
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, DigestMismatch):
        return RegistryError("DIGEST_INVALID", str(exc), {"expected": exc.expected, "actual": exc.actual})
    if isinstance(exc, InvalidArgument):
        return RegistryError("BLOB_UPLOAD_INVALID" if upload else "UNSUPPORTED", str(exc),
                             status=400)
    if isinstance(exc, NotFound):
        return RegistryError("BLOB_UNKNOWN", str(exc))
    return RegistryError("UNKNOWN", str(exc) or type(exc).__name__)


class Registry:
    """The registry's handlers over a ``RegistryStorage`` and an ``AuthPolicy``."""

    def __init__(self, storage: RegistryStorage, auth: AuthPolicy | None = None) -> None:
        self.storage = storage
        self.auth = auth or AuthPolicy()
        self.uploads: dict[str, Upload] = {}

    # -- wiring ------------------------------------------------------------------------------
    def router(self) -> Router:
        r = Router()
        g = self._guard
        r.add("GET", "/v2/", g(self.base, None))
        r.add("GET", "/v2", g(self.base, None))
        r.add("GET", "/token", self.token)
        r.add("GET", "/v2/_catalog", g(self.catalog, "catalog"))
        r.add("GET", "/v1/search", g(self.search, "catalog"))
        for pattern in ("/v2/{name:path}/blobs/uploads/", "/v2/{name:path}/blobs/uploads"):
            r.add("POST", pattern, g(self.upload_start, "push"), stream_body=True)
        up = "/v2/{name:path}/blobs/uploads/{uuid}"
        r.add("GET", up, g(self.upload_status, "push"))
        r.add("PATCH", up, g(self.upload_patch, "push"), stream_body=True)
        r.add("PUT", up, g(self.upload_finish, "push"), stream_body=True)
        r.add("DELETE", up, g(self.upload_cancel, "push"))
        blob = "/v2/{name:path}/blobs/{digest}"
        r.add("GET", blob, g(self.blob_get, "pull"))
        r.add("DELETE", blob, g(self.blob_delete, "delete"))
        man = "/v2/{name:path}/manifests/{reference}"
        r.add("GET", man, g(self.manifest_get, "pull"))
        r.add("PUT", man, g(self.manifest_put, "push"), stream_body=True)
        r.add("DELETE", man, g(self.manifest_delete, "delete"))
        r.add("GET", "/v2/{name:path}/tags/list", g(self.tags_list, "pull"))
        r.add("GET", "/v2/{name:path}/referrers/{digest}", g(self.referrers, "pull"))
        for method in ("GET", "PUT", "POST", "PATCH", "DELETE"):
            r.add(method, "/v2/{rest:path}", g(self.unknown, None), stream_body=method != "GET")
        return r

    def _guard(self, fn: Handler, action: str | None) -> Callable[[Request], Awaitable[Response | StreamResponse | Hijack]]:
        async def handler(req: Request) -> Response | StreamResponse | FileResponse:
            try:
                if action == "catalog":
                    self._check(req, "registry", "catalog", "*")
                elif action is not None:
                    name = req.params["name"]
                    self.storage.repo(name)  # NAME_INVALID before anything else
                    self._check(req, "repository", name, action)
                elif req.params.get("rest") is None:
                    self._check(req, "registry", "", "")
                return await fn(req)
            except Exception as exc:  # noqa: BLE001 - every failure is an OCI error body
                err = _as_registry_error(exc, upload="/blobs/uploads" in req.path)
                if err.status >= 500:
                    log.error("%s %s failed", req.method, req.target, exc_info=exc)
                return _err_response(err, req.method)

        return handler

    def _check(self, req: Request, typ: str, name: str, action: str) -> None:
        if not self.auth.enabled:
            return
        authz = req.headers.get("authorization")
        host = req.headers.get("host", "localhost")
        if typ == "registry" and not name:  # GET /v2/: any valid credential
            if self.auth.token_realm is not None:
                from kobako.registry._auth import challenge, parse_bearer, verify_token

                token = parse_bearer(authz)
                if token and verify_token(self.auth.secret, token, service=self.auth.token_service):
                    return
                err = RegistryError("UNAUTHORIZED", "authentication required")
                err.headers = {"WWW-Authenticate": challenge(
                    "Bearer", realm=self.auth.realm(host), service=self.auth.token_service)}
                raise err
            self.auth.check(authz, host, "registry", "base", "")
            return
        if action == "delete":
            try:
                self.auth.check(authz, host, typ, name, "delete")
                return
            except RegistryError:
                pass
        self.auth.check(authz, host, typ, name, action)

    # -- base, token, catalog -------------------------------------------------------------------
    async def base(self, req: Request) -> Response:
        return Response(200, b"{}", API_HEADER, "application/json")

    async def unknown(self, req: Request) -> Response:
        raise RegistryError("UNSUPPORTED", f"{req.method} {req.path} is not part of the registry API",
                            status=404 if req.method == "GET" else 405)

    async def token(self, req: Request) -> Response:
        if self.auth.token_realm is None:
            return _err_response(RegistryError("UNSUPPORTED", "this registry does not issue tokens", status=404),
                                 req.method)
        try:
            token = self.auth.issue(req.headers.get("authorization"), req.q("service") or "",
                                    req.qlist("scope"), req.q("account"))
        except RegistryError as exc:
            return _err_response(exc, req.method)
        body = {"token": token, "access_token": token, "expires_in": 300,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return Response(200, json.dumps(body).encode(), {}, "application/json")

    def _page(self, req: Request, items: list[str], path: str) -> tuple[list[str], dict[str, str]]:
        try:
            n = req.qint("n")
        except InvalidArgument:
            raise RegistryError("PAGINATION_NUMBER_INVALID", f"invalid n: {req.q('n')!r}") from None
        page, next_last = paginate(items, n, req.q("last"))
        headers = dict(API_HEADER)
        if next_last is not None and n is not None:
            headers["Link"] = link_header(path, n, next_last)
        return page, headers

    async def catalog(self, req: Request) -> Response:
        repos = await asyncio.to_thread(self.storage.catalog)
        page, headers = self._page(req, repos, "/v2/_catalog")
        return Response(200, json.dumps({"repositories": page}).encode(), headers, "application/json")

    async def search(self, req: Request) -> Response:
        """The V1 search API over the catalog (what ``docker search`` asks a registry)."""
        from kobako.registry._search import catalog_search

        try:
            n, page = req.qint("n"), req.qint("page")
        except InvalidArgument as exc:
            raise RegistryError("UNSUPPORTED", str(exc), status=400) from None
        doc = await asyncio.to_thread(catalog_search, self.storage, req.q("q") or "", n, page)
        return Response(200, json.dumps(doc).encode(), dict(API_HEADER), "application/json")

    async def tags_list(self, req: Request) -> Response:
        name = req.params["name"]
        page, headers = self._page(req, self.storage.tags(name), f"/v2/{name}/tags/list")
        return Response(200, json.dumps({"name": name, "tags": page}).encode(), headers, "application/json")

    # -- blobs ------------------------------------------------------------------------------------
    async def blob_get(self, req: Request) -> FileResponse:
        """The blob (or a ``Range`` of it) straight from its file by sendfile; HEAD: the head only."""
        name, digest = req.params["name"], req.params["digest"]
        path = self.storage.blob_path(name, digest)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the server closes it once sent
        except FileNotFoundError:  # deleted between the check and the open
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": digest}) from None
        try:
            size = os.fstat(f.fileno()).st_size
            rng = parse_range(req.headers.get("range"), size)
        except BaseException:
            f.close()
            raise
        headers = {**API_HEADER, "Docker-Content-Digest": digest, "Accept-Ranges": "bytes",
                   "ETag": f'"{digest}"', "Cache-Control": "max-age=31536000"}
        start, end, status = 0, size - 1, 200
        if rng is not None:
            start, end = rng
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return FileResponse(f, start, end - start + 1, "application/octet-stream", status, headers)

    async def blob_delete(self, req: Request) -> Response:
        self.storage.unlink_blob(req.params["name"], req.params["digest"])
        return Response(202, b"", {**API_HEADER, "Docker-Content-Digest": req.params["digest"]}, None)

    # -- uploads ------------------------------------------------------------------------------------
    def _upload_headers(self, name: str, uid: str, offset: int) -> dict[str, str]:
        return {**API_HEADER, "Location": f"/v2/{name}/blobs/uploads/{uid}", "Range": upload_range(offset),
                "Docker-Upload-UUID": uid}

    def _blob_created(self, name: str, digest: str) -> Response:
        self.storage.link_blob(name, digest)
        return Response(201, b"", {**API_HEADER, "Location": f"/v2/{name}/blobs/{digest}",
                                   "Docker-Content-Digest": digest}, None)

    async def upload_start(self, req: Request) -> Response:
        name = req.params["name"]
        mount, source = req.q("mount"), req.q("from")
        if mount:
            if not is_digest(mount):
                raise RegistryError("DIGEST_INVALID", f"invalid digest {mount!r}")
            if source and self.storage.has_blob(source, mount):
                await _drain(req)
                return self._blob_created(name, mount)
        digest = req.q("digest")
        if digest is not None:  # monolithic: POST ?digest= with the whole blob
            if not is_digest(digest):
                raise RegistryError("DIGEST_INVALID", f"invalid digest {digest!r}")
            with self.storage.blobs.writer(digest) as w:
                await _copy_body(req, w)
                await asyncio.to_thread(w.commit)
            return self._blob_created(name, digest)
        await _drain(req)
        self._expire()
        uid = str(uuid.uuid4())
        self.uploads[uid] = Upload(name, self.storage.blobs.writer())
        return Response(202, b"", self._upload_headers(name, uid, 0), None)

    def _upload(self, req: Request) -> Upload:
        up = self.uploads.get(req.params["uuid"])
        if up is None or up.name != req.params["name"]:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": req.params["uuid"]})
        return up

    def _drop(self, uid: str) -> None:
        up = self.uploads.pop(uid, None)
        if up is not None:
            up.writer.abort()

    def _expire(self) -> None:
        now = time.time()
        for uid, up in list(self.uploads.items()):
            if now - up.started > UPLOAD_TTL and not up.lock.locked():
                self._drop(uid)

    async def upload_status(self, req: Request) -> Response:
        up = self._upload(req)
        return Response(204, b"", self._upload_headers(up.name, req.params["uuid"], up.offset), None)

    async def upload_patch(self, req: Request) -> Response:
        up, uid = self._upload(req), req.params["uuid"]
        async with up.lock:
            crange = req.headers.get("content-range")
            if crange:
                start, _end = parse_content_range(crange)
                if start != up.offset:
                    err = RegistryError("RANGE_INVALID", f"chunk starts at {start}, upload is at {up.offset}",
                                        status=416)
                    err.headers = self._upload_headers(up.name, uid, up.offset)
                    raise err
            try:
                up.offset += await _copy_body(req, up.writer)
            except BaseException:
                self._drop(uid)  # a broken chunk: the upload cannot be trusted any more
                raise
        return Response(202, b"", self._upload_headers(up.name, uid, up.offset), None)

    async def upload_finish(self, req: Request) -> Response:
        up, uid = self._upload(req), req.params["uuid"]
        digest = req.q("digest")
        async with up.lock:
            try:
                if not digest or not is_digest(digest):
                    raise RegistryError("DIGEST_INVALID", f"invalid or missing digest {digest!r}")
                up.offset += await _copy_body(req, up.writer)
                actual = up.writer.digest()
                if actual != digest:
                    raise RegistryError("DIGEST_INVALID", f"digest mismatch: expected {digest}, got {actual}",
                                        {"expected": digest, "actual": actual})
                await asyncio.to_thread(up.writer.commit)
            finally:
                self._drop(uid)
        return self._blob_created(up.name, digest)

    async def upload_cancel(self, req: Request) -> Response:
        self._upload(req)
        self._drop(req.params["uuid"])
        return Response(204, b"", dict(API_HEADER), None)

    # -- manifests ------------------------------------------------------------------------------------
    async def manifest_get(self, req: Request) -> Response:
        name, ref = req.params["name"], req.params["reference"]
        digest, media, data = self.storage.manifest(name, ref)
        headers = {**API_HEADER, "Docker-Content-Digest": digest, "ETag": f'"{digest}"'}
        return Response(200, data, headers, media)  # the server sends no body for HEAD

    async def manifest_put(self, req: Request) -> Response:
        name, ref = req.params["name"], req.params["reference"]
        if not is_digest(ref):
            from kobako.registry._names import TAG

            if not TAG.match(ref):
                raise RegistryError("TAG_INVALID", f"invalid tag {ref!r}", {"tag": ref})
        data = bytearray()
        async for chunk in req.stream():
            data += chunk
            if len(data) > MAX_MANIFEST:
                raise RegistryError("MANIFEST_INVALID", "manifest too large", status=413)
        digest, subject = await asyncio.to_thread(
            self.storage.put_manifest, name, ref, bytes(data), req.headers.get("content-type", ""))
        headers = {**API_HEADER, "Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        if subject:
            headers["OCI-Subject"] = subject
        return Response(201, b"", headers, None)

    async def manifest_delete(self, req: Request) -> Response:
        self.storage.delete_manifest(req.params["name"], req.params["reference"])
        return Response(202, b"", dict(API_HEADER), None)

    async def referrers(self, req: Request) -> Response:
        name, digest = req.params["name"], req.params["digest"]
        artifact = req.q("artifactType")
        manifests = self.storage.referrers(name, digest, artifact)
        headers = dict(API_HEADER)
        if artifact:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return Response(200, json.dumps(body).encode(), headers, OCI_INDEX)

    def close(self) -> None:
        for uid in list(self.uploads):
            self._drop(uid)


async def _drain(req: Request) -> None:
    async for _ in req.stream():
        pass


async def _copy_body(req: Request, writer: ContentWriter) -> int:
    """Append the request body to ``writer`` in ~1 MiB writes; the byte count."""
    total = 0
    buf = bytearray()
    async for chunk in req.stream():
        buf += chunk
        if len(buf) >= READ_CHUNK:
            total += writer.write(buf)
            buf = bytearray()
    if buf:
        total += writer.write(buf)
    return total

