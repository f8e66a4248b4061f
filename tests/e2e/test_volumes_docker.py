"""Volumes through the real docker CLI and the Python docker SDK, against kobakod."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


def out(res: Any) -> str:
    return str(res.stdout.decode())


def err(res: Any) -> str:
    return str(res.stderr.decode())


@pytest.fixture
def vol(docker: DockerRun) -> Iterator[str]:
    name = "e2evol-" + secrets.token_hex(3)
    yield name
    docker("volume", "rm", "-f", name, check=False)


def test_docker_volume_commands(docker: DockerRun, vol: str) -> None:
    assert out(docker("volume", "create", "--label", "k=v", vol)) == vol + "\n"
    lines = out(docker("volume", "ls", "--filter", f"name={vol}")).splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"] and lines[1].split() == ["local", vol]
    assert out(docker("volume", "ls", "-q", "--filter", "label=k=v")).split() == [vol]
    info = json.loads(out(docker("volume", "inspect", vol)))[0]
    assert (info["Name"], info["Driver"], info["Scope"], info["Labels"]) == (vol, "local", "local", {"k": "v"})
    assert out(docker("volume", "inspect", "-f", "{{.Mountpoint}}", vol)).strip().endswith(f"/volumes/{vol}/_data")
    assert json.loads(out(docker("inspect", "--type", "volume", vol)))[0]["Name"] == vol
    assert out(docker("volume", "rm", vol)) == vol + "\n"
    res = docker("volume", "inspect", vol, check=False)
    assert res.returncode == 1 and "no such volume" in err(res).lower()
    # tmpfs through the local driver's options
    docker("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=3m", vol)
    opts = json.loads(out(docker("volume", "inspect", vol)))[0]["Options"]
    assert opts == {"type": "tmpfs", "device": "tmpfs", "o": "size=3m"}
    assert "size=3072k" in out(docker("run", "--rm", "-v", f"{vol}:/t", "busybox", "grep", " /t ", "/proc/mounts"))


def test_docker_run_with_volumes_mounts_tmpfs(docker: DockerRun, vol: str) -> None:
    docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo via-docker > /data/f")
    assert out(docker("run", "--rm", "--mount", f"type=volume,source={vol},target=/d,readonly", "busybox",
                      "cat", "/d/f")) == "via-docker\n"
    res = docker("run", "--rm", "--mount", f"source={vol},target=/d,readonly", "busybox", "touch", "/d/x", check=False)
    assert res.returncode == 1 and "Read-only file system" in err(res)
    line = out(docker("run", "--rm", "--tmpfs", "/run/x:size=1m", "busybox", "grep", " /run/x ", "/proc/mounts"))
    assert "tmpfs /run/x tmpfs" in line and "size=1024k" in line
    assert "size=2048k" in out(docker("run", "--rm", "--mount", "type=tmpfs,destination=/t,tmpfs-size=2m", "busybox",
                                      "grep", " /t ", "/proc/mounts"))
    name = "e2e-vc-" + secrets.token_hex(3)
    docker("create", "--name", name, "-v", f"{vol}:/data", "-v", "/anon", "busybox", "true")
    try:
        mounts = {m["Destination"]: m for m in json.loads(out(docker("inspect", "-f", "{{json .Mounts}}", name)))}
        assert mounts["/data"]["Name"] == vol and mounts["/data"]["Type"] == "volume" and mounts["/anon"]["Name"]
        res = docker("volume", "rm", vol, check=False)
        assert res.returncode == 1 and "volume is in use" in err(res)
        anon = mounts["/anon"]["Name"]
        docker("rm", "-v", name)
        assert anon not in out(docker("volume", "ls", "-q")).split()
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture
def sdk(daemon: Daemon) -> Iterator[Any]:
    docker_sdk = pytest.importorskip("docker", reason="the Python docker SDK is not installed in the venv")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_volumes(sdk: Any, vol: str) -> None:
    v = sdk.volumes.create(name=vol, driver="local", labels={"sdk": "1"})
    assert v.name == vol and v.attrs["Labels"] == {"sdk": "1"}
    assert vol in [x.name for x in sdk.volumes.list(filters={"label": "sdk=1"})]
    out_ = sdk.containers.run("busybox", ["sh", "-c", "echo sdk > /v/f; cat /v/f"], remove=True,
                              volumes={vol: {"bind": "/v", "mode": "rw"}})
    assert out_ == b"sdk\n"
    out_ = sdk.containers.run("busybox", ["cat", "/v/f"], remove=True, volumes=[f"{vol}:/v:ro"])
    assert out_ == b"sdk\n"
    assert sdk.volumes.get(vol).attrs["Mountpoint"].endswith(f"/{vol}/_data")
    sdk.volumes.get(vol).remove()
    assert vol not in [x.name for x in sdk.volumes.list()]
    report = sdk.volumes.prune()
    assert "VolumesDeleted" in report and "SpaceReclaimed" in report
