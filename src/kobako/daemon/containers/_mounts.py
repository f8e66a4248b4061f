"""A container's volumes, binds and tmpfs mounts over its life: the hooks ContainerManager calls.

    points = mounts.plan(cfg, host_config)        create: parse and validate, no side effect
    await mounts.create_volumes(c)                create: named volumes made on first use, anonymous ones
    await mounts.attach(c, spec)                  start: acquire volumes, OCI mounts into the spec
    mounts.started(c)                             the first start copied the image's content up
    await mounts.detach(c)                        exit: release (the last user unmounts a tmpfs volume)
    await mounts.remove(c, volumes=...)           rm [-v]: anonymous volumes nobody else uses go

Every bind (volumes included) and tmpfs is performed by the container's init inside its own mount
namespace (``kobako.runtime.rootfs``), like the rootfs; only ``type=tmpfs`` (or other filesystem)
volumes are mounted on the host, by the volume store, so that containers sharing one see one
filesystem. Copy-up of the image's content into an empty volume is done by the init too, before the
volume is bound over the target, reading the rootfs without following its symlinks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from kobako.errors import InvalidArgument, KobakoError, NotFound

from ._mountspec import (
    MountPoint,
    merge_into_spec,
    oci_mount,
    parse_volumes_from,
    plan,
    should_copy_up,
    tmpfs_oci_mounts,
)

if TYPE_CHECKING:
    from ._record import Container

log = logging.getLogger("kobako.volumes")
COPY_UP_ANNOTATION = "org.kobako.volumes.copy-up"


def points_of(c: Container) -> list[MountPoint]:
    return [MountPoint.from_json(m) for m in getattr(c, "mount_points", None) or []]


def mounts_view(mount_points: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [MountPoint.from_json(m).inspect() for m in mount_points or []]


class ContainerMounts:
    def __init__(self, store: Any, manager: Any) -> None:
        self.store = store  # a kobako.volumes.LocalVolumeStore, or None (no volume support)
        self.manager = manager

    def _publish(self, action: str, name: str, **attrs: str) -> None:
        self.manager.events.publish("volume", action, name, {"driver": "local", **attrs})

    # -- create -------------------------------------------------------------------------------
    def plan(self, cfg: dict[str, Any], host_config: dict[str, Any]) -> list[dict[str, Any]]:
        sources = []
        for raw in host_config.get("VolumesFrom") or []:
            name, mode = parse_volumes_from(str(raw))
            other = self.manager.get(name)
            sources.append((points_of(other), mode))
        points = plan(cfg, host_config, sources)
        if self.store is None and any(p.type == "volume" for p in points):
            raise InvalidArgument("volumes are not supported by this daemon")
        tmpfs_oci_mounts(host_config.get("Tmpfs"))  # validates
        return [p.to_json() for p in points]

    async def create_volumes(self, c: Container) -> None:
        """Named volumes that do not exist yet, and anonymous ones, are made now (moby does at create)."""
        made: list[MountPoint] = []
        out = []
        try:
            for mp in points_of(c):
                if mp.type == "volume":
                    mp, created = await asyncio.to_thread(self._volume_for, mp)
                    if created:
                        made.append(mp)
                out.append(mp.to_json())
        except BaseException:
            for m in made:
                if not m.named:
                    await asyncio.to_thread(self.store.remove, m.name)
            raise
        c.mount_points = out
        for m in made:
            self._publish("create", m.name)

    def _volume_for(self, mp: MountPoint) -> tuple[MountPoint, bool]:
        from dataclasses import replace

        from kobako.ids import new_id
        from kobako.volumes import ANONYMOUS_LABEL

        if mp.driver not in ("", "local"):
            raise NotFound(f'error looking up volume plugin {mp.driver}: plugin "{mp.driver}" not found')
        labels = dict(mp.volume_labels)
        if not mp.name:
            labels[ANONYMOUS_LABEL] = ""
        v, created = self.store.create(mp.name or new_id(), opts=mp.volume_opts, labels=labels)
        return replace(mp, name=v.name, source=str(v.mountpoint), driver=v.driver), created

    async def forget(self, c: Container) -> None:
        """A create that failed: the anonymous volumes made for it go."""
        await self.remove(c, volumes=True, emit=True)

    # -- start / exit ---------------------------------------------------------------------------
    async def attach(self, c: Container, spec: dict[str, Any]) -> None:
        points = points_of(c)
        acquired: list[str] = []
        user: list[dict[str, Any]] = []
        copy_up: list[str] = []
        try:
            for mp in points:
                if mp.type == "volume":
                    source = await asyncio.to_thread(self.store.acquire, mp.name, c.id)
                    acquired.append(mp.name)
                    if source == str(self.store.get(mp.name).mountpoint):  # its own _data, not o=bind
                        from .._userns import own_volume

                        await asyncio.to_thread(own_volume, source, spec)
                    user.append(oci_mount(mp, source, self.store.get(mp.name).bind_options()))
                    if should_copy_up(mp):
                        copy_up.append(mp.destination)
                elif mp.type == "bind":
                    if not os.path.lexists(mp.source):
                        if not mp.create_source:
                            raise InvalidArgument(f'invalid mount config for type "bind": bind source path '
                                                  f"does not exist: {mp.source}")
                        os.makedirs(mp.source, 0o755, exist_ok=True)  # moby: -v makes a missing source
                    user.append(oci_mount(mp, mp.source))
                else:
                    user.append(oci_mount(mp, "tmpfs"))
        except BaseException:
            for name in acquired:
                await asyncio.to_thread(self.store.release, name, c.id)
            raise
        user += tmpfs_oci_mounts(c.host_config.get("Tmpfs"))
        spec["mounts"] = merge_into_spec(list(spec.get("mounts") or []), user)
        if copy_up:
            spec.setdefault("annotations", {})[COPY_UP_ANNOTATION] = json.dumps(copy_up)
        for mp in points:
            if mp.type == "volume":
                self._publish("mount", mp.name, container=c.id, destination=mp.destination,
                              propagation=mp.propagation, **{"read/write": str(mp.rw).lower()})

    def started(self, c: Container) -> None:
        """Copy-up happens on a volume's first start only (moby copies once, at create)."""
        if any(m.get("copy_data") for m in c.mount_points or []):
            c.mount_points = [{**m, "copy_data": False} for m in c.mount_points]

    async def detach(self, c: Container) -> None:
        if self.store is None:
            return
        for mp in points_of(c):
            if mp.type == "volume" and c.id in self.store.refs(mp.name):
                await asyncio.to_thread(self.store.release, mp.name, c.id)
                self._publish("unmount", mp.name, container=c.id)

    # -- remove ---------------------------------------------------------------------------------
    def users(self, name: str, exclude: str = "") -> list[str]:
        """Ids of the containers (running or not) whose mounts name the volume ``name``."""
        return [cid for cid, c in list(self.manager.containers.items()) if cid != exclude and
                any(m.get("type") == "volume" and m.get("name") == name for m in c.mount_points or [])]

    async def remove(self, c: Container, volumes: bool, emit: bool = True) -> None:
        """moby ``removeMountPoints``: with ``rm -v`` (or ``--rm``), anonymous volumes go unless another
        container uses them; named ones always stay."""
        if self.store is None:
            return
        await self.detach(c)
        if not volumes:
            return
        for mp in points_of(c):
            if mp.type != "volume" or mp.named or not mp.name or self.users(mp.name, exclude=c.id):
                continue
            try:
                await asyncio.to_thread(self.store.remove, mp.name)
            except KobakoError as exc:
                log.warning("container %s: could not remove volume %s: %s", c.id[:12], mp.name, exc)
                continue
            if emit:
                self._publish("destroy", mp.name)

    # -- restore --------------------------------------------------------------------------------
    async def restore(self) -> None:
        """After a daemon restart: running containers hold their volumes again; the rest are unmounted."""
        if self.store is None:
            return
        for c in list(self.manager.containers.values()):
            if not c.alive:
                continue
            for mp in points_of(c):
                if mp.type == "volume":
                    try:
                        await asyncio.to_thread(self.store.acquire, mp.name, c.id)
                    except KobakoError as exc:
                        log.warning("container %s: volume %s: %s", c.id[:12], mp.name, exc)
        await asyncio.to_thread(self.store.reconcile)
