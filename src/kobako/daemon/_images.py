"""The images backend: the image store plus what needs the daemon's view (containers in use)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from kobako.errors import InvalidArgument, NoSuchImage, Unsupported


class ImagesBackend:
    def __init__(self, store: Any, containers: Any) -> None:
        self.store = store
        self.containers = containers

    def list(self, filters: dict[str, list[str]], show_all: bool = False) -> list[dict[str, Any]]:
        out = []
        for image in self.store.list():
            if "dangling" in filters:
                dangling = not image.repo_tags
                if (filters["dangling"][0] in ("true", "1")) != dangling:
                    continue
            if "reference" in filters:
                import fnmatch

                if not any(fnmatch.fnmatch(t, pat) or fnmatch.fnmatch(t.split(":")[0], pat)
                           for t in image.repo_tags for pat in filters["reference"]):
                    continue
            summary = image.to_summary()
            summary["Containers"] = sum(1 for c in self.containers.containers.values() if c.image_id == image.id)
            out.append(summary)
        out.sort(key=lambda s: s.get("Created", 0), reverse=True)
        return out

    def inspect(self, name: str) -> dict[str, Any]:
        inspected: dict[str, Any] = self.store.get(name).to_inspect()
        return inspected

    async def remove(self, name: str, force: bool, noprune: bool) -> list[dict[str, str]]:
        result: list[dict[str, str]] = await asyncio.to_thread(
            self.store.remove, name, force=force, in_use=self.containers.image_in_use
        )
        return result

    async def tag(self, name: str, repo: str, tag: str) -> None:
        image = self.store.get(name)
        ref = f"{repo}:{tag}" if tag else repo
        await asyncio.to_thread(self.store.tag, image.id, ref)

    async def bootstrap(self, name: str, ref: str = "") -> Any:
        if name != "busybox":
            raise InvalidArgument(f"cannot bootstrap {name!r}: kobako can make 'busybox' from the host's busybox-static")
        from kobako.images import bootstrap_busybox

        return await asyncio.to_thread(bootstrap_busybox, self.store, ref=ref or "busybox:latest")

    async def import_tarball(self, path: str, repo: str, tag: str, changes: list[str], message: str) -> Any:
        from kobako.images import import_tarball

        ref = (f"{repo}:{tag}" if tag else repo) or None

        def run() -> Any:
            try:
                with open(path, "rb") as f:
                    return import_tarball(self.store, f, ref, changes, message)
            finally:
                os.unlink(path)

        return await asyncio.to_thread(run)

    async def pull(self, name: str, tag: str) -> AsyncIterator[dict[str, Any]]:
        ref = f"{name}:{tag}" if tag and "@" not in name else name
        try:
            image = self.store.get(ref)
        except NoSuchImage:
            raise Unsupported(
                f"cannot pull {ref}: kobako does not pull from registries yet; "
                "make a base image with 'kobako image bootstrap busybox' or 'kobako import'"
            ) from None
        yield {"status": f"Status: Image is up to date for {ref}"}
        yield {"status": image.id}
