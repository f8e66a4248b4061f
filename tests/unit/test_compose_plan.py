"""Planning against an in-memory Engine API: what ``up``/``down`` create, keep, recreate and remove.

``FakeEngine`` keeps containers, networks, volumes and images as the daemon would (the subset of the
API compose uses, label filters included) and records every call, so the tests check decisions:
nothing recreated without a change, only the changed service recreated, scale, orphans, order.
"""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from kobako.client import DaemonError
from kobako.compose import ComposeError
from kobako.compose._load import LoadOptions, load_project
from kobako.compose._project import Compose


class FakeEngine:
    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.images = {"busybox": "sha256:" + "b" * 64}
        self.calls: list[tuple[str, str]] = []
        self.ids = itertools.count(1)
        self.host = "unix:///fake"

    def _find(self, ref: str) -> dict[str, Any]:
        for c in self.containers.values():
            if c["Id"] == ref or c["Name"] == ref or c["Id"].startswith(ref):
                return c
        raise DaemonError(404, f"No such container: {ref}")

    def json(self, method: str, path: str, *, query: Any = None, body: Any = None, headers: Any = None) -> Any:
        self.calls.append((method, path))
        query = dict(query or {})
        if method == "GET" and path == "/containers/json":
            labels = (query.get("filters") or {}).get("label", [])
            out = []
            for c in self.containers.values():
                if not query.get("all") and c["State"] != "running":
                    continue
                if all(c["Labels"].get(k) == v if v else k in c["Labels"]
                       for k, _, v in (lbl.partition("=") for lbl in labels)):
                    out.append({"Id": c["Id"], "Names": ["/" + c["Name"]], "Labels": c["Labels"], "State": c["State"],
                                "Image": c["Image"], "Status": c["State"]})
            return out
        m = re.fullmatch(r"/containers/([^/]+)(/\w+)?", path)
        if m and m.group(1) != "create":
            c = self._find(m.group(1))
            action = m.group(2)
            if method == "GET" and action == "/json":
                return {"Id": c["Id"], "State": {"Status": c["State"], "ExitCode": 0}, "Config": c["Config"]}
            if action == "/start":
                c["State"] = "running"
            elif action in ("/stop", "/kill"):
                c["State"] = "exited"
            elif action == "/rename":
                c["Name"] = query["name"]
            elif method == "DELETE":
                del self.containers[c["Id"]]
            return None
        if path == "/containers/create":
            name = query["name"]
            if any(c["Name"] == name for c in self.containers.values()):
                raise DaemonError(409, f'Conflict. The container name "/{name}" is already in use')
            cid = f"{next(self.ids):064x}"
            self.containers[cid] = {"Id": cid, "Name": name, "Labels": body["Labels"], "State": "created",
                                    "Image": body["Image"], "Config": body}
            return {"Id": cid}
        if path.startswith("/networks/") and path.endswith("/connect"):
            return None
        if path == "/networks/create":
            self.networks[body["Name"]] = {"Name": body["Name"], "Labels": body["Labels"]}
            return {"Id": body["Name"]}
        if path.startswith("/networks/"):
            name = path.split("/")[2]
            if name not in self.networks:
                raise DaemonError(404, f"network {name} not found")
            if method == "DELETE":
                del self.networks[name]
                return None
            return self.networks[name]
        if path == "/volumes/create":
            self.volumes[body["Name"]] = {"Name": body["Name"], "Labels": body["Labels"]}
            return self.volumes[body["Name"]]
        if path.startswith("/volumes/"):
            name = path.split("/")[2]
            if name not in self.volumes:
                raise DaemonError(404, f"get {name}: no such volume")
            if method == "DELETE":
                del self.volumes[name]
                return None
            return self.volumes[name]
        if path.startswith("/images/") and path.endswith("/json"):
            ref = path[len("/images/"):-len("/json")]
            if ref not in self.images:
                raise DaemonError(404, f"No such image: {ref}")
            return {"Id": self.images[ref]}
        raise AssertionError(f"unexpected call {method} {path}")

    def jsonlines(self, method: str, path: str, *, query: Any = None, **kw: Any) -> Any:
        self.calls.append((method, path))
        assert path == "/images/create"
        ref = query["fromImage"] + (":" + query["tag"] if query.get("tag") and query["tag"] != "latest" else "")
        self.images[ref] = "sha256:" + "c" * 64
        return iter([{"status": "Pulled"}])

    def by_name(self) -> dict[str, str]:
        return {c["Name"]: c["Id"] for c in self.containers.values()}


BASE = """
services:
  db:
    image: busybox
    command: [sleep, "100"]
  web:
    image: busybox
    command: [httpd, -f]
    depends_on: [db]
    networks: [front, default]
    volumes: [data:/data]
networks: {front: {}}
volumes: {data: {}}
"""


def compose(tmp_path: Path, engine: FakeEngine, text: str = BASE) -> tuple[Compose, io.StringIO]:
    (tmp_path / "compose.yaml").write_text(text)
    project = load_project(LoadOptions(cwd=str(tmp_path), environ={}, project_name="app", warn=lambda m: None))
    progress = io.StringIO()
    return Compose(engine, project, progress), progress  # type: ignore[arg-type]


def up(tmp_path: Path, engine: FakeEngine, text: str = BASE, **kw: Any) -> str:
    c, progress = compose(tmp_path, engine, text)
    ids = c.create(**kw)
    c.start(ids=ids)
    return progress.getvalue()


def test_first_up_creates_everything_in_order(tmp_path: Path) -> None:
    engine = FakeEngine()
    out = up(tmp_path, engine)
    assert set(engine.networks) == {"app_default", "app_front"}
    assert engine.networks["app_front"]["Labels"]["com.docker.compose.network"] == "front"
    assert engine.volumes["app_data"]["Labels"]["com.docker.compose.volume"] == "data"
    assert set(engine.by_name()) == {"app-db-1", "app-web-1"}
    assert all(c["State"] == "running" for c in engine.containers.values())
    lines = out.splitlines()
    assert lines.index(" Container app-db-1  Created") < lines.index(" Container app-web-1  Creating")
    assert lines.index(" Container app-db-1  Started") < lines.index(" Container app-web-1  Starting")
    assert " Network app_front  Created" in lines and ' Volume "app_data"  Created' in lines
    web = next(c for c in engine.containers.values() if c["Name"] == "app-web-1")
    assert web["Config"]["NetworkingConfig"]["EndpointsConfig"]["app_default"]["Aliases"] == ["web"]
    assert web["Labels"]["com.docker.compose.image"] == engine.images["busybox"]


def test_up_again_recreates_nothing(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine)
    before = engine.by_name()
    engine.calls.clear()
    out = up(tmp_path, engine)
    assert engine.by_name() == before
    assert not [c for c in engine.calls if c[1] in ("/containers/create", "/networks/create", "/volumes/create")]
    assert " Container app-web-1  Running" in out and "Recreate" not in out


def test_changed_service_only_is_recreated(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine)
    before = engine.by_name()
    out = up(tmp_path, engine, BASE.replace("[httpd, -f]", "[httpd, -f, -v]"))
    after = engine.by_name()
    assert after["app-db-1"] == before["app-db-1"]
    assert after["app-web-1"] != before["app-web-1"] and len(after) == 2
    assert " Container app-web-1  Recreate" in out and " Container app-web-1  Recreated" in out
    assert "app-db-1  Recreate" not in out
    # --no-recreate keeps even a changed container; --force-recreate replaces an unchanged one
    before = engine.by_name()
    up(tmp_path, engine, BASE.replace("[httpd, -f]", "[httpd]"), no_recreate=True)
    assert engine.by_name() == before
    up(tmp_path, engine, BASE.replace("[httpd, -f]", "[httpd, -f, -v]"), force_recreate=True)
    assert not set(engine.by_name().values()) & set(before.values())


def test_new_image_id_recreates(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine)
    before = engine.by_name()
    engine.images["busybox"] = "sha256:" + "d" * 64  # a rebuilt or pulled image under the same name
    up(tmp_path, engine)
    after = engine.by_name()
    assert after["app-db-1"] != before["app-db-1"] and after["app-web-1"] != before["app-web-1"]


def test_scale_and_container_name(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine, BASE.replace("command: [sleep, \"100\"]", "command: [sleep, \"100\"]\n    scale: 3"))
    assert {n for n in engine.by_name() if "db" in n} == {"app-db-1", "app-db-2", "app-db-3"}
    up(tmp_path, engine)  # back to one
    assert {n for n in engine.by_name() if "db" in n} == {"app-db-1"}
    engine2 = FakeEngine()
    up(tmp_path, engine2, BASE.replace("image: busybox\n    command: [sleep", "image: busybox\n    container_name: mydb\n    command: [sleep"))
    assert "mydb" in engine2.by_name()


def test_missing_image_is_pulled(tmp_path: Path) -> None:
    engine = FakeEngine()
    out = up(tmp_path, engine, BASE.replace("image: busybox\n    command: [sleep", "image: alpine:3\n    command: [sleep"))
    assert ("POST", "/images/create") in engine.calls
    assert " Image alpine:3  Pulled" in out


def test_orphans_warned_then_removed(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine)
    without_db = BASE.replace("    depends_on: [db]\n", "").replace(
        "  db:\n    image: busybox\n    command: [sleep, \"100\"]\n", "")
    out = up(tmp_path, engine, without_db)
    assert "Found orphan containers ([app-db-1])" in out and "app-db-1" in engine.by_name()
    out = up(tmp_path, engine, without_db, remove_orphans=True)
    assert "app-db-1" not in engine.by_name()
    assert " Container app-db-1  Removed" in out


def test_down_reverse_order_and_volumes(tmp_path: Path) -> None:
    engine = FakeEngine()
    up(tmp_path, engine)
    engine.networks["unrelated"] = {"Name": "unrelated", "Labels": {}}
    c, progress = compose(tmp_path, engine)
    c.down(volumes=False)
    lines = progress.getvalue().splitlines()
    assert lines.index(" Container app-web-1  Stopping") < lines.index(" Container app-db-1  Stopping")
    assert engine.containers == {} and set(engine.networks) == {"unrelated"}
    assert "app_data" in engine.volumes  # kept without -v
    c.down(volumes=True)
    assert engine.volumes == {}


def test_external_and_foreign_objects(tmp_path: Path) -> None:
    engine = FakeEngine()
    text = BASE.replace("networks: {front: {}}", "networks: {front: {external: true}}")
    c, _ = compose(tmp_path, engine, text)
    with pytest.raises(ComposeError) as exc:
        c.create()
    assert "network front declared as external, but could not be found" in exc.value.message
    engine.networks["front"] = {"Name": "front", "Labels": {}}
    up(tmp_path, engine, text)
    c, _ = compose(tmp_path, engine, text)
    c.down(volumes=True)
    assert "front" in engine.networks  # external: never removed


def test_unknown_service_names(tmp_path: Path) -> None:
    engine = FakeEngine()
    c, _ = compose(tmp_path, engine)
    with pytest.raises(ComposeError) as exc:
        c.create(["nope"])
    assert exc.value.message == "no such service: nope"
    ids = c.create(["web"])  # a service brings its dependencies
    assert set(ids) == {"db", "web"}


def test_no_deps_and_scale_override(tmp_path: Path) -> None:
    engine = FakeEngine()
    c, _ = compose(tmp_path, engine)
    ids = c.create(["web"], no_deps=True)
    assert set(ids) == {"web"} and set(engine.by_name()) == {"app-web-1"}
    c.start(["web"], ids=ids, no_deps=True, wait_deps=False)
    c, progress = compose(tmp_path, engine)
    c.create(["web"], no_deps=True, remove_orphans=True)
    assert "app-web-1" in engine.by_name() and "orphan" not in progress.getvalue()  # db is no orphan
    c, _ = compose(tmp_path, engine)
    c.create(scale={"web": 2})
    assert {n for n in engine.by_name() if "web" in n} == {"app-web-1", "app-web-2"}
    with pytest.raises(ComposeError):
        c.create(scale={"nope": 2})


def test_pull_policies(tmp_path: Path) -> None:
    engine = FakeEngine()
    c, _ = compose(tmp_path, engine)
    c.create()
    engine.calls.clear()
    c.create(pull="always")
    assert engine.calls.count(("POST", "/images/create")) == 2  # db and web, though present
    engine2 = FakeEngine()
    c, _ = compose(tmp_path, engine2, BASE.replace("image: busybox\n    command: [sleep", "image: alpine\n    command: [sleep"))
    with pytest.raises(ComposeError) as exc:
        c.create(pull="never")
    assert exc.value.message == "No such image: alpine"
    c, _ = compose(tmp_path, engine2, BASE.replace("image: busybox\n    command: [sleep",
                                                   "image: alpine\n    pull_policy: never\n    command: [sleep"))
    with pytest.raises(ComposeError):
        c.create()


def test_stop_levels_dependents_first(tmp_path: Path) -> None:
    engine = FakeEngine()
    text = BASE.replace('command: [sleep, "100"]', 'command: [sleep, "100"]\n    scale: 2') + \
        "  side:\n    image: busybox\n"
    text = text.replace("networks: {front: {}}\nvolumes: {data: {}}\n", "") + "networks: {front: {}}\nvolumes: {data: {}}\n"
    c, _ = compose(tmp_path, engine, text)
    c.start(ids=c.create())
    order: list[str] = []
    c.in_stop_order(c.containers(), lambda ctr, cl: order.append(ctr["Names"][0].lstrip("/")))
    # web depends on db: web (and side, which nothing needs) go first, then both db containers
    assert set(order[:2]) == {"app-web-1", "app-side-1"} and order[2:] == ["app-db-1", "app-db-2"]
