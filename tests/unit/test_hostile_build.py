"""Hostile build contexts: symlinks that leave the context (as files, as directory parents, as
sources of a directory copy) and ADD of local tars that climb out.  Nothing outside the context is
read into an image, nothing outside the engine's directories is written, refusals name the line.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kobako.build import BuildCache, Builder, BuildOptions
from kobako.content import LocalContentStore
from kobako.errors import KobakoError
from kobako.images import ImageStore
from kobako.snapshots import CopySnapshotter

SECRET = "host-secret-" + secrets.token_hex(6)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    content = LocalContentStore(tmp_path / "content")
    images = ImageStore(tmp_path / "images", content=content, snapshotter=CopySnapshotter(tmp_path / "snap"))
    builder = Builder(images, BuildCache(tmp_path / "cache.db", content), None, tmp_path / "tmp")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text(SECRET)
    (ctx / "filelink").symlink_to(outside / "secret")
    (ctx / "dirlink").symlink_to(outside)
    (ctx / "rellink").symlink_to("../outside")
    (ctx / "tree").mkdir()
    (ctx / "tree" / "inner").symlink_to(outside / "secret")
    return {"images": images, "builder": builder, "ctx": ctx, "tmp": tmp_path, "outside": outside}


def _build(env: dict[str, Any], dockerfile: str) -> Any:
    (env["ctx"] / "Dockerfile").write_text(dockerfile)
    return asyncio.run(env["builder"].build(env["ctx"], BuildOptions(), lambda o: None))


def _layer_bytes(env: dict[str, Any], image: Any) -> bytes:
    out = b""
    for layer in image.manifest["layers"]:
        with env["images"].content.open(layer["digest"]) as blob, tarfile.open(fileobj=blob, mode="r:gz") as tf:
            for m in tf:
                out += m.name.encode() + b"->" + m.linkname.encode() + b"\n"
                if m.isreg():
                    out += tf.extractfile(m).read()  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("df", [
    "FROM scratch\nCOPY filelink /x\n",
    "FROM scratch\nCOPY dirlink/secret /x\n",
    "FROM scratch\nCOPY rellink/secret /x\n",
    "FROM scratch\nCOPY ../outside/secret /x\n",
    "FROM scratch\nCOPY /../outside/secret /x\n",
    "FROM scratch\nCOPY dirlink/ /x/\n",
])
def test_symlinks_out_of_the_context_are_not_followed(env: dict[str, Any], df: str) -> None:
    try:
        image = _build(env, df)
    except KobakoError as exc:
        assert str(exc).startswith("Dockerfile:2:"), str(exc)
        return
    assert SECRET.encode() not in _layer_bytes(env, image)  # a symlink may be copied as a symlink, never read


def test_directory_copy_keeps_inner_symlinks_as_links(env: dict[str, Any]) -> None:
    image = _build(env, "FROM scratch\nCOPY tree /t/\n")
    data = _layer_bytes(env, image)
    assert SECRET.encode() not in data
    assert f"t/inner->{env['outside'] / 'secret'}".encode() in data


def _tar(*entries: tuple[str, bytes, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, link in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, link
            data = b"payload" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize("entries", [
    [("../../../../escaped", tarfile.REGTYPE, "")],
    [("l", tarfile.SYMTYPE, "../../../.."), ("l/escaped", tarfile.REGTYPE, "")],
    [("abs", tarfile.SYMTYPE, "/"), ("abs/escaped", tarfile.REGTYPE, "")],
    [("h", tarfile.LNKTYPE, "../../../outside/secret")],
    [(".wh...", tarfile.REGTYPE, "")],
])
def test_add_of_a_hostile_local_tar(env: dict[str, Any], entries: list[tuple[str, bytes, str]]) -> None:
    (env["ctx"] / "evil.tar").write_bytes(_tar(*entries))
    listing = sorted(p.name for p in env["tmp"].iterdir())
    try:
        image = _build(env, "FROM scratch\nADD evil.tar /opt/\n")
    except KobakoError as exc:
        assert str(exc).startswith("Dockerfile:2:") or "invalid tar entry" in str(exc), str(exc)
    else:
        assert SECRET.encode() not in _layer_bytes(env, image)
    assert sorted(p.name for p in env["tmp"].iterdir()) == listing
    assert not (env["tmp"] / "escaped").exists() and not Path("/escaped").exists()
    assert (env["outside"] / "secret").read_text() == SECRET
