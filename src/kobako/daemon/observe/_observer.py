"""The observation backend: events, stats, top, changes, sizes, container prune, system df.

It reads what the container manager, the image store and the snapshotter already hold and
changes nothing but what ``prune`` removes (through the manager's own ``remove``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, InvalidArgument, KobakoError, NotFound

from ._changes import apparent_size, changes_size, overlay_changes, tree_changes
from ._df import layer_usage, prune_match
from ._eventfilter import matches, normalize_filters, parse_timestamp
from ._stats import CgroupStatsReader, empty_stats, stats_response
from ._top import top

STATS_INTERVAL = 1.0
_GRAPH_KEYS = {"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}


def _line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class Observer:
    def __init__(self, *, containers: Any, images: Any, events: Any, cgroup_parent: str,
                 cgroup_root: str | Path = "/sys/fs/cgroup") -> None:
        self.containers = containers
        self.images = images
        self.events = events
        self.cgroup_parent = cgroup_parent
        self.cgroup_root = Path(cgroup_root)

    # -- events ---------------------------------------------------------------------------------
    def events_stream(self, since: str | None, until: str | None,
                      filters: Mapping[str, Sequence[str]]) -> AsyncIterator[bytes]:
        """moby ``getEvents``: replay history for since/until, then live events until ``until``."""
        filters = normalize_filters(filters)
        since_ns, until_ns = parse_timestamp(since), parse_timestamp(until)
        now = time.time_ns()
        if since_ns is not None and until_ns is not None and since_ns > until_ns:
            raise InvalidArgument(f"`since` time ({since}) cannot be after `until` time ({until})")
        queue = self.events.subscribe()  # before the replay: nothing falls between the two
        replay = []
        if since_ns is not None or until_ns is not None:
            lo, hi = since_ns or 0, until_ns
            replay = [ev for ev in list(self.events.history)
                      if lo <= ev["timeNano"] <= (hi if hi is not None else ev["timeNano"])
                      and matches(ev, filters)]
        seen = {id(ev) for ev in replay}
        only_past = until_ns is not None and until_ns <= now

        async def gen() -> AsyncIterator[bytes]:
            try:
                for ev in replay:
                    yield _line(ev)
                if only_past:
                    return
                deadline = None if until_ns is None else until_ns / 1e9
                while True:
                    timeout = None if deadline is None else max(0.0, deadline - time.time())
                    try:
                        ev = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        return
                    if id(ev) in seen:
                        continue
                    if until_ns is not None and ev["timeNano"] > until_ns:
                        return
                    if matches(ev, filters):
                        yield _line(ev)
            finally:
                self.events.unsubscribe(queue)

        return gen()

    # -- stats ----------------------------------------------------------------------------------
    def _reader(self, c: Any) -> CgroupStatsReader:
        return CgroupStatsReader(f"{self.cgroup_parent.rstrip('/')}/{c.id}", self.cgroup_root)

    def stats_stream(self, ref: str, stream: bool, one_shot: bool) -> AsyncIterator[bytes]:
        c = self.containers.get(ref)
        reader = self._reader(c)

        def sample() -> dict[str, Any] | None:
            return reader.sample() if c.running and reader.exists() else None

        async def gen() -> AsyncIterator[bytes]:
            prev = sample()
            if not stream:
                if prev is None:
                    yield _line(empty_stats(c.name, c.id))
                    return
                if one_shot:
                    yield _line(stats_response(c.name, c.id, prev, None))
                    return
                await asyncio.sleep(STATS_INTERVAL)
                cur = sample()
                yield _line(stats_response(c.name, c.id, cur, prev) if cur else empty_stats(c.name, c.id))
                return
            while True:
                if prev is None:
                    yield _line(empty_stats(c.name, c.id))
                if c.removed:
                    return
                await asyncio.sleep(STATS_INTERVAL)
                cur = sample()
                if cur is not None:
                    yield _line(stats_response(c.name, c.id, cur, prev))
                prev = cur

        return gen()

    # -- top ------------------------------------------------------------------------------------
    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        c = self.containers.get(ref)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        if c.status == "restarting":
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        from kobako.runtime import cgroup_manager

        pids = cgroup_manager(f"{self.cgroup_parent.rstrip('/')}/{c.id}", self.cgroup_root).pids()
        return await top(pids, ps_args)

    # -- changes and sizes ----------------------------------------------------------------------
    def _trees(self, c: Any) -> tuple[bool, str, list[str]]:
        """(overlay?, the container's own tree, the trees it is compared with)."""
        snap = self.images.snapshotter
        upper = str(snap.upper_dir(c.snapshot))
        if getattr(snap, "overlay", False):
            lowers: list[str] = []
            for m in snap.mounts(c.snapshot):
                for opt in m.options:
                    if opt.startswith("lowerdir="):
                        lowers = opt[len("lowerdir="):].split(":")
            return True, upper, lowers
        parent = snap.stat(c.snapshot).parent
        old = [snap.mounts(parent)[0].source] if parent else []
        return False, upper, old

    def graph_driver(self, c: Any) -> dict[str, Any]:
        """inspect's ``Driver`` and ``GraphDriver``: the overlay layer directories (moby overlay2's
        LowerDir/UpperDir/WorkDir/MergedDir). The rootfs is mounted only inside the container's
        mount namespace, so MergedDir is ``/proc/<pid>/root`` while it runs (the bundle's empty
        rootfs directory otherwise); the copy driver has no layers to show (Data null, like vfs)."""
        snap = self.images.snapshotter
        if not getattr(snap, "overlay", False):
            return {"Driver": "copy", "GraphDriver": {"Name": "copy", "Data": None}}
        data: dict[str, str] = {}
        try:
            for m in snap.mounts(c.snapshot):
                for opt in m.options:
                    key, sep, value = opt.partition("=")
                    if sep and key in ("lowerdir", "upperdir", "workdir"):
                        data[_GRAPH_KEYS[key]] = value
                if m.type == "bind" and "UpperDir" not in data:
                    data["UpperDir"] = m.source
        except (KobakoError, OSError):
            return {"Driver": "overlay", "GraphDriver": {"Name": "overlay", "Data": None}}
        pid = int(c.state.get("Pid") or 0)
        data["MergedDir"] = f"/proc/{pid}/root" if pid else str(Path(c.root) / "bundle" / "rootfs")
        ordered = {k: data[k] for k in ("LowerDir", "MergedDir", "UpperDir", "WorkDir") if k in data}
        return {"Driver": "overlay", "GraphDriver": {"Name": "overlay", "Data": ordered}}

    def _changes(self, c: Any) -> list[tuple[str, int]]:
        overlay, upper, lowers = self._trees(c)
        if overlay:
            return _hide_mount_stubs(overlay_changes(upper, lowers), upper)
        return _hide_mount_stubs(tree_changes(upper, lowers[0] if lowers else None), upper)

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        c = self.containers.get(ref)
        try:
            found = await asyncio.to_thread(self._changes, c)
        except NotFound:
            raise Conflict(f"container {c.id} has no writable layer") from None
        return [{"Path": p, "Kind": k} for p, k in found]

    def size_rw(self, c: Any) -> int:
        """Bytes in the container's writable layer (docker's SizeRw), 0 if it has none."""
        try:
            overlay, upper, lowers = self._trees(c)
        except (KobakoError, OSError):
            return 0
        if overlay:
            return apparent_size(upper)
        return changes_size(upper, tree_changes(upper, lowers[0] if lowers else None))

    @staticmethod
    def log_size(c: Any) -> int:
        """Bytes of the container's json-file log, rotated files included."""
        total = 0
        for f in Path(c.root).glob(f"{c.id}-json.log*"):
            with contextlib.suppress(OSError):
                total += f.stat().st_size
        return total

    def _image_size(self, c: Any) -> int:
        try:
            return int(self.images.get(c.image_id).size)
        except KobakoError:
            return 0

    def sizes(self, c: Any) -> dict[str, int]:
        """``SizeRw``/``SizeRootFs`` for inspect and ``ps --size`` (blocking: call in a thread)."""
        rw = self.size_rw(c)
        return {"SizeRw": rw, "SizeRootFs": rw + self._image_size(c)}

    # -- prune ----------------------------------------------------------------------------------
    async def prune(self, filters: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        from kobako.daemon.containers._record import parse_rfc3339

        deleted: list[str] = []
        reclaimed = 0
        for c in list(self.containers.containers.values()):
            if c.running or c.status in ("paused", "restarting"):
                continue
            labels = c.config.get("Labels") or {}
            if not prune_match(parse_rfc3339(c.created), labels, filters):
                continue
            size = await asyncio.to_thread(lambda c=c: self.size_rw(c) + self.log_size(c))
            try:
                await self.containers.remove(c.id)
            except (Conflict, NotFound):
                continue  # started or removed meanwhile
            deleted.append(c.id)
            reclaimed += size
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- system df ------------------------------------------------------------------------------
    def disk_usage(self, types: Sequence[str] = ()) -> dict[str, Any]:
        """``GET /system/df`` (blocking: call in a thread).

        Containers carry ``SizeRw`` = writable layer + json-file logs (pain point #2: logs are
        disk the user can reclaim with ``container prune``, so docker's own ``system df``
        counts them), with the split in kobako's extra fields ``SizeRwLayer`` and ``SizeLogs``.
        """
        want = set(types) or {"container", "image", "volume", "build-cache"}
        out: dict[str, Any] = {}
        cs = list(self.containers.containers.values())
        if "image" in want:
            imgs = self.images.list()
            sizes = self.images.layer_sizes() if hasattr(self.images, "layer_sizes") else {}
            total, shared = layer_usage([(i.id, i.diff_ids) for i in imgs], sizes)
            out["LayersSize"] = total
            summaries = []
            for i in imgs:
                s = i.to_summary()
                s["SharedSize"] = shared.get(i.id, 0)
                s["Containers"] = sum(1 for c in cs if c.image_id == i.id)
                summaries.append(s)
            out["Images"] = summaries
        if "container" in want:
            items = []
            for c in sorted(cs, key=lambda c: c.created, reverse=True):
                s = c.summary()
                rw, logs = self.size_rw(c), self.log_size(c)
                s.update(SizeRw=rw + logs, SizeRootFs=rw + logs + self._image_size(c),
                         SizeRwLayer=rw, SizeLogs=logs)
                items.append(s)
            out["Containers"] = items
        if "volume" in want:
            out["Volumes"] = []
        if "build-cache" in want:
            out["BuildCache"] = []
        return out


_STUBS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def _hide_mount_stubs(changes: list[tuple[str, int]], upper: str | Path) -> list[tuple[str, int]]:
    """Docker keeps the mount points of /etc/hosts, /etc/hostname and /etc/resolv.conf in an init layer
    under the container's, so ``diff`` never lists them: hide the empty files kobako's runtime made for
    its bind mounts (and /etc, when they were its only change)."""
    def stub(p: str) -> bool:
        try:
            st = os.lstat(os.path.join(str(upper), p.lstrip("/")))
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == 0

    hidden = {p for p, kind in changes if p in _STUBS and kind == 1 and stub(p)}
    if not hidden:
        return changes
    out = [(p, k) for p, k in changes if p not in hidden]
    if not any(p.startswith("/etc/") for p, _ in out):
        out = [(p, k) for p, k in out if not (p == "/etc" and k == 0)]
    return out
