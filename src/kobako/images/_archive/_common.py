"""What saving and loading share: formats, media types, archive paths."""

from __future__ import annotations

import posixpath
import re

from kobako.errors import InvalidArgument
from kobako.images._manifest import (
    MEDIA_DOCKER_CONFIG,
    MEDIA_DOCKER_LAYER_GZIP,
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_LAYER_ZSTD,
)

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
_FORMATS = {"": DOCKER_ARCHIVE, "docker": DOCKER_ARCHIVE, DOCKER_ARCHIVE: DOCKER_ARCHIVE,
            "oci": OCI_ARCHIVE, OCI_ARCHIVE: OCI_ARCHIVE}

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MEDIA_OCI_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)

# what an OCI layout calls a Docker media type
TO_OCI = {
    MEDIA_DOCKER_CONFIG: MEDIA_OCI_CONFIG,
    MEDIA_DOCKER_LAYER_GZIP: MEDIA_OCI_LAYER_GZIP,
    MEDIA_DOCKER_LAYER: MEDIA_OCI_LAYER,
    MEDIA_DOCKER_FOREIGN: MEDIA_OCI_NONDIST_GZIP,
}
LAYER_MEDIA = {"none": MEDIA_OCI_LAYER, "gzip": MEDIA_OCI_LAYER_GZIP, "zstd": MEDIA_OCI_LAYER_ZSTD}

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
OCI_LAYOUT = "oci-layout"
OCI_LAYOUT_CONTENT = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_JSON = "index.json"
MANIFEST_JSON = "manifest.json"
REPOSITORIES = "repositories"

_BLOB_PATH = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")


def archive_format(name: str | None) -> str:
    """``docker-archive`` (the default, like ``docker save``) or ``oci-archive``; podman's names,
    with ``docker``/``oci`` as shorthands."""
    try:
        return _FORMATS[(name or "").lower()]
    except KeyError:
        raise InvalidArgument(f"unsupported archive format {name!r}: use docker-archive or oci-archive") \
            from None


def blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


def digest_of_path(path: str) -> str | None:
    """``sha256:<hex>`` when ``path`` is a content-addressed blob path, else None."""
    m = _BLOB_PATH.match(path)
    return "sha256:" + m.group(1) if m else None


def clean_entry(name: str) -> str:
    """A tar entry's name as a relative path inside the archive; ``../`` or absolute paths are refused."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise InvalidArgument(f"invalid archive entry {name!r}: path escapes the archive")
    return "/".join(parts)


def join_inside(base_dir: str, target: str, what: str) -> str:
    """``target`` relative to ``base_dir``; refused when it is absolute or climbs out of the archive."""
    joined = posixpath.normpath(posixpath.join(base_dir, target)) if target else base_dir
    if target.startswith("/") or joined == ".." or joined.startswith("../"):
        raise InvalidArgument(f"{what}: path {target!r} escapes the archive")
    return "" if joined == "." else joined


def clean_reference_path(path: object, what: str) -> str:
    """A path named by manifest.json or an index, relative to the archive root."""
    if not isinstance(path, str) or not path:
        raise InvalidArgument(f"invalid archive: {what} is not a path")
    rel = posixpath.normpath(path)
    if path.startswith("/") or rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"invalid archive: {what} {path!r} escapes the archive")
    return rel
