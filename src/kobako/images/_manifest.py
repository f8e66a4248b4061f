"""Manifests and configs: media types, validation, diff ids and chain ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kobako.errors import InvalidArgument

MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

MANIFEST_TYPES = (MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST)
LAYER_TYPES = (
    MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_LAYER_ZSTD,
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
)


def load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what}: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidArgument(f"invalid {what}: not a JSON object")
    return obj


def validate_manifest(manifest: dict[str, Any]) -> None:
    """A schema-2 image manifest (Docker v2 schema2 or OCI) with a config and layers."""
    media = manifest.get("mediaType", MEDIA_OCI_MANIFEST)
    if manifest.get("schemaVersion") != 2 or media not in MANIFEST_TYPES:
        raise InvalidArgument(f"unsupported manifest: schemaVersion {manifest.get('schemaVersion')}, {media}")
    cfg = manifest.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("digest"), str):
        raise InvalidArgument("invalid manifest: no config descriptor")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise InvalidArgument("invalid manifest: no layers")
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
            raise InvalidArgument("invalid manifest: bad layer descriptor")
        if layer.get("mediaType", MEDIA_OCI_LAYER_GZIP) not in LAYER_TYPES:
            raise InvalidArgument(f"unsupported layer media type: {layer.get('mediaType')}")


def diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs") or {}
    ids = rootfs.get("diff_ids")
    if rootfs.get("type") != "layers" or not isinstance(ids, list):
        raise InvalidArgument("invalid image config: rootfs.diff_ids missing")
    return [str(d) for d in ids]


def chain_ids(diffs: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diffs:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out
