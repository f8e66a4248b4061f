"""Images: references, the image index, unpacking into snapshots, local image sources.

``ImageStore`` keeps images (id = config digest) and their tags in SQLite, with manifests and
configs in the content store; ``unpack`` turns layers into snapshots keyed by chain id.
``bootstrap_busybox`` and ``import_tarball`` make images without a registry; ``save_archive`` and
``load_archive`` move them as docker-archive or OCI layout tars.
"""

from __future__ import annotations

from kobako.images._archive import archive_format, load_archive, plan_save, save_archive, write_archive
from kobako.images._build import StoredLayer, store_layer
from kobako.images._changes import apply_changes, json_string_list
from kobako.images._derive import derive_image
from kobako.images._image import Image
from kobako.images._manifest import chain_ids
from kobako.images._remove import ImageUser
from kobako.images.bootstrap import bootstrap_busybox
from kobako.images.importer import import_tarball
from kobako.images.reference import Reference, parse_reference
from kobako.images.store import ImageStore

__all__ = [
    "Image",
    "ImageStore",
    "ImageUser",
    "StoredLayer",
    "Reference",
    "apply_changes",
    "json_string_list",
    "json_string_list",
    "archive_format",
    "bootstrap_busybox",
    "chain_ids",
    "derive_image",
    "import_tarball",
    "load_archive",
    "parse_reference",
    "plan_save",
    "save_archive",
    "store_layer",
    "write_archive",
]
