"""cp, commit and export from the real docker CLI and the Python docker SDK against kobakod."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


@pytest.fixture
def box(docker: DockerRun) -> Iterator[str]:
    cid = out(docker("run", "-d", "busybox", "sh", "-c",
                     "echo hi > /data; mkdir -p /dir/sub; echo f > /dir/sub/f; touch /ready; exec sleep 300")).strip()
    deadline = time.monotonic() + 10
    while docker("exec", cid, "test", "-e", "/ready", check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield cid
    docker("rm", "-f", cid, check=False)


def test_docker_cp_both_ways(docker: DockerRun, box: str, tmp_path: Path) -> None:
    docker("cp", f"{box}:/data", str(tmp_path / "data"))
    assert (tmp_path / "data").read_text() == "hi\n"
    docker("cp", f"{box}:/dir", str(tmp_path))
    assert (tmp_path / "dir/sub/f").read_text() == "f\n"
    (tmp_path / "up").mkdir()
    (tmp_path / "up/file").write_text("up")
    docker("cp", str(tmp_path / "up"), f"{box}:/dir/")
    docker("cp", str(tmp_path / "up/file"), f"{box}:/renamed")
    assert out(docker("exec", box, "cat", "/dir/up/file", "/renamed")) == "upup"
    res = docker("cp", f"{box}:/nope", str(tmp_path), check=False)
    assert res.returncode == 1
    assert f"Could not find the file /nope in container {box}" in res.stderr.decode()
    res = docker("cp", f"{box}:/dir", "-")
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        assert "dir/sub/f" in tf.getnames()


def test_docker_cp_into_stopped_container(docker: DockerRun, box: str, tmp_path: Path) -> None:
    docker("stop", "-t", "0", box)
    (tmp_path / "f").write_text("stopped")
    docker("cp", str(tmp_path / "f"), f"{box}:/dir/")
    docker("cp", f"{box}:/dir/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "stopped"


def test_docker_commit_and_export(docker: DockerRun, box: str, docker_cli: str, docker_env: dict[str, str],
                                  daemon: Daemon) -> None:
    repo = f"e2e-commit-{secrets.token_hex(3)}"
    image_id = out(docker("commit", "-m", "from docker", "-a", "someone", "-c", 'CMD ["cat", "/data"]',
                          box, f"{repo}:t")).strip()
    try:
        assert image_id.startswith("sha256:")
        assert out(docker("run", "--rm", f"{repo}:t")) == "hi\n"
        assert out(docker("inspect", "-f", "{{.Comment}}|{{.Author}}", f"{repo}:t")) == "from docker|someone\n"
    finally:
        docker("rmi", f"{repo}:t", check=False)
    export = subprocess.Popen([docker_cli, "-H", daemon.host, "export", box], env=docker_env, stdout=subprocess.PIPE)
    listing = subprocess.run(["tar", "t"], stdin=export.stdout, capture_output=True, timeout=60)
    assert export.stdout is not None
    export.stdout.close()
    assert export.wait(timeout=60) == 0 and listing.returncode == 0
    names = listing.stdout.decode().split()
    assert "bin/busybox" in names and "data" in names


# -- the Python docker SDK ------------------------------------------------------------------------
@pytest.fixture
def sdk(daemon: Daemon) -> Iterator[object]:
    docker_sdk = pytest.importorskip("docker", reason="the Python docker SDK is not installed in the venv")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_archive_commit_export(sdk: object, box: str) -> None:
    c = sdk.containers.get(box)  # type: ignore[attr-defined]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("sdk.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"sdk"))
    assert c.put_archive("/dir", buf.getvalue()) is True
    stream, stat = c.get_archive("/dir/sdk.txt")
    assert stat["name"] == "sdk.txt" and stat["size"] == 3
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        f = tf.extractfile("sdk.txt")
        assert f is not None and f.read() == b"sdk"
    repo = f"sdk-commit-{secrets.token_hex(3)}"
    image = c.commit(repository=repo, tag="v1", message="sdk msg", author="sdk", changes=['CMD ["cat","/dir/sdk.txt"]'])
    try:
        assert image.attrs["Comment"] == "sdk msg" and image.attrs["Author"] == "sdk"
        assert sdk.containers.run(f"{repo}:v1", remove=True) == b"sdk"  # type: ignore[attr-defined]
    finally:
        sdk.images.remove(f"{repo}:v1")  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(b"".join(c.export()))) as tf:
        assert "dir/sdk.txt" in tf.getnames()
