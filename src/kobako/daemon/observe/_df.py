"""``system df`` and ``container prune`` arithmetic, kept pure for unit tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence

from kobako.errors import InvalidArgument

from ._eventfilter import parse_timestamp


def chain_of(diff_ids: Sequence[str]) -> list[str]:
    """Chain ids as the OCI image spec defines them (identity of a layer in its stack)."""
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def layer_usage(images: Sequence[tuple[str, Sequence[str]]],
                sizes: Mapping[str, int]) -> tuple[int, dict[str, int]]:
    """``(LayersSize, {image id: SharedSize})`` from each image's diff ids and each diff's size.

    A layer is its chain id; LayersSize counts each once; an image's SharedSize is the size of
    its layers that another image also uses (moby ``computeSharedSize``).
    """
    refs: Counter[str] = Counter()
    chain_size: dict[str, int] = {}
    per_image: dict[str, list[str]] = {}
    for image_id, diffs in images:
        chains = chain_of(diffs)
        per_image[image_id] = chains
        for chain, diff in zip(chains, diffs, strict=True):
            chain_size[chain] = int(sizes.get(diff, 0))
        refs.update(set(chains))
    total = sum(chain_size.values())
    shared = {iid: sum(chain_size[c] for c in chains if refs[c] > 1) for iid, chains in per_image.items()}
    return total, shared


def parse_until(value: str, now: float | None = None) -> float:
    """A prune ``until`` filter: a Go duration ago (``24h``, ``10m30s``), RFC 3339 or unix time."""
    now = time.time() if now is None else now
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if parts and "".join(n + u for n, u in parts) == value:
        return now - sum(float(n) * units[u] for n, u in parts)
    ns = parse_timestamp(value)
    if ns is None:
        raise InvalidArgument(f"invalid until filter: {value!r}")
    return ns / 1e9


def prune_match(created: float, labels: Mapping[str, str], filters: Mapping[str, Sequence[str]],
                now: float | None = None) -> bool:
    """moby's prune filters: ``until`` (created before), ``label`` and ``label!``."""
    for key in filters:
        if key not in ("until", "label", "label!"):
            raise InvalidArgument(f"invalid filter '{key}'")
    for v in filters.get("until", ()):
        if created >= parse_until(v, now):
            return False
    for v in filters.get("label", ()):
        k, sep, want = v.partition("=")
        if k not in labels or (sep and labels[k] != want):
            return False
    for v in filters.get("label!", ()):
        k, sep, want = v.partition("=")
        if k in labels and (not sep or labels[k] == want):
            return False
    return True
