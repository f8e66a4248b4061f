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


def test_docker_search_through_kobakod(docker: DockerRun, daemon: Daemon, registry: RegistryProc) -> None:
    """``docker search`` (the real CLI) through kobakod against kobako's registry: the same table as
    ``kobako search``; a registry term without search support is a clear error."""
    from tests.integration.test_registry import make_multi, push_multi

    long = "Searchable image " + "with a long description " * 3
    push_multi(registry, "e2e/searchable", "latest",
               make_multi([b"s"], {"org.opencontainers.image.description": long}))
    push_multi(registry, "e2e/searchable-too", "latest", make_multi([b"t"]))
    term = f"{registry.addr}/searchable"
    theirs = docker("search", term).stdout.decode()
    ours = daemon.kobako("search", term).stdout.decode()
    assert theirs.splitlines()[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split() for line in ours.splitlines()] == [line.split() for line in theirs.splitlines()]
    assert "e2e/searchable " in theirs and long[:44] + "…" in theirs
    no_trunc = docker("search", "--no-trunc", "--format", "{{.Name}}|{{.Description}}|{{.StarCount}}", term)
    assert no_trunc.stdout.decode().splitlines() == [f"e2e/searchable|{long}|0", "e2e/searchable-too||0"]
    assert daemon.kobako("search", "--no-trunc", "--format", "{{.Name}}|{{.Description}}|{{.StarCount}}",
                         term).stdout == no_trunc.stdout
    assert docker("search", "--limit", "1", "--format", "{{.Name}}", term).stdout == b"e2e/searchable\n"
    assert docker("search", "-f", "is-official=true", "--format", "{{.Name}}", term).stdout == b""
    bad = docker("search", "--limit", "500", term, check=False)
    assert bad.returncode != 0 and b"limit 500 is outside the range of [1, 100]" in bad.stderr


def test_docker_image_prune_through_kobakod(docker: DockerRun, daemon: Daemon, registry: RegistryProc) -> None:
    """``docker image prune -a --filter label=…`` removes the unused labelled images and their blobs."""
    import json
    import os

    from tests.integration.test_registry import content_blobs, digest_of, make_multi, push_multi

    mark = os.urandom(4).hex()
    img = make_multi([os.urandom(30_000)], {"org.kobako.prune": mark})
    push_multi(registry, "e2e/prunable", "1", img)
    docker("pull", f"{registry.addr}/e2e/prunable:1")
    blobs = {digest_of(x) for x in [*img["gz"], img["config"], img["manifest"]]}
    assert blobs <= content_blobs(daemon)
    out = docker("image", "prune", "-a", "-f", "--filter", f"label=org.kobako.prune={mark}").stdout.decode()
    assert f"deleted: {digest_of(img['config'])}" in out and "Total reclaimed space:" in out
    assert not blobs & content_blobs(daemon)
    assert json.loads(docker("image", "inspect", "--format", "{{json .Id}}", "busybox").stdout)


def test_docker_system_prune_collects_dangling_image_blobs(docker: DockerRun, daemon: Daemon,
                                                           registry: RegistryProc) -> None:
    """``docker system prune`` calls /images/prune (dangling only): an image pulled by digest, with
    no tag, goes with its blobs; tagged images stay."""
    import os

    from tests.integration.test_registry import content_blobs, digest_of, make_multi, push_multi

    img = make_multi([os.urandom(20_000)])
    push_multi(registry, "e2e/dangling", "1", img)
    docker("pull", f"{registry.addr}/e2e/dangling@{digest_of(img['manifest'])}")
    blobs = {digest_of(x) for x in [*img["gz"], img["config"], img["manifest"]]}
    assert blobs <= content_blobs(daemon)
    out = docker("system", "prune", "-f").stdout.decode()
    assert f"deleted: {digest_of(img['config'])}" in out, out
    assert not blobs & content_blobs(daemon)
    assert docker("image", "inspect", "busybox", check=False).returncode == 0
