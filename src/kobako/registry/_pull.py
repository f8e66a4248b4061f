"""``pull``: manifest (choosing from an index), config and layers into an ImageStore.

Layers download in parallel threads straight into the content store's verifying writer,
so a blob whose bytes do not hash to its digest is never stored. Layers already present are
skipped. Progress goes to ``emit(obj)`` as Docker's JSON-progress objects.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from kobako.errors import DigestMismatch, InvalidArgument, NotFound
from kobako.registry._client import Credentials, DistributionClient, json_body
from kobako.registry._names import ACCEPT_MANIFESTS, IMAGE_TYPES, INDEX_TYPES, is_digest
from kobako.registry._platform import Platform, host_platform, select_manifest

if TYPE_CHECKING:
    from kobako.content import Lease
    from kobako.images import Image, ImageStore, Reference

Emit = Callable[[dict[str, Any]], None]
PARALLEL = 3
PROGRESS_STEP = 512 * 1024
READ = 1024 * 1024
MAX_MANIFEST = 4 << 20  # as moby's distribution client


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def fetch_manifest(client: DistributionClient, repo: str, reference: str, scope: str) -> tuple[str, str, bytes]:
    """(digest, media type, bytes) of a manifest, its digest checked when asked by digest."""
    resp = client.request("GET", f"/v2/{repo}/manifests/{reference}", scope=scope,
                          headers={"Accept": ACCEPT_MANIFESTS}, ok=(404,))
    if resp.status == 404:
        raise NotFound(f"manifest for {client.domain}/{repo}:{reference} not found: manifest unknown: manifest unknown"
                       if not reference.startswith("sha256:") else
                       f"manifest for {client.domain}/{repo}@{reference} not found: manifest unknown")
    data = resp.body
    if len(data) > MAX_MANIFEST:
        raise InvalidArgument(f"manifest for {client.domain}/{repo}:{reference} is larger than {MAX_MANIFEST} bytes")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if reference.startswith("sha256:") and digest != reference:
        raise DigestMismatch(reference, digest)
    media = json_body(resp).get("mediaType") or resp.header("content-type").split(";")[0]
    return digest, str(media), data


def resolve_image(client: DistributionClient, repo: str, reference: str, scope: str,
                  platform: Platform) -> tuple[str, bytes, dict[str, Any]]:
    """(manifest digest, bytes, decoded) of the image manifest, through an index if needed."""
    digest, media, data = fetch_manifest(client, repo, reference, scope)
    doc = json_body_bytes(data)
    if media in INDEX_TYPES or "manifests" in doc:
        desc = select_manifest(doc, platform)
        digest, media, data = fetch_manifest(client, repo, desc["digest"], scope)
        doc = json_body_bytes(data)
    if media not in IMAGE_TYPES and "layers" not in doc:
        if "fsLayers" in doc or doc.get("schemaVersion") == 1:
            raise InvalidArgument("Docker Image manifest version 2, schema 1 is not supported")
        raise InvalidArgument(f"unsupported manifest media type {media!r}")
    return digest, data, doc


def json_body_bytes(data: bytes) -> dict[str, Any]:
    import json

    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"registry sent an invalid manifest: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("registry sent an invalid manifest")
    return obj


def download_blob(client: DistributionClient, store: ImageStore, repo: str, desc: dict[str, Any], scope: str,
                  emit: Emit | None) -> None:
    digest, total = desc.get("digest"), desc.get("size") or 0
    if not isinstance(digest, str) or not is_digest(digest) or not isinstance(total, int) or total < 0:
        raise InvalidArgument(f"registry sent an invalid manifest: bad blob descriptor {str(desc)[:200]}")
    ident = short(digest)
    resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=scope, stream=True)
    assert resp.stream is not None
    done = 0
    last = 0
    try:
        with store.content.writer(digest) as w:
            while True:
                chunk = resp.stream.read(READ)
                if not chunk:
                    break
                w.write(chunk)
                done += len(chunk)
                if total and done > total:  # an endless blob stops here, not at a full disk
                    raise InvalidArgument(f"blob {digest}: more than the {total} bytes the manifest says")
                if emit is not None and done - last >= PROGRESS_STEP:
                    last = done
                    emit({"status": "Downloading", "progressDetail": {"current": done, "total": total}, "id": ident})
            if total and done != total:
                raise InvalidArgument(f"blob {digest}: got {done} bytes, the manifest says {total}")
            if emit is not None:
                emit({"status": "Verifying Checksum", "progressDetail": {}, "id": ident})
            try:
                w.commit()
            except DigestMismatch as exc:
                raise DigestMismatch(exc.expected, exc.actual) from None
    except BaseException:
        client.close()  # the connection may hold an unread body
        raise
    if emit is not None:
        emit({"status": "Download complete", "progressDetail": {}, "id": ident})


def pull_image(store: ImageStore, ref: Reference, creds: Credentials | None = None, *,
               insecure: Iterable[str] = (), platform: Platform | None = None,
               emit: Emit | None = None) -> tuple[Image, str, bool]:
    """Pull ``ref``; (image, manifest digest, whether anything new was stored).

    Under a content lease from the first blob to the tag: a layer found present ("Already exists")
    is protected before it is looked for, and each download is listed before it is published, so
    an ``rmi`` or prune collecting garbage meanwhile cannot take a blob this pull relies on."""
    with store.content.leased() as lease:
        return _pull(store, lease, ref, creds, insecure, platform, emit)


def _pull(store: ImageStore, lease: Lease, ref: Reference, creds: Credentials | None, insecure: Iterable[str],
          platform: Platform | None, emit: Emit | None) -> tuple[Image, str, bool]:
    say = emit or (lambda obj: None)
    client = DistributionClient(ref.domain, creds, insecure=insecure)
    scope = f"repository:{ref.path}:pull"
    repo = ref.path
    try:
        digest, data, manifest = resolve_image(client, repo, ref.digest or ref.tag or "latest", scope,
                                               platform or host_platform())
        say({"status": f"Pulling from {repo}", "id": ref.tag if ref.digest is None else ref.digest})
        layers = manifest.get("layers") or []
        if not isinstance(layers, list):
            raise InvalidArgument("registry sent an invalid manifest: layers is not a list")
        config_desc = manifest.get("config") or {}
        if not isinstance(config_desc, dict) or not isinstance(config_desc.get("digest"), str):
            raise InvalidArgument("registry sent a manifest without a config descriptor")
        if not all(isinstance(d, dict) and isinstance(d.get("digest"), str) and is_digest(d["digest"]) for d in layers):
            raise InvalidArgument("registry sent an invalid manifest: a layer without a valid digest")
        absent = set(lease.protect([config_desc["digest"], *(d["digest"] for d in layers)]))
        missing = []
        for desc in layers:
            if desc["digest"] not in absent:
                say({"status": "Already exists", "progressDetail": {}, "id": short(desc["digest"])})
            else:
                say({"status": "Pulling fs layer", "progressDetail": {}, "id": short(desc["digest"])})
                missing.append(desc)
        if config_desc["digest"] in absent:
            download_blob(client, store, repo, config_desc, scope, None)
        config_bytes = store.content.read(config_desc["digest"])
        if missing:
            with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="pull") as pool:
                # each worker runs in a copy of this context: the lease is current there too
                futures = [pool.submit(contextvars.copy_context().run, _download_own_conn, client, store, repo, d,
                                       scope, say) for d in missing]
                for f in futures:
                    f.result()
        try:
            before = store.get(str(ref)) if ref.tag else None
        except NotFound:
            before = None
        image = store.add(data, config_bytes)
        for desc in missing:
            say({"status": "Extracting", "progressDetail": {}, "id": short(desc["digest"])})
        store.unpack(image)
        for desc in missing:
            say({"status": "Pull complete", "progressDetail": {}, "id": short(desc["digest"])})
        from kobako.images import Reference as Ref

        store.tag(image.id, Ref(ref.domain, ref.path, None, digest))
        if ref.tag and ref.digest is None:
            store.tag(image.id, ref)
        image = store.get(image.id)
        say({"status": f"Digest: {digest}"})
        fresh = before is None or before.id != image.id or bool(missing)
        return image, digest, fresh
    finally:
        client.close()


def _download_own_conn(client: DistributionClient, store: ImageStore, repo: str, desc: dict[str, Any],
                       scope: str, emit: Emit) -> None:
    try:
        download_blob(client, store, repo, desc, scope, emit)
    finally:
        client.close()  # this thread's connection
