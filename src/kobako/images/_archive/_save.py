"""``docker save``: images to a tar stream.

Both formats are one OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/``) with
the blobs as kobako stores them (layers stay compressed). ``docker-archive`` adds Docker's
``manifest.json`` and ``repositories`` naming the same blobs, exactly as Docker ≥ 25 writes it,
so Docker 20.10 and later, skopeo's ``docker-archive:`` and OCI tools all read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from kobako.errors import DigestMismatch, InvalidArgument, NoSuchBlob
from kobako.images._archive._common import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    DOCKER_ARCHIVE,
    INDEX_JSON,
    MANIFEST_JSON,
    MEDIA_OCI_INDEX,
    OCI_LAYOUT,
    OCI_LAYOUT_CONTENT,
    REPOSITORIES,
    TO_OCI,
    archive_format,
    blob_path,
)
from kobako.images._manifest import MEDIA_OCI_MANIFEST
from kobako.images.reference import Reference, is_image_id, parse_reference

if TYPE_CHECKING:
    from kobako.images._image import Image
    from kobako.images.store import ImageStore

_CHUNK = 1 << 20


@dataclass
class SaveItem:
    image: Image
    refs: list[Reference] = field(default_factory=list)


def plan_save(images: ImageStore, names: list[str]) -> list[SaveItem]:
    """The images ``names`` select, with the tags to record (moby ``parseNames``): a tag names
    itself; a bare repository name all its tags; an id or digest reference the image alone.
    Raises before anything is written when an image or one of its blobs is missing."""
    if not names:
        raise InvalidArgument("no image names given")
    items: dict[str, SaveItem] = {}

    def add(image_id: str, ref: Reference | None) -> None:
        item = items.get(image_id)
        if item is None:
            item = items[image_id] = SaveItem(images.get(image_id))
        if ref is not None and ref not in item.refs:
            item.refs.append(ref)

    for name in names:
        if is_image_id(name):
            add(images.resolve(name)[0], None)
            continue
        ref = parse_reference(name, default_tag=False)
        if ref.digest is not None:
            add(images.resolve(name)[0], None)
        elif ref.tag is None:
            tagged = [(image.id, r) for image in images.list() for r in images.references(image.id)
                      if r.name == ref.name and r.tag is not None and r.digest is None]
            if not tagged:
                image_id, by_id = images.resolve(name)
                add(image_id, None if by_id else parse_reference(name))
            for image_id, r in tagged:
                add(image_id, r)
        else:
            image_id, by_id = images.resolve(name)  # "sha256:abc" parses as a tag but is an id prefix
            add(image_id, None if by_id else ref)
    for item in items.values():
        for blob in [item.image.id, *(layer["digest"] for layer in item.image.manifest["layers"])]:
            if not images.content.has(blob):
                raise NoSuchBlob(f"{blob} (of image {item.image.id}) is not in the content store")
    return list(items.values())


def oci_manifest(images: ImageStore, image: Image) -> bytes:
    """The image's manifest with OCI media types: the stored bytes when it already is one."""
    if image.manifest.get("mediaType", MEDIA_OCI_MANIFEST) == MEDIA_OCI_MANIFEST:
        return images.content.read(image.manifest_digest)
    cfg = image.manifest["config"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": TO_OCI.get(cfg.get("mediaType", ""), cfg.get("mediaType")),
                   "digest": cfg["digest"], "size": cfg["size"]},
        "layers": [{**layer, "mediaType": TO_OCI.get(layer.get("mediaType", ""), layer.get("mediaType"))}
                   for layer in image.manifest["layers"]],
    }
    if image.manifest.get("annotations"):
        manifest["annotations"] = image.manifest["annotations"]
    return json.dumps(manifest, separators=(",", ":")).encode()


class _Verifying:
    """Reads a blob and checks its digest once all of it has been read."""

    def __init__(self, f: IO[bytes], digest: str) -> None:
        self._f = f
        self._digest = digest
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._sha.update(data)
        return data

    def check(self) -> None:
        actual = "sha256:" + self._sha.hexdigest()
        if actual != self._digest:
            raise DigestMismatch(self._digest, actual)


class _Writer:
    def __init__(self, out: IO[bytes]) -> None:
        self.tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.written: set[str] = set()

    def _info(self, name: str, size: int = 0, *, directory: bool = False) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        info.mode = 0o755 if directory else 0o644
        info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        info.uname = info.gname = ""
        return info

    def directory(self, name: str) -> None:
        self.tf.addfile(self._info(name, directory=True))

    def data(self, name: str, data: bytes) -> None:
        if name in self.written:
            return
        self.written.add(name)
        self.tf.addfile(self._info(name, len(data)), io.BytesIO(data))

    def blob(self, images: ImageStore, digest: str) -> None:
        name = blob_path(digest)
        if name in self.written:
            return
        self.written.add(name)
        size = images.content.size(digest)
        with images.content.open(digest) as f:
            src = _Verifying(f, digest)
            self.tf.addfile(self._info(name, size), src)  # type: ignore[arg-type]
        src.check()

    def close(self) -> None:
        self.tf.close()


def _platform(config: dict[str, Any]) -> dict[str, str]:
    plat = {"architecture": str(config.get("architecture") or ""), "os": str(config.get("os") or "")}
    if config.get("variant"):
        plat["variant"] = str(config["variant"])
    return plat


def write_archive(images: ImageStore, items: list[SaveItem], out: IO[bytes],
                  fmt: str = DOCKER_ARCHIVE) -> None:
    """Write ``items`` (from :func:`plan_save`) to ``out`` as a tar stream."""
    fmt = archive_format(fmt)
    w = _Writer(out)
    w.data(OCI_LAYOUT, OCI_LAYOUT_CONTENT)
    w.directory("blobs")
    w.directory("blobs/sha256")
    index: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        image = item.image
        w.blob(images, image.id)
        layers = [layer["digest"] for layer in image.manifest["layers"]]
        for digest in layers:
            w.blob(images, digest)
        manifest = oci_manifest(images, image)
        m_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        w.data(blob_path(m_digest), manifest)
        desc = {"mediaType": MEDIA_OCI_MANIFEST, "digest": m_digest, "size": len(manifest),
                "platform": _platform(image.config)}
        for ref in item.refs:
            notes = {ANNOTATION_IMAGE_NAME: str(ref), ANNOTATION_REF_NAME: ref.tag or ""}
            index.append({**desc, "annotations": notes})
            if image.diff_ids:
                repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = \
                    image.diff_ids[-1].removeprefix("sha256:")
        if not item.refs:
            index.append(desc)
        manifest_json.append({"Config": blob_path(image.id),
                              "RepoTags": [r.familiar() for r in item.refs] or None,
                              "Layers": [blob_path(d) for d in layers]})
    w.data(INDEX_JSON, _dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index}))
    if fmt == DOCKER_ARCHIVE:
        w.data(MANIFEST_JSON, _dumps(manifest_json))
        if repositories:
            w.data(REPOSITORIES, _dumps(repositories))
    w.close()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def save_archive(images: ImageStore, names: list[str], out: IO[bytes], fmt: str = DOCKER_ARCHIVE) -> None:
    """``plan_save`` then ``write_archive``."""
    write_archive(images, plan_save(images, names), out, fmt)

