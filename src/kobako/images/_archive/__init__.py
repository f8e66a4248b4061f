"""Image archives: ``docker save``/``docker load`` in the docker-archive format and as an OCI
image layout (both as tar streams).

``save_archive(images, names, out, fmt)`` (or ``plan_save`` first, to fail before writing, then
``write_archive``) and ``load_archive(images, fileobj, emit)`` → ``[LoadedImage]``.
"""

from __future__ import annotations

from kobako.images._archive._common import DOCKER_ARCHIVE, OCI_ARCHIVE, archive_format
from kobako.images._archive._load import LoadedImage, load_archive
from kobako.images._archive._save import SaveItem, oci_manifest, plan_save, save_archive, write_archive

__all__ = [
    "DOCKER_ARCHIVE",
    "OCI_ARCHIVE",
    "LoadedImage",
    "SaveItem",
    "archive_format",
    "load_archive",
    "oci_manifest",
    "plan_save",
    "save_archive",
    "write_archive",
]
