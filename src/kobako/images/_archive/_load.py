"""``docker load``: a docker-archive (manifest.json) or an OCI image layout, as a tar stream.

Nothing is stored until the whole archive has been read and every blob checked against its
digest and every layer against the config's diff ids; a failure after that (a layer that does
not unpack) removes what this load added.
"""

from __future__ import annotations

import bz2
import contextlib
import json
import lzma
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from kobako.errors import InvalidArgument, NoSuchImage
from kobako.ids import sha256_digest
from kobako.images._archive._common import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    INDEX_JSON,
    INDEX_TYPES,
    LAYER_MEDIA,
    MANIFEST_JSON,
    OCI_LAYOUT,
    blob_path,
    clean_reference_path,
    digest_of_path,
)
from kobako.images._archive._spool import Entry, Spool
from kobako.images._manifest import MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, diff_ids, validate_manifest
from kobako.images.reference import Reference, parse_reference

if TYPE_CHECKING:
    from collections.abc import Callable

    from kobako.images.store import ImageStore


@dataclass
class LoadedImage:
    """One image of the archive: its id, the tags it got, whether it was new to the store."""

    id: str
    tags: list[str] = field(default_factory=list)
    new: bool = False
    replaced: dict[str, str] = field(default_factory=dict)  # tag -> id of the image it moved from


@dataclass
class _Planned:
    config: bytes
    manifest: bytes
    layers: list[Entry]
    blobs: list[Entry]  # config/manifest entries to store as they are (OCI layout)
    refs: list[Reference] = field(default_factory=list)

    @property
    def id(self) -> str:
        return sha256_digest(self.config)


class _Replay:
    """``fileobj`` with the bytes already read from its head put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(n)
        if n is None or n < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:n], self._head[n:]
        return data

    def readable(self) -> bool:
        return True


def _decompressed(fileobj: IO[bytes]) -> IO[bytes]:
    """The archive itself may be gzip, zstd, xz or bzip2 compressed (``docker load`` takes them all)."""
    from kobako.snapshots import open_layer

    magic = b""
    while len(magic) < 6 and (chunk := fileobj.read(6 - len(magic))):
        magic += chunk
    head = cast("IO[bytes]", _Replay(magic, fileobj))
    if magic[:6] == b"\xfd7zXZ\x00":
        return cast("IO[bytes]", lzma.open(head, "rb"))
    if magic[:3] == b"BZh":
        return cast("IO[bytes]", bz2.open(head, "rb"))
    return cast("IO[bytes]", open_layer(head))


def _json(entry: Entry, what: str) -> Any:
    try:
        return json.loads(entry.read(what))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid archive: {what} {entry.name!r} is not valid JSON ({exc})") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid archive: {what} is not a JSON object")
    return value


def _check_layer(entry: Entry, expected_diff: str, what: str) -> None:
    if entry.diff_id is None:
        raise InvalidArgument(f"invalid archive: {what} {entry.name!r}: {entry.diff_error}")
    if entry.compression not in LAYER_MEDIA:
        raise InvalidArgument(f"invalid archive: {what} {entry.name!r}: {entry.compression} layers "
                              "are not supported")
    if entry.diff_id != expected_diff:
        raise InvalidArgument(f"invalid archive: {what} {entry.name!r} does not match the image config: "
                              f"its content hashes to {entry.diff_id}, the config says {expected_diff}")


def _check_named_digest(entry: Entry, path: str, what: str) -> None:
    named = digest_of_path(path)
    if named is not None and named != entry.digest:
        raise InvalidArgument(f"invalid archive: {what} {path!r}: digest mismatch, its content hashes to "
                              f"{entry.digest}")


def _tag(text: Any, what: str) -> Reference:
    if not isinstance(text, str):
        raise InvalidArgument(f"invalid archive: {what} is not a string")
    ref = parse_reference(text, default_tag=False)
    if ref.tag is None or ref.digest is not None:
        raise InvalidArgument(f"invalid archive: {what} {text!r} is not a tagged reference")
    return ref


# -- docker-archive -----------------------------------------------------------------------------
def _plan_docker(spool: Spool) -> list[_Planned]:
    items = _json(spool.get(MANIFEST_JSON, "manifest"), "manifest")
    if not isinstance(items, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    out = []
    for n, raw in enumerate(items):
        item = _object(raw, f"manifest.json item {n}")
        cfg_path = clean_reference_path(item.get("Config"), f"manifest.json item {n}: Config")
        cfg_entry = spool.get(cfg_path, "manifest.json: Config")
        _check_named_digest(cfg_entry, cfg_path, "config")
        legacy = cfg_path[:-5] if cfg_path.endswith(".json") else ""  # Docker < 25: <hex>.json
        if len(legacy) == 64 and f"sha256:{legacy}" != cfg_entry.digest:
            raise InvalidArgument(f"invalid archive: config {cfg_path!r}: digest mismatch, it hashes "
                                  f"to {cfg_entry.digest}")
        config_bytes = cfg_entry.read("config")
        config = _object(_json(cfg_entry, "config"), f"config {cfg_path!r}")
        diffs = diff_ids(config)
        paths = item.get("Layers")
        if not isinstance(paths, list):
            raise InvalidArgument(f"invalid archive: manifest.json item {n}: Layers is not a list")
        if len(paths) != len(diffs):
            raise InvalidArgument(f"invalid archive: manifest.json item {n} names {len(paths)} layers, "
                                  f"its config {len(diffs)}")
        layers = []
        for i, (raw_path, diff) in enumerate(zip(paths, diffs)):
            path = clean_reference_path(raw_path, f"manifest.json item {n}: layer {i}")
            entry = spool.get(path, "manifest.json: layer")
            _check_named_digest(entry, path, "layer")
            _check_layer(entry, diff, "layer")
            layers.append(entry)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": cfg_entry.digest, "size": cfg_entry.size},
            "layers": [{"mediaType": LAYER_MEDIA[e.compression], "digest": e.digest, "size": e.size}
                       for e in layers],
        }
        tags = item.get("RepoTags") or []
        if not isinstance(tags, list):
            raise InvalidArgument(f"invalid archive: manifest.json item {n}: RepoTags is not a list")
        refs = [_tag(t, "RepoTags entry") for t in tags]
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        out.append(_Planned(config_bytes, manifest_bytes, layers, [], refs))
    return out


# -- OCI image layout ---------------------------------------------------------------------------
def _host() -> tuple[str, str]:
    from kobako.images.bootstrap import goarch

    return "linux", goarch()


def _blob(spool: Spool, desc: dict[str, Any], what: str) -> Entry:
    digest = desc.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise InvalidArgument(f"invalid archive: {what} has no digest")
    if not digest.startswith("sha256:"):
        raise InvalidArgument(f"invalid archive: {what} {digest}: only sha256 digests are supported")
    path = clean_reference_path(blob_path(digest), what)
    entry = spool.get(path, what)
    if entry.digest != digest:
        raise InvalidArgument(f"invalid archive: {what} {path!r}: digest mismatch, its content hashes to "
                              f"{entry.digest}")
    size = desc.get("size")
    if isinstance(size, int) and size != entry.size:
        raise InvalidArgument(f"invalid archive: {what} {path!r}: size {entry.size}, "
                              f"the descriptor says {size}")
    return entry


def _names(desc: dict[str, Any]) -> list[Reference]:
    notes = desc.get("annotations") or {}
    for key in (ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME):
        name = notes.get(key)
        # a bare tag ("latest") names no repository: the image is loaded untagged
        if isinstance(name, str) and ("/" in name or ":" in name):
            try:
                ref = parse_reference(name)
            except InvalidArgument:
                continue
            if ref.digest is None:
                return [ref]
    return []


def _pick(spool: Spool, desc: dict[str, Any], depth: int = 0) -> tuple[dict[str, Any], Entry]:
    """An image manifest descriptor, through nested indexes (the host's platform)."""
    entry = _blob(spool, desc, "manifest")
    doc = _object(_json(entry, "manifest"), f"blob {entry.name!r}")
    media = desc.get("mediaType") or doc.get("mediaType")
    if media not in INDEX_TYPES and not (media is None and "manifests" in doc):
        return doc, entry
    if depth > 4:
        raise InvalidArgument("invalid archive: indexes nested too deeply")
    os_, arch = _host()
    candidates = [d for d in doc.get("manifests") or [] if isinstance(d, dict)]
    matching = [d for d in candidates if (d.get("platform") or {}).get("os") == os_
                and (d.get("platform") or {}).get("architecture") == arch]
    present = [d for d in (matching or candidates) if spool.has(blob_path(str(d.get("digest", ""))))]
    if not present:
        raise InvalidArgument(f"invalid archive: index {entry.name!r} has no manifest for {os_}/{arch} "
                              "in the archive")
    return _pick(spool, present[0], depth + 1)


def _plan_oci(spool: Spool) -> list[_Planned]:
    layout = _object(_json(spool.get(OCI_LAYOUT, "layout"), "layout"), "oci-layout")
    if layout.get("imageLayoutVersion") != "1.0.0":
        version = layout.get("imageLayoutVersion")
        raise InvalidArgument(f"invalid archive: unsupported imageLayoutVersion {version!r}")
    index = _object(_json(spool.get(INDEX_JSON, "index"), "index"), "index.json")
    planned: dict[str, _Planned] = {}
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict):
            raise InvalidArgument("invalid archive: index.json has a descriptor that is not an object")
        manifest, m_entry = _pick(spool, desc)
        try:
            validate_manifest(manifest)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid archive: manifest {m_entry.name!r}: {exc}") from None
        cfg_entry = _blob(spool, manifest["config"], "config")
        config = _object(_json(cfg_entry, "config"), f"config {cfg_entry.name!r}")
        diffs = diff_ids(config)
        if len(diffs) != len(manifest["layers"]):
            raise InvalidArgument(f"invalid archive: manifest {m_entry.name!r} has {len(manifest['layers'])} "
                                  f"layers, its config {len(diffs)}")
        layers = []
        for layer_desc, diff in zip(manifest["layers"], diffs):
            entry = _blob(spool, layer_desc, "layer")
            _check_layer(entry, diff, "layer")
            layers.append(entry)
        plan = planned.setdefault(m_entry.digest, _Planned(cfg_entry.read("config"), m_entry.read("manifest"),
                                                           layers, [cfg_entry, m_entry]))
        plan.refs.extend(r for r in _names(desc) if r not in plan.refs)
    return list(planned.values())


# -- storing -------------------------------------------------------------------------------------
def _store(images: ImageStore, spool: Spool, plans: list[_Planned]) -> list[LoadedImage]:
    new_blobs: list[str] = []
    added: list[str] = []
    fresh_chains: list[str] = []
    results: dict[str, LoadedImage] = {}
    try:
        for plan in plans:
            image_id = plan.id
            if image_id in results:
                continue
            try:
                images.get(image_id)
            except NoSuchImage:
                pass
            else:  # already here: loading it again only (re)tags it
                results[image_id] = LoadedImage(image_id)
                continue
            for entry in [*plan.layers, *plan.blobs]:
                if spool.commit(entry):
                    new_blobs.append(entry.digest)
            for blob in (image_id, sha256_digest(plan.manifest)):
                if not images.content.has(blob):
                    new_blobs.append(blob)
            image = images.add(plan.manifest, plan.config)
            added.append(image.id)
            fresh_chains.extend(c for c in images.chain_ids(image) if not images.snapshotter.exists(c))
            images.unpack(image)
            results[image_id] = LoadedImage(image_id, new=True)
    except BaseException:
        for image_id in reversed(added):
            with contextlib.suppress(Exception):
                images.remove(image_id, force=True)
        for chain in reversed(fresh_chains):  # lower layers unpacked before a higher one failed
            with contextlib.suppress(Exception):
                if images.snapshotter.exists(chain):
                    images.snapshotter.remove(chain)
        for digest in new_blobs:
            with contextlib.suppress(Exception):
                images.content.delete(digest)
        raise
    for plan in plans:
        loaded = results[plan.id]
        for ref in plan.refs:
            familiar = ref.familiar()
            try:
                before = images.get(str(ref)).id
            except NoSuchImage:
                before = None
            images.tag(plan.id, ref)
            if before is not None and before != plan.id:
                loaded.replaced[familiar] = before
            if familiar not in loaded.tags:
                loaded.tags.append(familiar)
    return [results[i] for i in dict.fromkeys(p.id for p in plans)]


def load_archive(images: ImageStore, fileobj: IO[bytes],
                 emit: Callable[[str], None] | None = None) -> list[LoadedImage]:
    """Load every image of a docker-archive or OCI layout tar (plain or compressed) from a stream.

    A docker-archive is read through its manifest.json (so Docker ≥ 25's archives, which are
    both, load as Docker loads them); an archive without one must be an OCI image layout.
    """
    spool = Spool(images.content)
    try:
        spool.read_tar(_decompressed(fileobj))
        if spool.has(MANIFEST_JSON):
            plans = _plan_docker(spool)
        elif spool.has(OCI_LAYOUT) or spool.has(INDEX_JSON):
            plans = _plan_oci(spool)
        else:
            raise InvalidArgument("invalid archive: neither a docker-archive (no manifest.json) "
                                  "nor an OCI image layout (no oci-layout, index.json)")
        if not plans:
            raise InvalidArgument("invalid archive: it holds no image")
        with images.content.leased():  # what it stores is nobody's until the images are recorded
            loaded = _store(images, spool, plans)
    finally:
        spool.close()
    if emit is not None:
        for item in loaded:
            for tag, old in item.replaced.items():
                emit(f"The image {tag} already exists, renaming the old one with ID {old} to empty string")
            for tag in item.tags:
                emit(f"Loaded image: {tag}")
            if not item.tags:
                emit(f"Loaded image ID: {item.id}")
    return loaded
