"""``ImageStore``: images and their references, over a content store and a snapshotter."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kobako.errors import DigestMismatch, InvalidArgument, NoSuchBlob, NoSuchImage
from kobako.ids import sha256_digest
from kobako.images._image import ZERO_TIME, Image
from kobako.images._index import Index
from kobako.images._manifest import chain_ids, diff_ids, load_json, validate_manifest
from kobako.images._remove import ImageUser, InUse, plan_remove
from kobako.images._unpack import unpack_layers
from kobako.images.reference import Reference, is_image_id, parse_reference

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable

    from kobako.content import GcResult, LocalContentStore
    from kobako.snapshots import Snapshotter

_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{1,64})\Z")

__all__ = ["ImageStore", "ImageUser"]


class ImageStore:
    """Images (id = config digest) with tags and digest references in ``root/index.db``.

    Manifest and config blobs live in ``content``; layers are unpacked into ``snapshotter``
    snapshots keyed by chain id. All methods are safe to call from several threads or
    processes at once.
    """

    def __init__(self, root: Path | str, content: LocalContentStore, snapshotter: Snapshotter) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.content = content
        self.snapshotter = snapshotter
        self._index = Index(self.root / "index.db")
        self._gc_roots: list[Callable[[], Iterable[str]]] = []
        # Unpacked layer sizes by diff id, as learnt: a diff id fixes the layer's content and its rows
        # are never deleted, so an entry never goes stale (a miss still asks the index).
        self._layer_size: dict[str, int] = {}

    # --- adding -----------------------------------------------------------------------------
    def add(self, manifest_bytes: bytes, config_bytes: bytes) -> Image:
        """Record an image whose layer blobs are already in the content store.

        The config digest is computed here and must match the manifest's; manifest and config
        are (re)written to the content store, which verifies them again.
        """
        manifest = load_json(manifest_bytes, "manifest")
        validate_manifest(manifest)
        config = load_json(config_bytes, "image config")
        config_digest = sha256_digest(config_bytes)
        if manifest["config"]["digest"] != config_digest:
            raise DigestMismatch(manifest["config"]["digest"], config_digest)
        diffs = diff_ids(config)
        if len(diffs) != len(manifest["layers"]):
            raise InvalidArgument(
                f"invalid image: {len(manifest['layers'])} layers but {len(diffs)} diff ids"
            )
        with self.content.leased() as lease:  # no collection takes the layers before the row is in
            for digest in lease.protect([layer["digest"] for layer in manifest["layers"]]):
                raise NoSuchBlob(digest)
            self.content.write(config_bytes, config_digest)
            manifest_digest = self.content.write(manifest_bytes)
            created = str(config.get("created") or ZERO_TIME)
            with self._index.tx() as db:
                db.execute(
                    "INSERT INTO images (id, manifest_digest, created, added) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest",
                    (config_digest, manifest_digest, created, time.time()),
                )
            return self._load(config_digest)

    # --- references -------------------------------------------------------------------------
    def tag(self, image_id: str, ref: str | Reference) -> Reference:
        """Point ``ref`` at the image (moving it from any other image). A reference with a
        digest is recorded as a repo digest."""
        image = self.get(image_id)
        parsed = ref if isinstance(ref, Reference) else parse_reference(ref)
        if parsed.digest is not None:
            parsed = Reference(parsed.domain, parsed.path, None, parsed.digest)
        kind = "digest" if parsed.digest is not None else "tag"
        with self._index.tx() as db:
            db.execute(
                "INSERT INTO refs (ref, image_id, kind) VALUES (?, ?, ?)"
                " ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id",
                (str(parsed), image.id, kind),
            )
        return parsed

    def untag(self, ref: str | Reference) -> Reference:
        parsed = ref if isinstance(ref, Reference) else parse_reference(ref)
        with self._index.tx() as db:
            if db.execute("DELETE FROM refs WHERE ref = ?", (str(parsed),)).rowcount == 0:
                raise NoSuchImage(ref if isinstance(ref, str) else ref.familiar())
        return parsed

    def references(self, image_id: str) -> list[Reference]:
        with self._index.read() as db:
            rows = db.execute("SELECT ref FROM refs WHERE image_id = ? ORDER BY ref", (image_id,)).fetchall()
        return [parse_reference(r[0], default_tag=False) for r in rows]

    # --- lookup -----------------------------------------------------------------------------
    def resolve(self, ref_or_id: str) -> tuple[str, bool]:
        """(image id, whether ``ref_or_id`` named it by id rather than by reference)."""
        if is_image_id(ref_or_id):
            full = ref_or_id if ref_or_id.startswith("sha256:") else "sha256:" + ref_or_id
            with self._index.read() as db:
                if db.execute("SELECT 1 FROM images WHERE id = ?", (full,)).fetchone():
                    return full, True
            raise NoSuchImage(ref_or_id)
        parsed = parse_reference(ref_or_id)
        with self._index.read() as db:
            row = db.execute("SELECT image_id FROM refs WHERE ref = ?", (str(parsed),)).fetchone()
            if row is not None:
                return str(row[0]), False
            m = _PREFIX.match(ref_or_id)
            if m is not None:
                rows = db.execute(
                    "SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT 2",
                    (len(m.group(1)), m.group(1)),
                ).fetchall()
                if len(rows) == 1:
                    return str(rows[0][0]), True
        # Docker answers an ambiguous prefix with "No such image" as well
        raise NoSuchImage(ref_or_id)

    def get(self, ref_or_id: str, *, protect: bool = True) -> Image:
        """By familiar or full reference, ``sha256:<hex>``, full id or unique id prefix.

        Inside a ``content.leased()`` block (a build's base image, a commit's parent, a save) the
        image's blobs join the lease, so removing the image meanwhile does not take them;
        ``protect=False`` for a caller that will not read them (a build's finished result, only
        reported and tagged)."""
        image = self._load(self.resolve(ref_or_id)[0])
        lease = self.content.current_lease() if protect else None
        if lease is not None and lease.protect(image_blobs(image.manifest_digest, image.manifest)):
            raise NoSuchImage(ref_or_id)  # removed and collected between the lookup and the lease
        return image

    def list(self) -> list[Image]:
        with self._index.read() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM images ORDER BY created DESC, id").fetchall()]
        return [self._load(i) for i in ids]

    def tags_of(self, image_id: str) -> tuple[str, ...] | None:
        """The familiar tags of the image with exactly this id, or None if there is no such image:
        one query, for a caller that needs no more (a build whose result already exists)."""
        with self._index.read() as db:
            rows = db.execute(
                "SELECT r.ref, r.kind FROM images i LEFT JOIN refs r ON r.image_id = i.id WHERE i.id = ?"
                " ORDER BY r.ref", (image_id,)).fetchall()
        if not rows:
            return None
        return tuple(_familiar(r) for r, k in rows if k == "tag")

    def _load(self, image_id: str) -> Image:
        with self._index.read() as own:
            rows = own.execute(
                "SELECT i.manifest_digest, i.created, r.ref, r.kind FROM images i"
                " LEFT JOIN refs r ON r.image_id = i.id WHERE i.id = ? ORDER BY r.ref", (image_id,)).fetchall()
            if not rows:
                raise NoSuchImage(image_id)
            manifest_digest, created = rows[0][0], rows[0][1]
            config = load_json(self.content.read(image_id), "image config")
            manifest = load_json(self.content.read(manifest_digest), "manifest")
            size = self._size(own, config, manifest)
        tags = tuple(_familiar(r) for _, _, r, k in rows if k == "tag")
        digests = tuple(_familiar(r) for _, _, r, k in rows if k == "digest")
        return Image(
            id=image_id,
            manifest_digest=manifest_digest,
            config=config,
            manifest=manifest,
            repo_tags=tags,
            repo_digests=digests,
            created=created,
            size=size,
            driver=getattr(self.snapshotter, "name", ""),
        )

    def _size(self, db: sqlite3.Connection, config: dict[str, Any], manifest: dict[str, Any]) -> int:
        """Unpacked size when every layer has been unpacked once, else the compressed size."""
        diffs = diff_ids(config)
        known = self._layer_size
        missing = [d for d in diffs if d not in known]
        if missing:
            found = db.execute(
                f"SELECT diff_id, size FROM layers WHERE diff_id IN ({','.join('?' * len(missing))})", missing
            ).fetchall()
            for d, n in found:
                known[str(d)] = int(n)
            if len(found) < len(set(missing)):
                return sum(int(layer.get("size", 0)) for layer in manifest["layers"])
        return sum(known[d] for d in diffs)

    # --- layers -----------------------------------------------------------------------------
    def layer_sizes(self) -> dict[str, int]:
        """Unpacked size of every layer unpacked so far, by diff id (``system df``)."""
        with self._index.read() as db:
            return {str(d): int(s) for d, s in db.execute("SELECT diff_id, size FROM layers").fetchall()}

    def chain_ids(self, image: Image) -> list[str]:
        return chain_ids(image.diff_ids)

    def unpack(self, image: Image) -> str:
        """Make sure every layer is a committed snapshot keyed by its chain id; return the top
        chain id (the parent for a container's ``prepare``). Existing snapshots are reused."""
        sizes = unpack_layers(self.content, self.snapshotter, image.manifest["layers"], image.diff_ids)
        with self._index.tx() as db:
            db.executemany("INSERT OR REPLACE INTO layers (diff_id, size) VALUES (?, ?)", sizes.items())
        chains = self.chain_ids(image)
        return chains[-1] if chains else ""

    # --- garbage collection ---------------------------------------------------------------------
    def add_gc_root(self, roots: Callable[[], Iterable[str]]) -> None:
        """Another keeper of blobs in this content store (the build cache): its digests survive
        ``collect_garbage``."""
        self._gc_roots.append(roots)

    def gc_roots(self) -> set[str]:
        """Every blob an image (manifest, config, layers) or a registered keeper refers to.
        Raises rather than leave out an image whose manifest cannot be read."""
        with self._index.read() as db:
            rows = db.execute("SELECT id, manifest_digest FROM images").fetchall()
        keep: set[str] = set()
        for image_id, manifest_digest in rows:
            keep.add(str(image_id))
            try:
                manifest = load_json(self.content.read(manifest_digest), "manifest")
            except NoSuchBlob:
                raise NoSuchBlob(f"{manifest_digest} (manifest of image {image_id}): not collecting garbage "
                                 "while an image's layers are unknown; remove that image") from None
            keep.update(image_blobs(str(manifest_digest), manifest))
        for roots in self._gc_roots:
            keep.update(roots())
        return keep

    def collect_garbage(self, *, dry_run: bool = False) -> GcResult:
        """Delete the content blobs no image, registered keeper or operation in progress uses."""
        return self.content.collect(self.gc_roots, dry_run=dry_run)

    # --- removal ----------------------------------------------------------------------------
    def remove(self, ref_or_id: str, force: bool = False, in_use: InUse | None = None) -> list[dict[str, str]]:
        """``docker rmi``: untag, and delete the image when no reference is left.

        Returns Docker's records (``[{"Untagged": "busybox:latest"}, {"Deleted": "sha256:…"}]``).
        ``in_use(image_id)`` says which container uses the image (an ``ImageUser``, or a bool);
        a running container blocks even ``force``, a stopped one only without it.
        """
        image_id, by_id = self.resolve(ref_or_id)
        user = _user(in_use(image_id) if in_use is not None else None)
        remaining: list[str] = []
        with self._index.tx() as db:
            refs = [
                parse_reference(r[0], default_tag=False)
                for r in db.execute("SELECT ref FROM refs WHERE image_id = ? ORDER BY ref", (image_id,))
            ]
            plan = plan_remove(image_id, ref_or_id, by_id, refs, force, user)
            for ref in plan.untag:
                db.execute("DELETE FROM refs WHERE ref = ?", (str(ref),))
            if plan.delete:
                db.execute("DELETE FROM images WHERE id = ?", (image_id,))
                remaining = [r[0] for r in db.execute("SELECT id FROM images")]
        records: list[dict[str, str]] = [{"Untagged": r.familiar()} for r in plan.untag]
        if plan.delete:
            records.append({"Deleted": image_id})
            records.extend({"Deleted": c} for c in self._release_layers(image_id, remaining))
        return records

    def _release_layers(self, image_id: str, remaining: list[str]) -> list[str]:
        """Remove this image's snapshots that no remaining image needs, top down."""
        try:
            config = load_json(self.content.read(image_id), "image config")
        except NoSuchBlob:
            return []
        keep: set[str] = set()
        for other in remaining:
            try:
                keep.update(chain_ids(diff_ids(load_json(self.content.read(other), "image config"))))
            except NoSuchBlob:
                continue
        removed: list[str] = []
        for chain in reversed(chain_ids(diff_ids(config))):
            if chain in keep or not self.snapshotter.exists(chain):
                break
            try:
                self.snapshotter.remove(chain)
            except Exception:  # a child (container or another layer) still uses it
                break
            removed.append(chain)
        return removed


@functools.lru_cache(maxsize=1024)
def _familiar(ref: str) -> str:
    """A stored (normalized) reference as ``docker images`` shows it; a pure function of the text."""
    return parse_reference(ref, default_tag=False).familiar()


def image_blobs(manifest_digest: str, manifest: dict[str, Any]) -> list[str]:
    """The blobs an image is made of: manifest, config, layers (foreign layers have none here)."""
    out = [manifest_digest]
    config = manifest.get("config")
    if isinstance(config, dict) and isinstance(config.get("digest"), str):
        out.append(config["digest"])
    for layer in manifest.get("layers") or []:
        if isinstance(layer, dict) and isinstance(layer.get("digest"), str):
            out.append(layer["digest"])
    return out


def _user(value: ImageUser | bool | None) -> ImageUser | None:
    if value is None or value is False:
        return None
    if value is True:
        return ImageUser("", running=False)
    return value
