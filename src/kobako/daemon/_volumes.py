"""The volume backend of the ``/volumes`` routes: the local store plus what only containers know
(which container uses a volume). Events: create, destroy (mount/unmount come from container starts)."""

from __future__ import annotations

import asyncio
from typing import Any

from kobako.errors import InvalidArgument
from kobako.volumes import LocalVolumeStore, NoSuchVolume, Volume, VolumeInUse

_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for w in wanted:
        k, sep, v = w.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


class VolumesBackend:
    def __init__(self, store: LocalVolumeStore, containers: Any) -> None:
        self.store = store
        self.containers = containers  # the ContainerManager

    def _users(self, name: str) -> list[str]:
        users: list[str] = self.containers.mounts.users(name)
        return users

    def _publish(self, action: str, name: str) -> None:
        self.containers.events.publish("volume", action, name, {"driver": "local"})

    def view(self, v: Volume, size: bool = False) -> dict[str, Any]:
        out = v.to_api()
        if size:
            out["UsageData"] = {"Size": self.store.size(v.name), "RefCount": len(self._users(v.name))}
        return out

    # -- routes -------------------------------------------------------------------------------
    def list(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        for key in filters:
            if key not in ("dangling", "name", "label", "driver"):
                raise InvalidArgument(f"invalid filter '{key}'")
        out = []
        for v in self.store.list():
            if not self._match(v, filters):
                continue
            out.append(self.view(v))
        return {"Volumes": out, "Warnings": []}

    def _match(self, v: Volume, filters: dict[str, list[str]]) -> bool:
        for d in filters.get("dangling", []):
            if d.lower() not in _TRUE + _FALSE:
                raise InvalidArgument(f"invalid filter 'dangling={d}'")
            if (d.lower() in _TRUE) == bool(self._users(v.name)):
                return False
        if filters.get("name") and not any(n in v.name for n in filters["name"]):
            return False
        if filters.get("driver") and v.driver not in filters["driver"]:
            return False
        return _labels_match(v.labels, filters.get("label", []))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from kobako.ids import new_id

        if not isinstance(body, dict):
            raise InvalidArgument("volume config must be a JSON object")
        name = str(body.get("Name") or "") or new_id()
        labels = body.get("Labels") or {}
        opts = body.get("DriverOpts") or {}
        if not isinstance(labels, dict) or not isinstance(opts, dict):
            raise InvalidArgument("Labels and DriverOpts must be JSON objects")
        v, created = await asyncio.to_thread(self.store.create, name, driver=str(body.get("Driver") or "local"),
                                             opts=opts, labels=labels)
        if created:
            self._publish("create", v.name)
        return self.view(v)

    def inspect(self, name: str, size: bool = False) -> dict[str, Any]:
        return self.view(self.store.get(name), size)

    async def remove(self, name: str, force: bool = False) -> None:
        try:
            self.store.get(name)
        except NoSuchVolume:
            if force:
                return
            raise
        users = self._users(name)
        if users:
            raise VolumeInUse(name, users)
        await asyncio.to_thread(self.store.remove, name)
        self._publish("destroy", name)

    async def prune(self, filters: dict[str, list[str]], api_version: str | None = None) -> dict[str, Any]:
        """moby ``volumes.Prune``: unused volumes; from API 1.42 only anonymous ones unless ``all``."""
        for key in filters:
            if key not in ("all", "label", "label!"):
                raise InvalidArgument(f"invalid filter '{key}'")
        prune_all = any(a.lower() in _TRUE for a in filters.get("all", []))
        if api_version is not None:
            from kobako.api.request import version_tuple

            if version_tuple(api_version) < (1, 42):
                prune_all = True
        deleted, reclaimed = [], 0
        for v in self.store.list():
            if not prune_all and not v.anonymous:
                continue
            if not _labels_match(v.labels, filters.get("label", [])):
                continue
            if filters.get("label!") and any(_labels_match(v.labels, [w]) for w in filters["label!"]):
                continue
            if self._users(v.name):
                continue
            size = await asyncio.to_thread(self.store.size, v.name)
            try:
                await asyncio.to_thread(self.store.remove, v.name)
            except VolumeInUse:
                continue
            self._publish("destroy", v.name)
            deleted.append(v.name)
            reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def usage(self) -> list[dict[str, Any]]:
        """The ``Volumes`` of ``/system/df``: every volume with its size and reference count."""
        return [self.view(v, size=True) for v in self.store.list()]
