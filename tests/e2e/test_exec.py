"""Exec from real Docker clients against kobakod: the docker CLI and the Python docker SDK."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


@pytest.fixture(scope="module")
def box(docker: DockerRun) -> Iterator[str]:
    name = "e2e-exec-" + secrets.token_hex(3)
    docker("run", "-d", "--name", name, "-e", "FROM_RUN=1", "busybox", "sleep", "600")
    yield name
    docker("rm", "-f", name, check=False)


def test_docker_exec_output_and_exit_codes(docker: DockerRun, box: str) -> None:
    res = docker("exec", box, "sh", "-c", "echo out; echo err >&2; echo $FROM_RUN")
    assert (res.stdout, res.stderr) == (b"out\n1\n", b"err\n")
    assert docker("exec", box, "sh", "-c", "exit 3", check=False).returncode == 3
    res = docker("exec", box, "nope", check=False)
    assert res.returncode == 127
    assert b'exec: "nope": executable file not found in $PATH' in res.stdout + res.stderr
    assert docker("exec", box, "/etc/passwd", check=False).returncode == 126


def test_docker_exec_options(docker: DockerRun, box: str) -> None:
    res = docker("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=y", box, "sh", "-c", 'echo "$(id -u) $(pwd) $X"')
    assert res.stdout == b"65534 /tmp y\n"
    assert docker("exec", box, "ps", "-o", "pid,args").stdout.splitlines()[1].split() == [b"1", b"sleep", b"600"]
    assert docker("exec", "-d", box, "sh", "-c", "echo bg > /tmp/bg").stdout == b""


def test_docker_exec_stdin(docker: DockerRun, box: str) -> None:
    data = b"".join(b"row %d\n" % i for i in range(2000))
    res = docker("exec", "-i", box, "sh", "-c", "wc -l; echo end", input=data)
    assert res.stdout.split() == [b"2000", b"end"]
    res = docker("exec", "-i", box, "cat", input=b"through stdin\n")
    assert res.stdout == b"through stdin\n"


def test_docker_exec_stopped_container(docker: DockerRun) -> None:
    name = "e2e-exec-stopped-" + secrets.token_hex(3)
    docker("create", "--name", name, "busybox", "true")
    try:
        res = docker("exec", name, "true", check=False)
        assert res.returncode != 0
        assert b"is not running" in res.stderr
    finally:
        docker("rm", "-f", name)


@pytest.fixture(scope="module")
def sdk(daemon: Daemon) -> Iterator[object]:
    docker_sdk = pytest.importorskip("docker")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_exec_run(sdk: object, box: str) -> None:
    c = sdk.containers.get(box)  # type: ignore[attr-defined]
    assert tuple(c.exec_run("echo hi")) == (0, b"hi\n")
    code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2; exit 4"], demux=True)
    assert (code, out, err) == (4, b"o\n", b"e\n")
    code, out = c.exec_run("whoami", user="nobody", environment={"A": "b"})
    assert (code, out) == (0, b"nobody\n")
    code, out = c.exec_run("sh -c 'echo $A'", environment={"A": "b"}, workdir="/tmp")
    assert (code, out) == (0, b"b\n")
    code, out = c.exec_run("tty", tty=True)
    assert code == 0 and out.startswith(b"/dev/pts/")
    code, out = c.exec_run("nope")
    assert code == 127 and b"executable file not found" in out
    code, out = c.exec_run("sleep 1", detach=True)
    assert code is None and not out  # the SDK returns the (empty) body text
