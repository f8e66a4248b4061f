"""`kobako commit`: a new layer from the container's changes, config changes, pause."""

from __future__ import annotations

import json
import secrets
import time

from tests.daemon_fixture import Daemon


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


def _name() -> str:
    return f"committed-{secrets.token_hex(3)}"


def test_commit_then_run_the_image(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "echo data > /data; rm /bin/vi; sleep 300")).strip()
    repo = _name()
    try:
        time.sleep(0.3)
        res = daemon.kobako("commit", "-m", "a message", "-a", "A. Author", "-c", 'CMD ["cat","/data"]',
                            "-c", "ENV FOO=bar", cid, f"{repo}:v1")
        image_id = out(res).strip()
        assert image_id.startswith("sha256:") and len(image_id) == 71
        assert out(daemon.kobako("run", "--rm", f"{repo}:v1")) == "data\n"
        assert out(daemon.kobako("run", "--rm", f"{repo}:v1", "cat", "/data")) == "data\n"
        res = daemon.kobako("run", "--rm", f"{repo}:v1", "sh", "-c", "test -e /bin/vi || echo gone; echo $FOO")
        assert out(res) == "gone\nbar\n"  # the deletion is a whiteout in the new layer
        info = json.loads(out(daemon.kobako("image", "inspect", f"{repo}:v1")))[0]
        assert info["Id"] == image_id
        assert info["Comment"] == "a message" and info["Author"] == "A. Author"
        assert info["Config"]["Cmd"] == ["cat", "/data"]
        assert "FOO=bar" in info["Config"]["Env"]
        base = json.loads(out(daemon.kobako("image", "inspect", "busybox")))[0]
        assert info["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
        assert len(info["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
        # the container is running again after the pause of the commit
        assert json.loads(out(daemon.kobako("inspect", cid)))[0]["State"]["Status"] == "running"
    finally:
        daemon.kobako("rm", "-f", cid)
        daemon.kobako("rmi", f"{repo}:v1", check=False)


def test_commit_history_via_api(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "touch /x; sleep 300")).strip()
    c = daemon.client()
    try:
        time.sleep(0.3)
        res = c.json("POST", "/commit", query={"container": cid, "comment": "hist", "author": "me", "pause": "0"},
                     body={"Labels": {"k": "v"}})
        image_id = res["Id"]
        cfg = json.loads(c.request("GET", f"/images/{image_id}/json")[2])
        assert cfg["Config"]["Labels"]["k"] == "v"
        assert cfg["Config"]["Cmd"] == ["sh", "-c", "touch /x; sleep 300"]
        status, _, body = c.request("POST", "/commit", query={"container": "no-such-container"})
        assert status == 404
    finally:
        c.close()
        daemon.kobako("rm", "-f", cid)
        daemon.kobako("rmi", image_id, check=False)


def test_commit_paused_and_stopped_containers(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "echo p > /p; sleep 300")).strip()
    ids = []
    try:
        time.sleep(0.3)
        daemon.kobako("pause", cid)
        ids.append(out(daemon.kobako("commit", cid)).strip())
        state = json.loads(out(daemon.kobako("inspect", cid)))[0]["State"]
        assert state["Paused"] is True  # a paused container stays paused
        daemon.kobako("unpause", cid)
        ids.append(out(daemon.kobako("commit", "--pause=false", cid)).strip())
        daemon.kobako("stop", "-t", "0", cid)
        ids.append(out(daemon.kobako("commit", cid)).strip())
        for image_id in ids:
            assert out(daemon.kobako("run", "--rm", image_id, "cat", "/p")) == "p\n"
    finally:
        daemon.kobako("rm", "-f", cid)
        for image_id in ids:
            daemon.kobako("rmi", image_id, check=False)


def test_commit_without_changes_adds_no_layer(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "true")).strip()
    try:
        image_id = out(daemon.kobako("commit", cid)).strip()
        info = json.loads(out(daemon.kobako("image", "inspect", image_id)))[0]
        base = json.loads(out(daemon.kobako("image", "inspect", "busybox")))[0]
        assert info["RootFS"]["Layers"] == base["RootFS"]["Layers"]
        daemon.kobako("rmi", image_id)
    finally:
        daemon.kobako("rm", "-f", cid)
