"""Repository names, tags, digests and media types as the distribution spec defines them."""

from __future__ import annotations

import re

NAME = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\Z")
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}\Z")
NAME_MAX = 255

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)


def valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX and bool(NAME.match(name))


def is_digest(ref: str) -> bool:
    return bool(DIGEST.match(ref))


def hex_of(digest: str) -> str:
    return digest.removeprefix("sha256:")
