"""The real docker CLI pushes and pulls through kobakod, against kobako's own registry on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun
from tests.integration.test_registry import RegistryProc



@pytest.fixture(autouse=True)
def _remove_tmp(tmp_path: Path) -> Iterator[None]:
    """Registry roots, configs and certificates go with the test."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)

@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[RegistryProc]:
    r = RegistryProc(tmp_path)
    try:
        yield r
    finally:
        r.stop()


def test_docker_push_and_pull_through_kobakod(docker: DockerRun, daemon: Daemon, registry: RegistryProc) -> None:
    ref = f"{registry.addr}/e2e/busybox:v1"
    docker("tag", "busybox", ref)
    res = docker("push", ref)
    out = res.stdout.decode()
    assert "v1: digest: sha256:" in out, out
    docker("rmi", ref)
    res = docker("pull", ref)
    assert "Digest: sha256:" in res.stdout.decode()
    assert docker("run", "--rm", ref, "echo", "via docker").stdout == b"via docker\n"
    inspect = docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).stdout.decode().strip()
    assert inspect.startswith(f"{registry.addr}/e2e/busybox@sha256:")
    docker("rmi", ref)
