"""``BuildBackend``: what ``POST /build`` and ``POST /build/prune`` call.

The context arrives as a tar file (plain, gzip or zstd; or a bare Dockerfile, as dockerd
accepts); it is extracted with the layer extractor's safety rules into a private directory
under ``<data-root>/build/tmp`` that is removed after the build, whatever happens.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kobako.build.builder import Builder, BuildOptions, RunStep, new_build_dir
from kobako.build.cache import BuildCache
from kobako.snapshots import apply_layer, open_layer

if TYPE_CHECKING:
    from kobako.images import Image, ImageStore


def _is_tar(head: bytes) -> bool:
    if head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def extract_context(tar_path: str, dest: Path) -> None:
    with open(tar_path, "rb") as f:
        head = f.read(512)
    if head and not _is_tar(head):
        shutil.copyfile(tar_path, dest / "Dockerfile")
        return
    if not head:
        return
    with open(tar_path, "rb") as f, open_layer(f) as tar:
        apply_layer(tar, dest, overlay=False)  # type: ignore[arg-type]


class BuildBackend:
    def __init__(self, images: ImageStore, root: Path, runner: RunStep | None) -> None:
        self.images = images
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        shutil.rmtree(self.tmp, ignore_errors=True)  # left by a daemon that died mid-build
        self.cache = BuildCache(self.root / "cache.db", images.content)
        self.builder = Builder(images, self.cache, runner, self.tmp)

    async def build(self, tar_path: str, opts: BuildOptions | dict[str, Any],
                    emit: Callable[[dict[str, Any]], None]) -> Image:
        if isinstance(opts, dict):
            opts = BuildOptions(**opts)
        ctx = await asyncio.to_thread(new_build_dir, self.tmp)
        try:
            await asyncio.to_thread(extract_context, tar_path, ctx)
            return await self.builder.build(ctx, opts, emit)
        finally:
            await asyncio.to_thread(shutil.rmtree, ctx, True)

    def validate(self, opts: dict[str, Any]) -> None:
        from kobako.errors import InvalidArgument
        from kobako.images import parse_reference

        for tag in opts.get("tags", []):
            try:
                parse_reference(tag)
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid reference format: {tag}: {exc}") from None

    def history(self, name: str) -> list[dict[str, Any]]:
        from kobako.build.history import image_history

        return image_history(self.images.get(name))

    def prune(self) -> dict[str, Any]:
        in_use: set[str] = set()
        for image in self.images.list():
            in_use.add(image.id)
            in_use.add(image.manifest_digest)
            in_use.update(layer["digest"] for layer in image.manifest.get("layers", []))
        keys, freed = self.cache.prune(in_use)
        return {"CachesDeleted": keys, "SpaceReclaimed": freed}
