"""kobako save → kobako load into a second kobakod, then run; both formats, compressed input, and
bad archives that the daemon refuses without storing anything."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A second kobakod with nothing in it."""
    yield from daemon_session(tmp_path_factory.mktemp("kobakod-load"))


@pytest.fixture(scope="module")
def saved(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    daemon.kobako("tag", "busybox", "save-test/bb:one")
    daemon.kobako("tag", "busybox", "save-test/bb:two")
    path = tmp_path_factory.mktemp("saved") / "bb.tar"
    daemon.kobako("save", "-o", str(path), "save-test/bb")
    yield path
    daemon.kobako("rmi", "save-test/bb:one", "save-test/bb:two", check=False)


def _image_id(d: Daemon, ref: str) -> str:
    return d.kobako("image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()


def _state(d: Daemon) -> tuple[str, list[str]]:
    images = d.kobako("images", "-a", "--no-trunc").stdout.decode()
    blobs = sorted(p.name for p in (d.data_root / "content" / "sha256").iterdir()) \
        if (d.data_root / "content" / "sha256").exists() else []
    return images, blobs


def test_round_trip_into_another_daemon_and_run(daemon: Daemon, other: Daemon, saved: Path) -> None:
    res = other.kobako("load", "-i", str(saved))
    assert res.stdout.decode().splitlines() == ["Loaded image: save-test/bb:one", "Loaded image: save-test/bb:two"]
    assert _image_id(other, "save-test/bb:two") == _image_id(daemon, "busybox")
    out = other.kobako("run", "--rm", "save-test/bb:one", "sh", "-c", "echo loaded-and-running")
    assert out.stdout == b"loaded-and-running\n"
    # loading it again is a no-op re-tag
    before = _state(other)
    res = other.kobako("load", "-q", input=saved.read_bytes())
    assert res.stdout.decode().splitlines() == ["Loaded image: save-test/bb:one", "Loaded image: save-test/bb:two"]
    assert _state(other) == before


def test_oci_format_and_compressed_stdin(daemon: Daemon, other: Daemon, tmp_path: Path) -> None:
    daemon.kobako("tag", "busybox", "save-test/oci:1")
    try:
        data = daemon.kobako("image", "save", "--format", "oci-archive", "save-test/oci:1").stdout
    finally:
        daemon.kobako("rmi", "save-test/oci:1")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert "index.json" in names and "oci-layout" in names and "manifest.json" not in names
    res = other.kobako("image", "load", input=gzip.compress(data))
    assert res.stdout == b"Loaded image: save-test/oci:1\n"
    assert other.kobako("run", "--rm", "save-test/oci:1", "true").returncode == 0


def test_docker_api_shapes(daemon: Daemon, other: Daemon) -> None:
    """GET /images/{name}/get and /images/get?names=, POST /images/load's JSON lines."""
    with daemon.client() as c:
        one = b"".join(c.stream("GET", "/v1.47/images/busybox/get"))
        many = b"".join(c.stream("GET", "/images/get", query={"names": ["busybox:latest", "busybox"]}))
    for data in (one, many):
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert [m["RepoTags"] for m in manifest] == [["busybox:latest"]]
    with other.client() as c:
        lines = list(c.jsonlines("POST", "/v1.47/images/load", query={"quiet": "1"}, body=one,
                                 headers={"Content-Type": "application/x-tar"}))
    assert lines == [{"stream": "Loaded image: busybox:latest\n"}]
    res = daemon.kobako("save", "-o", "/dev/null", "no-such-image:1", check=False)
    assert res.returncode == 1 and b"No such image: no-such-image:1" in res.stderr


def _rewrite(data: bytes, change: dict[str, bytes | None], extra: list[tuple[str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for name, body in extra:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body))
        for m in src:
            if m.name in change:
                if change[m.name] is None:
                    continue
                body = change[m.name] or b""
                m.size = len(body)
                dst.addfile(m, io.BytesIO(body))
            else:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    return out.getvalue()


def test_bad_archives_store_nothing(daemon: Daemon, other: Daemon, saved: Path) -> None:
    data = saved.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    layer = manifest[0]["Layers"][0]
    other.kobako("rmi", "-f", "save-test/bb:one", "save-test/bb:two", check=False)
    before = _state(other)
    cases = {
        "digest mismatch": (_rewrite(data, {layer: gzip.compress(b"\0" * 1024)}), f"{layer}.*digest mismatch"),
        "missing file": (_rewrite(data, {layer: None}), f"names '{layer}', which is not in the archive"),
        "truncated": (data[: len(data) * 2 // 3], "truncated"),
        "dot-dot": (_rewrite(data, {}, [("../../etc/evil", b"x")]), "'../../etc/evil': path escapes the archive"),
    }
    import re

    for what, (bad, pattern) in cases.items():
        res = other.kobako("load", input=bad, check=False)
        assert res.returncode == 1, what
        err = res.stderr.decode()
        assert err.startswith("Error response from daemon: invalid archive"), (what, err)
        assert re.search(pattern, err), (what, err)
        assert _state(other) == before, what
    assert not list((other.data_root / "content" / "ingest").iterdir())
