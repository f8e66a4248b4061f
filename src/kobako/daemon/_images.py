"""The images backend: the image store plus what needs the daemon's view (containers in use)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from kobako.errors import InvalidArgument, KobakoError, NoSuchImage

log = logging.getLogger("kobako.daemon")


class ImagesBackend:
    def __init__(self, store: Any, containers: Any, insecure_registries: tuple[str, ...] = ()) -> None:
        self.store = store
        self.containers = containers
        self.insecure_registries = insecure_registries  # plain HTTP allowed (besides loopback)
        self._build_cache_root()

    def _build_cache_root(self) -> None:
        """The build cache (``<data-root>/build/cache.db``, next to ``<data-root>/images``) keeps
        blobs no image may use: they are GC roots."""
        from kobako.build.cache import BuildCache

        add = getattr(self.store, "add_gc_root", None)
        if add is None:
            return
        cache = BuildCache(self.store.root.parent / "build" / "cache.db", self.store.content)
        add(cache.blobs)

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
        """``GET /images/{name}/json``, with the ``Container`` and ``ContainerConfig`` fields at every version.

        Docker answers those two only below API 1.45, but docker-compose 1.29 negotiates the daemon's newest
        version and then reads ``ContainerConfig["Volumes"]`` on every recreate (its KeyError against
        Docker 26+ is a known break); the fields are additive, so kobako keeps them. The image's recorded
        ``container_config`` is used; an image without one (built or bootstrapped here) answers its
        ``Config``, which is what the last build step's container held.
        """
        image = self.store.get(name)
        inspected: dict[str, Any] = image.to_inspect()
        recorded = image.config.get("container_config")
        inspected["Container"] = str(image.config.get("container") or "")
        if isinstance(recorded, dict) and recorded:
            inspected["ContainerConfig"] = {**inspected["Config"], **recorded}
        else:
            inspected["ContainerConfig"] = dict(inspected["Config"])
        return inspected

    async def remove(self, name: str, force: bool, noprune: bool) -> list[dict[str, str]]:
        result: list[dict[str, str]] = await asyncio.to_thread(
            self.store.remove, name, force=force, in_use=self.containers.image_in_use
        )
        deleted = next((r["Deleted"] for r in result if "Deleted" in r), None)
        for r in result:  # moby: untag carries the reference, delete the image id
            if "Untagged" in r:
                self._event("untag", deleted or r["Untagged"], r["Untagged"])
        if deleted:
            self._event("delete", deleted, deleted)
            await self.collect_garbage()
        return result

    async def collect_garbage(self) -> int:
        """Delete content blobs no image, build cache entry or operation in progress uses (after an
        image is deleted); bytes freed. A failure is logged: the image is gone either way, and
        the next collection finds what this one left."""
        try:
            result = await asyncio.to_thread(self.store.collect_garbage)
        except Exception as exc:  # noqa: BLE001 - the image removal itself succeeded
            log.warning("content garbage collection failed: %s", exc)
            return 0
        if result.deleted:
            log.info("content GC: %d blobs, %d bytes freed", len(result.deleted), result.freed)
        return int(result.freed)

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        """``POST /images/prune``: dangling images (``dangling=false``: every image) that no
        container uses and no pull or build in progress holds; then their blobs and layers."""
        from kobako.daemon.observe._df import prune_match

        rest = {k: v for k, v in filters.items() if k != "dangling"}
        prune_match(0, {}, {k: v for k, v in rest.items()})  # an unknown filter is a 400 before anything
        dangling_only = True
        for v in filters.get("dangling", []):
            if v.lower() in ("false", "0"):
                dangling_only = False
            elif v.lower() not in ("true", "1"):
                raise InvalidArgument(f"invalid filter 'dangling={v}'")

        def work() -> tuple[list[tuple[str, list[dict[str, str]]]], int]:
            used = {c.image_id for c in self.containers.containers.values()}
            busy = self.store.content.leased_digests()  # e.g. pulled, not tagged yet
            sizes = self.store.layer_sizes()
            done: list[tuple[str, list[dict[str, str]]]] = []
            layer_bytes = 0
            for image in self.store.list():
                if image.id in used or image.id in busy or (dangling_only and image.repo_tags):
                    continue
                created = image.to_summary().get("Created", 0)
                if rest and not prune_match(float(created), image.container_config.get("Labels") or {}, rest):
                    continue
                chains = dict(zip(self.store.chain_ids(image), image.diff_ids))
                try:
                    removed = self.store.remove(image.id, force=True, in_use=self.containers.image_in_use)
                except KobakoError as exc:  # taken by a container meanwhile
                    log.info("image prune: keeping %s: %s", image.id, exc)
                    continue
                done.append((image.id, removed))
                layer_bytes += sum(sizes.get(chains.get(r["Deleted"], ""), 0) for r in removed if "Deleted" in r)
            return done, layer_bytes

        done, layer_bytes = await asyncio.to_thread(work)
        records = [r for _, removed in done for r in removed]
        for image_id, removed in done:
            for r in removed:
                if "Untagged" in r:
                    self._event("untag", image_id, r["Untagged"])
            self._event("delete", image_id, image_id)
        freed = await self.collect_garbage() if done else 0
        return {"ImagesDeleted": records or None, "SpaceReclaimed": freed + layer_bytes}

    def _event(self, action: str, image_id: str, name: str) -> None:
        events = getattr(self.containers, "events", None)
        if events is not None:
            events.publish("image", action, image_id, {"name": name})

    async def tag(self, name: str, repo: str, tag: str) -> None:
        image = self.store.get(name)
        ref = f"{repo}:{tag}" if tag else repo
        await asyncio.to_thread(self.store.tag, image.id, ref)
        self._event("tag", image.id, ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest")

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

        image = await asyncio.to_thread(run)
        image_id = getattr(image, "id", None)
        if image_id:
            self._event("import", image_id, image_id)
        return image

    async def pull(self, name: str, tag: str, auth: str | None = None,
                   platform: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/create?fromImage=&tag=``: Docker's pull progress objects."""
        from kobako.images import parse_reference
        from kobako.registry import decode_registry_auth, pull_image
        from kobako.registry._platform import parse_platform

        if tag.startswith("sha256:"):
            text = f"{name}@{tag}"
        elif tag and "@" not in name:
            text = f"{name}:{tag}"
        else:
            text = name
        ref = parse_reference(text)
        if ref.domain == "docker.io" and ref.digest is None:
            # kobako makes busybox and imports images locally: a Hub name it already has is not
            # replaced (and the daemon does not reach out to Docker Hub for it)
            try:
                image = self.store.get(str(ref))
            except NoSuchImage:
                pass
            else:
                yield {"status": f"Status: Image is up to date for {ref.familiar()}"}
                yield {"status": image.id}
                return
        creds = decode_registry_auth(auth)
        plat = parse_platform(platform)

        def work(emit: Any) -> Any:
            return pull_image(self.store, ref, creds, insecure=self.insecure_registries, platform=plat, emit=emit)

        result: list[Any] = []
        async for obj in _in_thread(work, result):
            yield obj
        image, _digest, fresh = result[0]
        shown = ref.familiar() if ref.digest is None else f"{ref.familiar_name}@{ref.digest}"
        if fresh:
            yield {"status": f"Status: Downloaded newer image for {shown}"}
        else:
            yield {"status": f"Status: Image is up to date for {shown}"}

    async def push(self, name: str, tag: str, auth: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/{name}/push?tag=``: progress, then ``{"aux": {"Tag", "Digest", "Size"}}``."""
        from kobako.images import parse_reference
        from kobako.registry import decode_registry_auth, push_image

        ref = parse_reference(f"{name}:{tag}" if tag else name)
        if ref.digest is not None:
            raise InvalidArgument("cannot push a digest reference")
        try:
            self.store.get(str(ref))
        except NoSuchImage:
            raise NoSuchImage(f"{ref.familiar()}: An image does not exist locally with the tag: "
                              f"{ref.familiar_name}") from None
        creds = decode_registry_auth(auth)

        def work(emit: Any) -> Any:
            return push_image(self.store, ref, creds, insecure=self.insecure_registries, emit=emit)

        async for obj in _in_thread(work, []):
            yield obj

    async def search(self, term: str, limit: int | None, filters: dict[str, list[str]],
                     auth: str | None = None) -> list[dict[str, Any]]:
        """``GET /images/search``: the registry's V1 search, filtered as moby does."""
        from kobako.registry import decode_registry_auth
        from kobako.registry._search import check_query, search

        check_query(term, limit, filters)  # a bad query is a 400 before any request
        creds = decode_registry_auth(auth)
        results: list[dict[str, Any]] = await asyncio.to_thread(
            search, term, limit, filters, creds, insecure=self.insecure_registries)
        return results

    async def auth(self, body: dict[str, Any]) -> dict[str, str]:
        """``POST /auth``: check credentials against a registry (``docker login``)."""
        from kobako.registry import Credentials, login

        server = str(body.get("serveraddress") or "docker.io")
        for prefix in ("https://", "http://"):
            server = server.removeprefix(prefix)
        server = server.split("/", 1)[0]
        if server in ("index.docker.io", "registry-1.docker.io"):
            server = "docker.io"
        creds = Credentials(str(body.get("username") or ""), str(body.get("password") or ""),
                            str(body.get("identitytoken") or ""))
        result: dict[str, str] = await asyncio.to_thread(login, server, creds, self.insecure_registries)
        return result

    async def distribution(self, name: str, auth: str | None = None) -> dict[str, Any]:
        """``GET /distribution/{name}/json`` plus the raw manifest (``kobako manifest inspect``)."""
        import json as _json

        from kobako.images import parse_reference
        from kobako.registry import DistributionClient, decode_registry_auth
        from kobako.registry._pull import fetch_manifest

        ref = parse_reference(name)

        def work() -> dict[str, Any]:
            client = DistributionClient(ref.domain, decode_registry_auth(auth), insecure=self.insecure_registries)
            try:
                digest, media, data = fetch_manifest(client, ref.path, ref.digest or ref.tag or "latest",
                                                     f"repository:{ref.path}:pull")
            finally:
                client.close()
            doc = _json.loads(data)
            platforms = [m.get("platform") for m in doc.get("manifests") or [] if m.get("platform")]
            return {"Descriptor": {"mediaType": media, "digest": digest, "size": len(data)},
                    "Platforms": platforms, "Manifest": doc}

        return await asyncio.to_thread(work)

    async def save(self, names: list[str], fmt: str = "") -> AsyncIterator[bytes]:
        """``GET /images/get``: check the names first (404 before any byte), then stream the tar."""
        from kobako.daemon._archive import stream_from_thread
        from kobako.images import archive_format, plan_save, write_archive

        fmt = archive_format(fmt)
        items = await asyncio.to_thread(plan_save, self.store, names)
        for item in items:
            self._event("save", item.image.id, item.image.id)
        return stream_from_thread(lambda out: write_archive(self.store, items, out, fmt))

    async def load(self, body: AsyncIterator[bytes]) -> list[str]:
        """``POST /images/load``: the lines Docker prints ("Loaded image: busybox:latest")."""
        from kobako.daemon._archive import run_load
        from kobako.images import load_archive

        lines: list[str] = []
        loaded = await run_load(body, lambda reader: load_archive(self.store, reader, lines.append))
        for item in loaded:
            self._event("load", item.id, item.id)
        return lines


async def _in_thread(work: Any, result: list[Any]) -> AsyncIterator[dict[str, Any]]:
    """Run ``work(emit)`` in a thread and yield what it emits, in order; its return value goes
    into ``result``; its exception is raised after the last object."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    done = object()

    def emit(obj: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, obj)

    fut = loop.run_in_executor(None, work, emit)
    fut.add_done_callback(lambda _f: queue.put_nowait(done))
    while True:
        item = await queue.get()
        if item is done:
            break
        yield item
    result.append(fut.result())

