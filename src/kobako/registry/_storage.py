"""The registry's storage: blobs in a ``LocalContentStore``, repositories as small files.

::

    root/blobs/sha256/<hex>                           every blob and manifest, verified (content store)
    root/blobs/ingest/…                               uploads in progress (never visible as blobs)
    root/repositories/<name>/_layers/<hex>            blob linked into the repository (empty file)
    root/repositories/<name>/_manifests/revisions/<hex>   {"mediaType", "size", "artifactType"}
    root/repositories/<name>/_manifests/tags/<tag>    "sha256:<hex>" (written atomically)
    root/repositories/<name>/_referrers/<subject hex>/<hex>   the referrer's descriptor

A blob is reachable through a repository only once linked there (pushed, or mounted from
another repository), as in distribution's registry. Path components of names never start
with ``_``, so the ``_`` directories cannot clash with nested repository names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kobako.content import LocalContentStore
from kobako.fsutil import atomic_write
from kobako.ids import sha256_digest
from kobako.registry._errors import RegistryError
from kobako.registry._names import INDEX_TYPES, MANIFEST_TYPES, hex_of, is_digest, valid_name

MAX_MANIFEST = 4 * 1024 * 1024


class RegistryStorage:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blobs = LocalContentStore(self.root / "blobs")
        self.repos = self.root / "repositories"
        self.repos.mkdir(parents=True, exist_ok=True)

    # -- repositories ----------------------------------------------------------------------
    def repo(self, name: str) -> Path:
        if not valid_name(name):
            raise RegistryError("NAME_INVALID", detail={"name": name})
        return self.repos / name

    def repo_exists(self, name: str) -> bool:
        r = self.repo(name)
        return (r / "_manifests").is_dir() or (r / "_layers").is_dir()

    def catalog(self) -> list[str]:
        out = []
        for dirpath, dirnames, _ in os.walk(self.repos):
            if "_manifests" in dirnames or "_layers" in dirnames:
                out.append(os.path.relpath(dirpath, self.repos))
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        return sorted(out)

    # -- blobs -------------------------------------------------------------------------------
    def link_blob(self, name: str, digest: str) -> None:
        d = self.repo(name) / "_layers"
        d.mkdir(parents=True, exist_ok=True)
        (d / hex_of(digest)).touch()

    def has_blob(self, name: str, digest: str) -> bool:
        if not is_digest(digest):
            raise RegistryError("DIGEST_INVALID", f"invalid digest {digest!r}", {"digest": digest})
        return (self.repo(name) / "_layers" / hex_of(digest)).exists() and self.blobs.has(digest)

    def blob_path(self, name: str, digest: str) -> Path:
        if not self.has_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": digest})
        return self.blobs.path(digest)

    def unlink_blob(self, name: str, digest: str) -> None:
        if not self.has_blob(name, digest):
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": digest})
        (self.repo(name) / "_layers" / hex_of(digest)).unlink(missing_ok=True)

    # -- manifests -----------------------------------------------------------------------------
    def resolve(self, name: str, reference: str) -> str:
        """The manifest digest a tag or digest names in ``name``; MANIFEST_UNKNOWN if none."""
        r = self.repo(name)
        if is_digest(reference):
            if (r / "_manifests" / "revisions" / hex_of(reference)).exists():
                return reference
            raise RegistryError("MANIFEST_UNKNOWN", detail={"digest": reference})
        if reference.startswith("sha256:") or ":" in reference:
            raise RegistryError("DIGEST_INVALID", f"invalid digest {reference!r}")
        try:
            digest = (r / "_manifests" / "tags" / reference).read_text().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest unknown: {name}:{reference}",
                                {"tag": reference}) from None
        return digest

    def manifest(self, name: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, bytes)."""
        digest = self.resolve(name, reference)
        meta = self.revision(name, digest)
        return digest, str(meta.get("mediaType", "")), self.blobs.read(digest)

    def revision(self, name: str, digest: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads((self.repo(name) / "_manifests" / "revisions" / hex_of(digest)).read_bytes())
        except FileNotFoundError:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"digest": digest}) from None
        return meta

    def revisions(self, name: str) -> list[str]:
        d = self.repo(name) / "_manifests" / "revisions"
        return sorted("sha256:" + p.name for p in d.iterdir()) if d.is_dir() else []

    def put_manifest(self, name: str, reference: str, data: bytes, content_type: str) -> tuple[str, str | None]:
        """Validate and store; returns (digest, subject digest or None)."""
        doc = _parse_manifest(data)
        media = str(doc.get("mediaType") or content_type.split(";")[0].strip())
        if media not in MANIFEST_TYPES:
            raise RegistryError("MANIFEST_INVALID", f"unsupported manifest media type {media!r}")
        if doc.get("schemaVersion") != 2:
            raise RegistryError("MANIFEST_INVALID", "schemaVersion must be 2")
        self._check_references(name, media, doc)
        digest = sha256_digest(data)
        if is_digest(reference) and reference != digest:
            raise RegistryError("DIGEST_INVALID", f"manifest digest {digest} does not match {reference}",
                                {"digest": reference})
        self.blobs.write(data, digest)
        r = self.repo(name)
        (r / "_manifests" / "revisions").mkdir(parents=True, exist_ok=True)
        artifact = doc.get("artifactType")
        if not artifact and media not in INDEX_TYPES:
            artifact = (doc.get("config") or {}).get("mediaType")
        meta = {"mediaType": media, "size": len(data), "artifactType": artifact,
                "annotations": doc.get("annotations")}
        atomic_write(r / "_manifests" / "revisions" / hex_of(digest), json.dumps(meta).encode(), sync=False)
        if not is_digest(reference):
            (r / "_manifests" / "tags").mkdir(parents=True, exist_ok=True)
            atomic_write(r / "_manifests" / "tags" / reference, digest.encode())
        subject = doc.get("subject")
        if isinstance(subject, dict) and isinstance(subject.get("digest"), str) and is_digest(subject["digest"]):
            sd = r / "_referrers" / hex_of(subject["digest"])
            sd.mkdir(parents=True, exist_ok=True)
            desc = {"mediaType": media, "digest": digest, "size": len(data)}
            if artifact:
                desc["artifactType"] = artifact
            if doc.get("annotations"):
                desc["annotations"] = doc["annotations"]
            atomic_write(sd / hex_of(digest), json.dumps(desc).encode(), sync=False)
            return digest, subject["digest"]
        return digest, None

    def _check_references(self, name: str, media: str, doc: dict[str, Any]) -> None:
        if media in INDEX_TYPES:
            children = doc.get("manifests")
            if not isinstance(children, list):
                raise RegistryError("MANIFEST_INVALID", "index without manifests")
            for child in children:
                digest = child.get("digest") if isinstance(child, dict) else None
                if not isinstance(digest, str) or not is_digest(digest):
                    raise RegistryError("MANIFEST_INVALID", "bad descriptor in manifests")
                if not (self.repo(name) / "_manifests" / "revisions" / hex_of(digest)).exists():
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"manifest unknown: {digest}", {"digest": digest})
            return
        config = doc.get("config")
        layers = doc.get("layers", [])
        if not isinstance(config, dict) or not isinstance(layers, list):
            raise RegistryError("MANIFEST_INVALID", "image manifest needs a config descriptor and layers")
        for desc in [config, *layers]:
            digest = desc.get("digest") if isinstance(desc, dict) else None
            if not isinstance(digest, str) or not is_digest(digest):
                raise RegistryError("MANIFEST_INVALID", f"bad descriptor digest {digest!r}")
            if desc.get("urls") and desc.get("mediaType", "").endswith("foreign.diff.tar.gzip"):
                continue  # foreign layers live elsewhere
            if not self.has_blob(name, digest):
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"blob unknown to registry: {digest}",
                                    {"digest": digest})

    def delete_manifest(self, name: str, reference: str) -> None:
        r = self.repo(name)
        digest = self.resolve(name, reference)
        tags = r / "_manifests" / "tags"
        if not is_digest(reference):
            (tags / reference).unlink(missing_ok=True)
            return
        if tags.is_dir():
            for t in tags.iterdir():
                if t.read_text().strip() == digest:
                    t.unlink(missing_ok=True)
        (r / "_manifests" / "revisions" / hex_of(digest)).unlink(missing_ok=True)
        refs = r / "_referrers"
        if refs.is_dir():
            for sub in refs.iterdir():
                (sub / hex_of(digest)).unlink(missing_ok=True)

    def tags(self, name: str) -> list[str]:
        if not self.repo_exists(name):
            raise RegistryError("NAME_UNKNOWN", f"repository name not known to registry: {name}", {"name": name})
        d = self.repo(name) / "_manifests" / "tags"
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []

    def referrers(self, name: str, digest: str, artifact_type: str | None) -> list[dict[str, Any]]:
        if not is_digest(digest):
            raise RegistryError("DIGEST_INVALID", f"invalid digest {digest!r}")
        d = self.repo(name) / "_referrers" / hex_of(digest)
        out: list[dict[str, Any]] = []
        if d.is_dir():
            for p in sorted(d.iterdir()):
                if p.name.startswith("."):
                    continue
                desc = json.loads(p.read_bytes())
                if artifact_type and desc.get("artifactType") != artifact_type:
                    continue
                out.append(desc)
        return out


def _parse_manifest(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST:
        raise RegistryError("MANIFEST_INVALID", f"manifest larger than {MAX_MANIFEST} bytes", status=413)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError("MANIFEST_INVALID", f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest is not a JSON object")
    return doc
