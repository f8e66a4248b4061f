"""``push``: layers and config (skipped when the registry has them, mounted when another
repository there has them), then the manifest, exactly the bytes kobako stored."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from kobako.errors import InvalidArgument
from kobako.registry._client import Credentials, DistributionClient
from kobako.registry._names import OCI_MANIFEST
from kobako.registry._pull import short

if TYPE_CHECKING:
    from kobako.images import ImageStore, Reference

Emit = Callable[[dict[str, Any]], None]
PARALLEL = 3
PROGRESS_STEP = 512 * 1024


class _ProgressFile:
    """A blob file that reports how much http.client has read from it."""

    def __init__(self, path: str, total: int, ident: str, emit: Emit | None) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._total = total
        self._ident = ident
        self._emit = emit
        self._done = 0
        self._last = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._done += len(data)
        if self._emit is not None and (self._done - self._last >= PROGRESS_STEP or self._done == self._total):
            self._last = self._done
            self._emit({"status": "Pushing", "progressDetail": {"current": self._done, "total": self._total},
                        "id": self._ident})
        return data

    def seek(self, pos: int) -> None:
        self._f.seek(pos)
        self._done = self._last = pos

    def close(self) -> None:
        self._f.close()


def _location(resp_location: str, repo: str) -> str:
    if not resp_location:
        raise InvalidArgument(f"registry gave no upload location for {repo}")
    parts = urlsplit(resp_location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def push_blob(client: DistributionClient, store: ImageStore, repo: str, desc: dict[str, Any], scope: str,
              ident: str, emit: Emit | None, mount_from: list[str]) -> None:
    digest = desc["digest"]
    say = emit or (lambda obj: None)
    try:
        head = client.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=scope, ok=(404,))
        if head.status == 200:
            say({"status": "Layer already exists", "progressDetail": {}, "id": ident})
            return
        location = ""
        for source in mount_from:
            resp = client.request("POST", f"/v2/{repo}/blobs/uploads/?" + urlencode({"mount": digest, "from": source}),
                                  scope=scope, body=b"")
            if resp.status == 201:
                say({"status": f"Mounted from {source}", "progressDetail": {}, "id": ident})
                return
            location = resp.header("location")
            break
        if not location:
            resp = client.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope, body=b"")
            location = resp.header("location")
        target = _location(location, repo)
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        path = str(store.content.path(digest))
        size = os.path.getsize(path)
        body = _ProgressFile(path, size, ident, emit if emit is not None and desc.get("_progress", True) else None)
        try:
            client.request("PUT", target, scope=scope, body=body,  # type: ignore[arg-type]
                           headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        finally:
            body.close()
        say({"status": "Pushed", "progressDetail": {}, "id": ident})
    finally:
        client.close()


def push_image(store: ImageStore, ref: Reference, creds: Credentials | None = None, *,
               insecure: Iterable[str] = (), emit: Emit | None = None) -> dict[str, Any]:
    """Push the image tagged ``ref``; returns ``{"Tag", "Digest", "Size"}``. Its blobs are held
    under a content lease, so removing the image meanwhile does not pull them from under the upload."""
    with store.content.leased():
        return _push(store, ref, creds, insecure, emit)


def _push(store: ImageStore, ref: Reference, creds: Credentials | None, insecure: Iterable[str],
          emit: Emit | None) -> dict[str, Any]:
    say = emit or (lambda obj: None)
    image = store.get(str(ref))
    tag = ref.tag or "latest"
    client = DistributionClient(ref.domain, creds, insecure=insecure)
    repo = ref.path
    sources = sorted({r.split("@")[0].split("/", 1)[1] for r in image.repo_digests
                      if "/" in r and r.split("/", 1)[0] == ref.domain and r.split("@")[0].split("/", 1)[1] != repo})
    scope = f"repository:{repo}:pull,push" + "".join(f" repository:{s}:pull" for s in sources)
    say({"status": f"The push refers to repository [{ref.familiar_name}]"})
    manifest = image.manifest
    layers = list(manifest.get("layers") or [])
    diff_ids = image.diff_ids
    idents = [short(diff_ids[i]) if i < len(diff_ids) else short(d["digest"]) for i, d in enumerate(layers)]
    for ident in reversed(idents):
        say({"status": "Preparing", "progressDetail": {}, "id": ident})
    try:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="push") as pool:
            futures = [pool.submit(push_blob, client, store, repo, desc, scope, ident, say, sources[:1])
                       for desc, ident in zip(layers, idents)]
            config = dict(manifest["config"], _progress=False)
            futures.append(pool.submit(push_blob, client, store, repo, config, scope, short(config["digest"]),
                                       None, []))
            for f in futures:
                f.result()
        data = store.content.read(image.manifest_digest)
        media = json.loads(data).get("mediaType") or OCI_MANIFEST
        resp = client.request("PUT", f"/v2/{repo}/manifests/{tag}", scope=scope, body=data,
                              headers={"Content-Type": media})
        digest = resp.header("docker-content-digest") or image.manifest_digest
    finally:
        client.close()
    from kobako.images import Reference as Ref

    store.tag(image.id, Ref(ref.domain, ref.path, None, digest))
    say({"status": f"{tag}: digest: {digest} size: {len(data)}"})
    aux = {"Tag": tag, "Digest": digest, "Size": len(data)}
    say({"progressDetail": {}, "aux": aux})
    return aux
