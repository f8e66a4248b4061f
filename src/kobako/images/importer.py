"""``import_tarball``: ``docker import`` — a rootfs tar becomes a one-layer image."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, cast

from kobako.errors import InvalidArgument
from kobako.images._build import store_image, store_layer
from kobako.images._changes import apply_changes
from kobako.images.bootstrap import goarch
from kobako.snapshots import check_member, open_layer

if TYPE_CHECKING:
    from kobako.images._image import Image
    from kobako.images.store import ImageStore


def _validate(reader: IO[bytes]) -> None:
    """Every entry must pass ``apply_layer``'s rules; nothing is stored otherwise."""
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            for member in tf:
                check_member(member)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid tar: {exc}") from exc


def import_tarball(
    images: ImageStore,
    fileobj: IO[bytes],
    ref: str | None = None,
    changes: Iterable[str] = (),
    message: str = "",
) -> Image:
    """Store a (gzip/zstd/plain) rootfs tar as one gzip layer with a fresh config; tag ``ref``."""
    section = apply_changes({}, list(changes))
    if ref is not None:
        from kobako.images.reference import parse_reference

        parse_reference(ref)
    with images.content.leased():  # the layer is nobody's until the image is recorded
        return _import(images, fileobj, ref, section, message)


def _import(images: ImageStore, fileobj: IO[bytes], ref: str | None, section: dict[str, Any],
            message: str) -> Image:
    with open_layer(fileobj) as tar:
        layer = store_layer(images.content, cast("IO[bytes]", tar), _validate)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    comment = message or "Imported from -"
    config = {
        "architecture": goarch(),
        "comment": comment,
        "config": section,
        "created": created,
        "history": [{"created": created, "comment": comment}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    return store_image(images, [layer], config, ref)
