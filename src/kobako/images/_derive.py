"""``derive_image``: a child image from a parent plus one layer (``docker commit``)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from kobako.images._build import dumps, store_layer
from kobako.images._manifest import MEDIA_DOCKER_LAYER_GZIP, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_LAYER_GZIP

if TYPE_CHECKING:
    from kobako.images._image import Image
    from kobako.images.store import ImageStore


def derive_image(images: ImageStore, parent: Image | None, layer: IO[bytes] | None, config: dict[str, Any],
                 ref: str | None = None) -> Image:
    """Store ``parent``'s layers plus ``layer`` (an uncompressed tar, stored gzipped; None for no
    new layer) under ``config`` (complete but for ``rootfs``, filled in here); tag ``ref``.
    Under a content lease: the parent's blobs and the new layer are kept until the image is recorded."""
    with images.content.leased() as lease:
        if parent is not None and lease.protect([parent.manifest_digest, parent.id,
                                                 *(x["digest"] for x in parent.manifest.get("layers") or [])]):
            from kobako.errors import NoSuchImage

            raise NoSuchImage(f"{parent.id}: the image was removed")
        return _derive(images, parent, layer, config, ref)


def _derive(images: ImageStore, parent: Image | None, layer: IO[bytes] | None, config: dict[str, Any],
            ref: str | None) -> Image:
    manifest: dict[str, Any] = dict(parent.manifest) if parent is not None else {
        "schemaVersion": 2, "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json"},
    }
    layers = [dict(x) for x in manifest.get("layers") or []]
    diff_ids = list(parent.diff_ids) if parent is not None else []
    if layer is not None:
        stored = store_layer(images.content, layer)
        oci = manifest.get("mediaType") != MEDIA_DOCKER_MANIFEST
        layers.append({"mediaType": MEDIA_OCI_LAYER_GZIP if oci else MEDIA_DOCKER_LAYER_GZIP,
                       "size": stored.size, "digest": stored.digest})
        diff_ids.append(stored.diff_id)
    config = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_bytes = dumps(config)
    config_digest = images.content.write(config_bytes)
    manifest["config"] = {**manifest["config"], "size": len(config_bytes), "digest": config_digest}
    manifest["layers"] = layers
    manifest.pop("annotations", None)
    image = images.add(dumps(manifest), config_bytes)
    if ref is not None:
        images.tag(image.id, ref)
        image = images.get(image.id)
    return image
