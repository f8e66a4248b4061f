"""Storing a locally made image: gzip a layer into the content store, write config and
manifest, record and tag. Shared by ``bootstrap`` and ``importer``."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from kobako.images._manifest import MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_MANIFEST
from kobako.snapshots import CountingReader

if TYPE_CHECKING:
    from collections.abc import Callable

    from kobako.content import ContentWriter, LocalContentStore
    from kobako.images._image import Image
    from kobako.images.store import ImageStore


@dataclass(frozen=True, slots=True)
class StoredLayer:
    digest: str  # of the gzip blob
    size: int  # of the gzip blob
    diff_id: str  # of the uncompressed tar
    tar_size: int


class WriterFile:
    """Adapts a ``ContentWriter`` to the file interface ``GzipFile`` writes to."""

    def __init__(self, writer: ContentWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def flush(self) -> None:
        pass


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


def store_layer(
    content: LocalContentStore, tar_stream: IO[bytes], consume: Callable[[IO[bytes]], None] | None = None,
    level: int = 6,
) -> StoredLayer:
    """Gzip (deterministically: mtime 0, no name) an uncompressed tar into the content store.

    ``consume(reader)`` may read the tar first (e.g. to validate it); whatever it leaves
    unread is copied too. Any exception aborts the blob. ``level`` 6 is what Docker uses
    (Go's ``gzip.DefaultCompression``); 9 costs several times the CPU for ~1% smaller blobs.
    """
    with content.writer() as w:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=WriterFile(w), mtime=0,  # type: ignore[arg-type]
                           compresslevel=level)
        reader = CountingReader(_Tee(tar_stream, gz))  # type: ignore[arg-type]
        if consume is not None:
            consume(reader)  # type: ignore[arg-type]
        reader.drain()
        gz.close()
        digest = w.commit()
        size = w.size
    return StoredLayer(digest, size, reader.digest(), reader.count)


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
