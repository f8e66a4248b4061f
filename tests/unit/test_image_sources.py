"""bootstrap_busybox (determinism, rootfs shape) and import_tarball (changes, validation)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.errors import InvalidArgument
from kobako.images import ImageStore, apply_changes, bootstrap_busybox, import_tarball
from kobako.snapshots import CopySnapshotter
from kobako.snapshots.testsuite import make_tar

BUSYBOX = Path("/bin/busybox")
needs_busybox = pytest.mark.skipif(not BUSYBOX.is_file(), reason="needs /bin/busybox (busybox-static)")


def _store(root: Path) -> ImageStore:
    return ImageStore(root / "images", LocalContentStore(root / "content"), CopySnapshotter(root / "snap"))


@needs_busybox
def test_bootstrap_is_deterministic(tmp_path: Path) -> None:
    a = bootstrap_busybox(_store(tmp_path / "a"))
    b = bootstrap_busybox(_store(tmp_path / "b"))
    assert a.id == b.id and a.manifest_digest == b.manifest_digest
    assert a.repo_tags == ("busybox:latest",)
    assert a.config["config"]["Cmd"] == ["sh"] and a.config["os"] == "linux"
    assert bootstrap_busybox(_store(tmp_path / "a")).id == a.id


@needs_busybox
def test_bootstrap_rootfs(tmp_path: Path) -> None:
    images = _store(tmp_path)
    img = bootstrap_busybox(images, ref="bb:test")
    blob = images.content.read(img.manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tf:
        members = {m.name: m for m in tf.getmembers()}
        passwd = tf.extractfile("etc/passwd").read()  # type: ignore[union-attr]
    assert members["bin/busybox"].isreg() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert members["tmp"].mode == 0o1777
    assert b"root:x:0:0:root:/root:/bin/sh" in passwd
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert list(members) == sorted(members)
    top = images.unpack(img)
    [m] = images.snapshotter.view("v", top)
    assert (Path(m.source) / "bin/sh").is_symlink()


def test_import_with_changes(tmp_path: Path) -> None:
    images = _store(tmp_path)
    tar = gzip.compress(make_tar([("bin", None), ("bin/app", b"#!/bin/sh\n")]))
    changes = [
        "ENV A=1 B='two words'",
        "ENV C three four",
        'CMD ["/bin/app", "--flag"]',
        "ENTRYPOINT /bin/sh -c",
        "WORKDIR /srv",
        "WORKDIR sub",
        "USER nobody",
        "EXPOSE 80 53/udp",
        "LABEL org.example=yes",
        'VOLUME ["/data"]',
    ]
    img = import_tarball(images, io.BytesIO(tar), "imported:v1", changes, message="hello")
    cfg = img.config["config"]
    assert cfg["Env"] == ["A=1", "B=two words", "C=three four"]
    assert cfg["Cmd"] == ["/bin/app", "--flag"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c"]
    assert cfg["WorkingDir"] == "/srv/sub" and cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Labels"] == {"org.example": "yes"} and cfg["Volumes"] == {"/data": {}}
    assert img.to_inspect()["Comment"] == "hello"
    assert images.get("imported:v1").id == img.id
    layer = images.content.read(img.manifest["layers"][0]["digest"])
    assert gzip.decompress(layer) == gzip.decompress(tar)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("FROM scratch", "FROM is not a valid change command"),
        ("EXPOSE http", "EXPOSE http"),
        ("EXPOSE 70000", "EXPOSE 70000"),
        ("LABEL novalue", "LABEL novalue"),
        ("CMD", "CMD"),
    ],
)
def test_bad_change_lines(line: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        apply_changes({}, [line])


def test_import_refuses_escaping_tar_and_stores_nothing(tmp_path: Path) -> None:
    images = _store(tmp_path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("ok"))
        tf.addfile(tarfile.TarInfo("../../etc/evil"))
    with pytest.raises(InvalidArgument, match="../../etc/evil"):
        import_tarball(images, io.BytesIO(buf.getvalue()), "bad:1")
    assert images.content.list() == [] and images.list() == []
