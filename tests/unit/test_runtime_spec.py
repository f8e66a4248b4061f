from __future__ import annotations

import json

from kobako.runtime import USER_ANNOTATION, default_spec, memory_resources
from kobako.runtime import _sync


def test_default_spec_shape() -> None:
    spec = default_spec(["sh", "-c", "true"], env=["A=1"], cwd="/work", hostname="box",
                        cgroups_path="/kobako/abc")
    assert spec["ociVersion"] == "1.1.0"
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["hostname"] == "box"
    p = spec["process"]
    assert p["args"] == ["sh", "-c", "true"] and p["cwd"] == "/work" and p["terminal"] is False
    assert p["env"][0].startswith("PATH=/usr/local/sbin:") and "A=1" in p["env"]
    assert p["user"] == {"uid": 0, "gid": 0}
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests == ["/proc", "/dev", "/dev/pts", "/sys", "/dev/mqueue", "/dev/shm"]
    sys_mount = spec["mounts"][3]
    assert "ro" in sys_mount["options"]
    assert "newinstance" in spec["mounts"][2]["options"] and "ptmxmode=0666" in spec["mounts"][2]["options"]
    assert [n["type"] for n in spec["linux"]["namespaces"]] == ["pid", "mount", "uts", "ipc", "network", "cgroup"]
    assert spec["linux"]["cgroupsPath"] == "/kobako/abc"
    devices = spec["linux"]["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}  # deny all first, then the allow list
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in devices
    assert "annotations" not in spec
    json.dumps(spec)  # plain JSON, ready for config.json


def test_default_spec_user_and_path() -> None:
    spec = default_spec(["id"], env=["PATH=/x"], user="nobody:nogroup")
    assert spec["process"]["env"] == ["PATH=/x"]
    assert spec["annotations"] == {USER_ANNOTATION: "nobody:nogroup"}


def test_memory_resources_docker_semantics() -> None:
    assert memory_resources(64 << 20) == {"limit": 64 << 20, "swap": 128 << 20}
    assert memory_resources(64 << 20, -1) == {"limit": 64 << 20, "swap": -1}


def test_sync_messages_roundtrip() -> None:
    assert _sync.decode(_sync.encode(_sync.Ready()).strip()) == _sync.Ready()
    f = _sync.Failure("ExecNotFound", 'exec: "x": executable file not found in $PATH')
    line = _sync.encode(f)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert _sync.decode(line.strip()) == f
