"""The real docker CLI (28.2.2, API 1.50) and the Python docker SDK, driving kobakod end to end."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


def err(res: object) -> str:
    return res.stderr.decode()  # type: ignore[attr-defined]


@pytest.fixture
def name(docker: DockerRun) -> Iterator[str]:
    """A fresh container name, force-removed after the test whatever happened."""
    n = "e2e-" + secrets.token_hex(4)
    yield n
    docker("rm", "-f", n, check=False)


def wait_status(docker: DockerRun, ref: str, want: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = out(docker("inspect", "-f", "{{.State.Status}}", ref, check=False)).strip()
        if status == want:
            break
        time.sleep(0.1)
    return status


# -- system ---------------------------------------------------------------------------------------
def test_version_reports_api_150(docker: DockerRun) -> None:
    res = docker("version", "--format", "{{json .}}")
    v = json.loads(out(res))
    assert v["Server"]["ApiVersion"] == "1.50"
    assert v["Client"]["ApiVersion"] == "1.50"  # not downgraded: the server speaks the CLI's version
    assert v["Server"]["Os"] == "linux"


def test_version_plain(docker: DockerRun) -> None:
    res = docker("version")
    assert "Server:" in out(res)
    assert "API version:      1.50" in out(res)


def test_info_works(docker: DockerRun) -> None:
    res = docker("info")
    assert "Server:" in out(res)
    assert "ERROR" not in out(res) + err(res)
    info = json.loads(out(docker("info", "--format", "{{json .}}")))
    assert isinstance(info["Containers"], int)
    assert info["OSType"] == "linux"


# -- run ------------------------------------------------------------------------------------------
def test_run_rm_echo(docker: DockerRun, name: str) -> None:
    res = docker("run", "--rm", "--name", name, "busybox", "echo", "hi")
    assert res.returncode == 0
    assert out(res) == "hi\n"
    # --rm: the CLI waits for condition=removed, so it is gone once run returns
    names = out(docker("ps", "-a", "--format", "{{.Names}}")).split()
    assert name not in names


def test_run_exit_code_passes_through(docker: DockerRun) -> None:
    res = docker("run", "--rm", "busybox", "sh", "-c", "exit 42", check=False)
    assert res.returncode == 42, err(res)


def test_run_missing_command_is_127(docker: DockerRun) -> None:
    res = docker("run", "--rm", "busybox", "no-such-command", check=False)
    assert res.returncode == 127, err(res)
    assert "executable file not found" in err(res)


def test_run_not_executable_is_126(docker: DockerRun) -> None:
    res = docker("run", "--rm", "busybox", "/etc/passwd", check=False)
    assert res.returncode == 126, err(res)
    assert "permission denied" in err(res)


def test_run_stdout_and_stderr_are_separate(docker: DockerRun) -> None:
    res = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert out(res) == "out\n"
    assert err(res) == "err\n"


def test_run_interactive_stdin(docker: DockerRun) -> None:
    res = docker("run", "-i", "--rm", "busybox", "cat", input=b"data\n")
    assert out(res) == "data\n"


# -- detached containers --------------------------------------------------------------------------
def test_run_detached_ps_logs_inspect(docker: DockerRun, name: str) -> None:
    res = docker("run", "-d", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2")
    cid = out(res).strip()
    assert len(cid) == 64, out(res)
    assert out(docker("wait", name)).strip() == "0"

    rows = out(docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Status}}")).splitlines()
    mine = [r for r in rows if r.split()[:2] == [cid, name]]
    assert mine, rows
    assert "Exited (0)" in mine[0]
    # not in the list of running containers
    assert cid not in out(docker("ps", "-q", "--no-trunc")).split()

    logs = docker("logs", name)
    assert out(logs) == "out\n"
    assert err(logs) == "err\n"

    assert out(docker("inspect", "-f", "{{.State.Status}}", name)).strip() == "exited"
    assert out(docker("inspect", "-f", "{{.State.ExitCode}}", cid)).strip() == "0"


def test_inspect_running_then_rm_f(docker: DockerRun, name: str) -> None:
    cid = out(docker("run", "-d", "--name", name, "busybox", "sleep", "300")).strip()
    assert wait_status(docker, name, "running") == "running"
    assert cid in out(docker("ps", "-q", "--no-trunc")).split()
    info = json.loads(out(docker("inspect", name)))
    assert isinstance(info, list) and len(info) == 1
    assert info[0]["Id"] == cid
    assert info[0]["State"]["Running"] is True
    assert info[0]["State"]["Pid"] > 0

    res = docker("rm", "-f", name)
    assert out(res).strip() == name
    gone = docker("inspect", name, check=False)
    assert gone.returncode != 0
    assert "No such" in err(gone)
    assert cid not in out(docker("ps", "-aq", "--no-trunc")).split()


def test_stop_kills_after_timeout(docker: DockerRun, name: str) -> None:
    # busybox sleep as PID 1 has no SIGTERM handler, so stop escalates to SIGKILL after -t
    docker("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert wait_status(docker, name, "running") == "running"
    docker("stop", "-t", "1", name, timeout=30)
    state = out(docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)).split()
    assert state == ["exited", "137"]


# -- images ---------------------------------------------------------------------------------------
def test_images_lists_busybox(docker: DockerRun) -> None:
    refs = out(docker("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert "busybox:latest" in refs


# -- the Python docker SDK ------------------------------------------------------------------------
@pytest.fixture
def sdk(daemon: Daemon) -> Iterator[object]:
    docker_sdk = pytest.importorskip("docker", reason="the Python docker SDK is not installed in the venv")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_run_and_images(sdk: object) -> None:
    assert sdk.containers.run("busybox", "echo sdk", remove=True) == b"sdk\n"  # type: ignore[attr-defined]
    tags = [t for img in sdk.images.list() for t in img.tags]  # type: ignore[attr-defined]
    assert "busybox:latest" in tags


def test_sdk_version(sdk: object) -> None:
    v = sdk.version()  # type: ignore[attr-defined]
    assert v["ApiVersion"] == "1.50"
    assert sdk.ping() is True  # type: ignore[attr-defined]

