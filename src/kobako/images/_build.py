"""Storing a locally made image: gzip a layer into the content store, write config and
manifest, record and tag. Shared by ``bootstrap`` and ``importer``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from kobako.images._manifest import MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_MANIFEST

if TYPE_CHECKING:
    from collections.abc import Callable

    from kobako.content import LocalContentStore
    from kobako.images._image import Image
    from kobako.images.store import ImageStore


@dataclass(frozen=True, slots=True)
class StoredLayer:
    digest: str  # of the gzip blob
    size: int  # of the gzip blob
    diff_id: str  # of the uncompressed tar
    tar_size: int


class _Tee:
    """Reading from it reads ``src`` and writes the same bytes to ``sink``."""

    def __init__(self, src: IO[bytes], sink: IO[bytes]) -> None:
        self._src = src
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        if data:
            self._sink.write(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def store_layer(
    content: LocalContentStore, tar_stream: IO[bytes], consume: Callable[[IO[bytes]], None] | None = None,
    level: int = 6,
) -> StoredLayer:
    """Gzip (deterministically: mtime 0, no name) an uncompressed tar into the content store.

    ``consume(reader)`` may read the tar first (e.g. to validate it); whatever it leaves
    unread is copied too. Any exception aborts the blob. ``level`` 6 is what Docker uses
    (Go's ``gzip.DefaultCompression``); segments that would not shrink are stored, not deflated
    (``_gzsink.LayerSink``: an incompressible 200 MB import took 10 s at level 6, ~1 s stored).
    """
    from kobako.images._gzsink import LayerSink

    sink = LayerSink(content, level)  # hashes the tar (diff id) and counts it as it goes
    try:
        reader = _Tee(tar_stream, sink)  # type: ignore[arg-type]
        if consume is not None:
            consume(reader)  # type: ignore[arg-type]
        reader.drain()
        return sink.commit()
    except BaseException:
        sink.abort()
        raise


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def store_image(
    images: ImageStore, layers: list[StoredLayer], config: dict[str, Any], ref: str | None
) -> Image:
    """Write the config and a Docker v2 schema2 manifest, add the image, tag it if asked."""
    config_bytes = dumps(config)
    config_digest = images.content.write(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": {"mediaType": MEDIA_DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
        "layers": [
            {"mediaType": MEDIA_DOCKER_LAYER_GZIP, "size": layer.size, "digest": layer.digest} for layer in layers
        ],
    }
    image = images.add(dumps(manifest), config_bytes)
    if ref is not None:
        images.tag(image.id, ref)
        image = images.get(image.id)
    return image
