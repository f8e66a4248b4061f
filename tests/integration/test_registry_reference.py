"""kobakod pulls and pushes against Debian's docker-registry (the reference implementation) on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon

REGISTRY = "/usr/bin/docker-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



@pytest.fixture(autouse=True)
def _remove_tmp(tmp_path: Path) -> Iterator[None]:
    """Registry roots, configs and certificates go with the test."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)

@pytest.fixture()
def reference_registry(tmp_path: Path) -> Iterator[str]:
    if shutil.which(REGISTRY) is None:
        pytest.skip("needs Debian's docker-registry (apt install docker-registry)")
    port = _free_port()
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(tmp_path / "registry.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp_path / "registry.log").read_text()) from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_push_and_pull_against_docker_registry(daemon: Daemon, reference_registry: str) -> None:
    ref = f"{reference_registry}/kobako/busybox:ref"
    daemon.kobako("tag", "busybox", ref)
    out = daemon.kobako("push", ref).stdout.decode()
    assert "Pushed" in out and "ref: digest: sha256:" in out
    daemon.kobako("rmi", ref)
    out = daemon.kobako("pull", ref).stdout.decode()
    assert "Digest: sha256:" in out
    assert daemon.kobako("run", "--rm", ref, "echo", "from the reference registry").stdout == \
        b"from the reference registry\n"
    # a second repository: the layers are mounted from the first, not uploaded again
    ref2 = f"{reference_registry}/kobako/copy:v1"
    daemon.kobako("tag", ref, ref2)
    out = daemon.kobako("push", ref2).stdout.decode()
    assert "Mounted from kobako/busybox" in out or "Layer already exists" in out
    daemon.kobako("rmi", ref2)
    daemon.kobako("rmi", ref)


def test_pull_an_image_with_zstd_layers(daemon: Daemon, reference_registry: str, tmp_path: Path) -> None:
    """skopeo recompresses busybox's layer with zstd (OCI media type ...tar+zstd) in the reference
    registry; kobakod pulls it, verifies it by digest, unpacks it and runs it."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("needs skopeo (apt install skopeo)")
    src, dst = f"{reference_registry}/kobako/busybox:gz", f"{reference_registry}/kobako/zbox:z"
    daemon.kobako("tag", "busybox", src)
    daemon.kobako("push", src)
    env = {**os.environ, "HOME": str(tmp_path)}
    res = subprocess.run([skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "oci",
                          "--dest-compress-format", "zstd", f"docker://{src}", f"docker://{dst}"],
                         capture_output=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    res = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{dst}"],
                         capture_output=True, env=env, timeout=60)
    assert [layer["mediaType"] for layer in json.loads(res.stdout)["layers"]] == \
        ["application/vnd.oci.image.layer.v1.tar+zstd"]
    try:
        daemon.kobako("pull", dst)
        assert daemon.kobako("run", "--rm", dst, "echo", "zstd layer").stdout == b"zstd layer\n"
    finally:
        daemon.kobako("rmi", dst, check=False)
        daemon.kobako("rmi", src, check=False)
