"""Lifecycle through the real docker CLI and the Python docker SDK: pause/unpause, rename, update,
restart, stop, kill, wait, restart policies and healthchecks."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


def out(res: Any) -> str:
    return str(res.stdout.decode()).strip()


def err(res: Any) -> str:
    return str(res.stderr.decode()).strip()


@pytest.fixture
def name(docker: DockerRun) -> Iterator[str]:
    n = "e2e-lc-" + secrets.token_hex(4)
    yield n
    docker("rm", "-f", n, check=False)


def status(docker: DockerRun, ref: str) -> str:
    return out(docker("inspect", "-f", "{{.State.Status}}", ref))


def test_docker_pause_unpause(docker: DockerRun, daemon: Daemon, name: str) -> None:
    cid = out(docker("run", "-d", "--name", name, "busybox", "sleep", "60"))
    assert out(docker("pause", name)) == name
    assert status(docker, name) == "paused"
    freezer = Path("/sys/fs/cgroup/freezer") / daemon.cgroup_parent.strip("/") / cid / "freezer.state"
    assert freezer.read_text().strip() == "FROZEN"
    assert "(Paused)" in out(docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}"))
    res = docker("pause", name, check=False)
    assert res.returncode == 1
    assert err(res) == f"Error response from daemon: Container {cid} is already paused"
    res = docker("start", name, check=False)
    assert "cannot start a paused container, try unpause instead" in err(res)
    res = docker("rm", name, check=False)
    assert err(res) == (f'Error response from daemon: cannot remove container "{name}": container is paused '
                        "and must be unpaused first")
    assert out(docker("unpause", name)) == name
    assert status(docker, name) == "running"
    res = docker("unpause", name, check=False)
    assert err(res) == f"Error response from daemon: Container {cid} is not paused"


def test_docker_stop_kill_wait_restart(docker: DockerRun, name: str) -> None:
    docker("run", "-d", "--name", name, "busybox", "sh", "-c", "trap 'exit 5' TERM; while true; do sleep 0.1; done")
    assert out(docker("stop", "-t", "5", name)) == name
    assert out(docker("wait", name)) == "5"
    assert out(docker("restart", "-t", "1", name)) == name
    assert status(docker, name) == "running"
    assert out(docker("kill", "-s", "TERM", name)) == name
    assert out(docker("wait", name)) == "5"
    docker("start", name)
    docker("pause", name)
    assert out(docker("stop", "-t", "1", name)) == name  # stop of a paused container
    assert status(docker, name) == "exited"
    res = docker("kill", name, check=False)
    assert res.returncode == 1 and "is not running" in err(res)
    docker("start", name)
    docker("pause", name)
    assert out(docker("rm", "-f", name)) == name


def test_docker_rename_and_update(docker: DockerRun, daemon: Daemon, name: str) -> None:
    cid = out(docker("run", "-d", "--name", name, "busybox", "sleep", "60"))
    new = name + "-new"
    try:
        assert out(docker("rename", name, new)) == ""
        assert out(docker("inspect", "-f", "{{.Name}}", cid)) == "/" + new
        assert out(docker("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "20",
                          "--cpus", "0.25", "--restart", "unless-stopped", new)) == new
        info = json.loads(out(docker("inspect", new)))[0]
        hc = info["HostConfig"]
        assert (hc["Memory"], hc["PidsLimit"], hc["NanoCpus"]) == (48 << 20, 20, 250_000_000)
        assert hc["RestartPolicy"]["Name"] == "unless-stopped"
        base = Path("/sys/fs/cgroup")
        rel = daemon.cgroup_parent.strip("/") + "/" + cid
        assert (base / "memory" / rel / "memory.limit_in_bytes").read_text().strip() == str(48 << 20)
        assert (base / "pids" / rel / "pids.max").read_text().strip() == "20"
        assert (base / "cpu" / rel / "cpu.cfs_quota_us").read_text().strip() == "25000"
    finally:
        docker("rm", "-f", new, check=False)


def test_docker_restart_policy_and_health(docker: DockerRun, name: str) -> None:
    docker("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        info = json.loads(out(docker("inspect", name)))[0]
        if info["RestartCount"] == 2 and info["State"]["Status"] == "exited":
            break
        time.sleep(0.1)
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 3
    docker("rm", "-f", name)
    docker("run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "200ms", "busybox", "sleep", "60")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if out(docker("inspect", "-f", "{{.State.Health.Status}}", name)) == "healthy":
            break
        time.sleep(0.1)
    assert out(docker("inspect", "-f", "{{.State.Health.Status}}", name)) == "healthy"
    assert out(docker("ps", "--filter", f"name={name}", "--format", "{{.Status}}")).endswith("(healthy)")


# -- the Python docker SDK --------------------------------------------------------------------------
@pytest.fixture
def sdk(daemon: Daemon) -> Iterator[Any]:
    docker_sdk = pytest.importorskip("docker", reason="the Python docker SDK is not installed in the venv")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_lifecycle(sdk: Any) -> None:
    c = sdk.containers.run("busybox", ["sleep", "60"], detach=True, name="e2e-sdk-" + secrets.token_hex(3))
    try:
        c.reload()
        assert c.status == "running"
        c.pause()
        c.reload()
        assert c.status == "paused" and c.attrs["State"]["Paused"] is True
        c.unpause()
        c.reload()
        assert c.status == "running"
        c.rename(c.name + "-r")
        c.reload()
        assert c.name.endswith("-r")
        c.update(mem_limit="64m", memswap_limit="128m", cpu_shares=512)
        c.reload()
        assert (c.attrs["HostConfig"]["Memory"], c.attrs["HostConfig"]["CpuShares"]) == (64 << 20, 512)
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        c.start()
        c.reload()
        assert c.status == "running"
        c.restart(timeout=1)
        c.reload()
        assert c.status == "running"
        c.kill()
        assert c.wait(timeout=10)["StatusCode"] == 137
    finally:
        c.remove(force=True)


def test_sdk_errors(sdk: Any) -> None:
    import docker

    c = sdk.containers.create("busybox", ["sleep", "60"])
    try:
        with pytest.raises(docker.errors.APIError) as exc:
            c.pause()
        assert exc.value.status_code == 409
        assert "is not running" in str(exc.value.explanation)
    finally:
        c.remove(force=True)
