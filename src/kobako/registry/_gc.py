"""Garbage collection of unreferenced blobs (distribution's ``registry garbage-collect``).

Mark: every manifest revision of every repository, with its config and layers, and the
children of indexes. Sweep: delete the blobs nobody marked, and their repository links.
Run it while the registry is stopped (or read-only): an upload that finishes during the sweep
of its own blob, before its manifest is pushed, would lose that blob.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kobako.registry._names import hex_of, is_digest
from kobako.registry._storage import RegistryStorage


@dataclass(slots=True)
class GcResult:
    marked: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    freed: int = 0


def collect(storage: RegistryStorage, *, dry_run: bool = False, delete_untagged: bool = False) -> GcResult:
    result = GcResult()
    for name in storage.catalog():
        revisions = storage.revisions(name)
        if delete_untagged:
            tagged = set()
            for tag in storage.tags(name):
                tagged.add(storage.resolve(name, tag))
            keep = _closure(storage, tagged)
            for digest in revisions:
                if digest not in keep and not dry_run:
                    storage.delete_manifest(name, digest)
            revisions = [d for d in revisions if d in keep]
        for digest in revisions:
            _mark(storage, digest, result.marked)
    for digest in storage.blobs.list():
        if digest in result.marked:
            continue
        result.freed += storage.blobs.size(digest)
        result.deleted.append(digest)
        if not dry_run:
            storage.blobs.delete(digest)
    if not dry_run and result.deleted:
        gone = {hex_of(d) for d in result.deleted}
        for name in storage.catalog():
            layers = storage.repo(name) / "_layers"
            if layers.is_dir():
                for link in layers.iterdir():
                    if link.name in gone:
                        link.unlink(missing_ok=True)
    return result


def _closure(storage: RegistryStorage, roots: set[str]) -> set[str]:
    out: set[str] = set()
    for d in roots:
        for child in _children(storage, d):
            out.add(child)
        out.add(d)
    return out


def _children(storage: RegistryStorage, digest: str) -> list[str]:
    try:
        doc = json.loads(storage.blobs.read(digest))
    except (ValueError, OSError):
        return []
    out = []
    for child in doc.get("manifests") or []:
        if isinstance(child, dict) and is_digest(str(child.get("digest"))):
            out.append(child["digest"])
            out.extend(_children(storage, child["digest"]))
    return out


def _mark(storage: RegistryStorage, digest: str, marked: set[str]) -> None:
    if digest in marked:
        return
    marked.add(digest)
    if not storage.blobs.has(digest):
        return
    try:
        doc = json.loads(storage.blobs.read(digest))
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    for desc in [doc.get("config"), *(doc.get("layers") or [])]:
        if isinstance(desc, dict) and is_digest(str(desc.get("digest"))):
            marked.add(desc["digest"])
    for child in doc.get("manifests") or []:
        if isinstance(child, dict) and is_digest(str(child.get("digest"))):
            _mark(storage, child["digest"], marked)
