"""The /volumes routes over the real backend with a fake container side (podman apiv2-style table)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kobako.api.router import Router
from kobako.api.routes.volumes import add_volume_routes
from kobako.api.testing import serve_in_thread
from kobako.client import Client, DaemonError
from kobako.daemon._events import EventBus
from kobako.daemon._volumes import VolumesBackend
from kobako.volumes import ANONYMOUS_LABEL, LocalVolumeStore


class FakeMounts:
    def __init__(self) -> None:
        self.used: dict[str, list[str]] = {}

    def users(self, name: str) -> list[str]:
        return self.used.get(name, [])


class FakeContainers:
    def __init__(self) -> None:
        self.mounts = FakeMounts()
        self.events = EventBus()


@pytest.fixture
def api() -> Iterator[tuple[Client, FakeContainers, LocalVolumeStore]]:
    with tempfile.TemporaryDirectory(prefix="kv-") as tmp:
        store = LocalVolumeStore(Path(tmp) / "volumes")
        containers = FakeContainers()
        router = Router()
        add_volume_routes(router, VolumesBackend(store, containers))
        with serve_in_thread(router, Path(tmp) / "api.sock") as srv, Client(srv.host) as c:
            yield c, containers, store


def _names(c: Client, **query: Any) -> list[str]:
    return [v["Name"] for v in c.json("GET", "/volumes", query=query)["Volumes"]]


def test_volume_routes(api: tuple[Client, FakeContainers, LocalVolumeStore]) -> None:
    c, containers, store = api
    status, _, _ = c.request("POST", "/volumes/create", body={"Name": "web", "Labels": {"a": "1"}})
    assert status == 201
    made = c.json("POST", "/volumes/create", body={})  # a generated, non-anonymous name
    assert len(made["Name"]) == 64 and made["Labels"] is None
    store.create("anon1", labels={ANONYMOUS_LABEL: ""})
    listing = c.json("GET", "/volumes")
    assert listing["Warnings"] == [] and {v["Name"] for v in listing["Volumes"]} == {"web", made["Name"], "anon1"}
    assert _names(c, filters='{"label":["a=1"]}') == ["web"]
    assert _names(c, filters='{"name":{"we":true}}') == ["web"]
    containers.mounts.used["web"] = ["c" * 64]
    assert "web" not in _names(c, filters='{"dangling":["true"]}')
    assert _names(c, filters='{"dangling":["false"]}') == ["web"]
    with pytest.raises(DaemonError) as exc:
        c.json("DELETE", "/volumes/web")
    assert exc.value.status == 409 and exc.value.message == f"remove web: volume is in use - [{'c' * 64}]"
    with pytest.raises(DaemonError) as exc:
        c.json("GET", "/volumes/nope")
    assert exc.value.status == 404 and exc.value.message == "get nope: no such volume"
    assert c.request("DELETE", "/volumes/nope", query={"force": 1})[0] == 204
    with pytest.raises(DaemonError) as exc:
        c.json("POST", "/volumes/create", body={"Name": "x y"})
    assert exc.value.status == 400
    # prune: anonymous only (API >= 1.42), everything unused with all=true, everything before 1.42
    assert c.json("POST", "/volumes/prune")["VolumesDeleted"] == ["anon1"]
    assert c.json("POST", "/volumes/prune", query={"filters": '{"all":["true"]}'})["VolumesDeleted"] == [made["Name"]]
    containers.mounts.used.clear()
    assert c.json("POST", "/v1.41/volumes/prune")["VolumesDeleted"] == ["web"]
    assert c.json("GET", "/volumes")["Volumes"] == []
    actions = [(e["Action"], e["Actor"]["ID"]) for e in containers.events.history]
    assert actions[:2] == [("create", "web"), ("create", made["Name"])] and ("destroy", "web") in actions
