"""``BuildBackend``: what ``POST /build`` and ``POST /build/prune`` call.

The context arrives as a tar stream (plain, gzip or zstd; or a bare Dockerfile, as dockerd
accepts). ``receive`` indexes it as it comes (``_context.ContextReceiver``): nothing is
extracted; COPY/ADD read the members from an unnamed spool file under ``<data-root>/build/tmp``
that disappears with its descriptor, whatever happens to the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kobako.build._context import ContextReceiver, TarTree, receive_file
from kobako.build.builder import Builder, BuildOptions, Puller, RunStep
from kobako.build.cache import BuildCache

if TYPE_CHECKING:
    from kobako.images import ImageStore

_BATCH = 1 << 20  # body bytes handed to the indexing thread at a time
_SMALL = 64 << 10  # a body this small is indexed on the event loop


class BuildBackend:
    def __init__(self, images: ImageStore, root: Path, runner: RunStep | None, puller: Puller | None = None) -> None:
        self.images = images
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        shutil.rmtree(self.tmp, ignore_errors=True)  # left by a daemon that died mid-build
        self.cache = BuildCache(self.root / "cache.db", images.content)
        self.builder = Builder(images, self.cache, runner, self.tmp, puller)

    async def receive(self, body: AsyncIterator[bytes]) -> TarTree:
        """The context from a streamed request body; indexing runs in a worker thread, one batch
        behind the socket reads, so the client's upload and the hashing overlap."""
        rc = ContextReceiver(self.tmp)
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        size = 0
        try:
            async for chunk in body:
                batch.append(chunk)
                size += len(chunk)
                if size >= _BATCH:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(rc.feed_many, batch))
                    batch, size = [], 0
            if pending is not None:
                await pending
                pending = None

            def last() -> TarTree:
                rc.feed_many(batch)
                return rc.finish()

            if rc.size + size <= _SMALL:
                return last()  # a Dockerfile-only context: cheaper than a round trip to a thread
            return await asyncio.to_thread(last)
        except BaseException:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            rc.abort()
            raise

    async def build(self, context: TarTree | str, opts: BuildOptions | dict[str, Any],
                    emit: Callable[[dict[str, Any]], None]) -> str:
        """Build from a received context (left open: the caller closes it) or a context tar file;
        the image id (the route reports the build's output only, so no image record is loaded).

        The whole build holds a content lease: its base images' blobs (``images.get`` inside the lease)
        and every layer it writes stay safe from a concurrent ``rmi`` + garbage collection until the
        result is an image or a cache record."""
        if isinstance(opts, dict):
            opts = BuildOptions(**opts)
        with self.images.content.leased():
            if isinstance(context, TarTree):
                return await self.builder.build_id(context, opts, emit)
            tree = await asyncio.to_thread(receive_file, context, self.tmp)
            try:
                return await self.builder.build_id(tree, opts, emit)
            finally:
                tree.close()

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
