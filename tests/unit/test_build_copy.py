"""The builder without containers: COPY/ADD layers, Docker's destination rules, the content-only
cache (pain point #9) and the context boundary, on a real content store and copy snapshotter."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kobako.build import BuildCache, Builder, BuildOptions, DockerfileError, cache_key
from kobako.content import LocalContentStore
from kobako.images import ImageStore
from kobako.snapshots import CopySnapshotter


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    content = LocalContentStore(tmp_path / "content")
    images = ImageStore(tmp_path / "images", content=content, snapshotter=CopySnapshotter(tmp_path / "snap"))
    builder = Builder(images, BuildCache(tmp_path / "cache.db", content), None, tmp_path / "tmp")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    return {"images": images, "builder": builder, "ctx": ctx, "tmp": tmp_path}


def build(env: dict[str, Any], dockerfile: str, **opts: Any) -> tuple[Any, str]:
    (env["ctx"] / "Dockerfile").write_text(dockerfile)
    lines: list[str] = []
    image = asyncio.run(env["builder"].build(env["ctx"], BuildOptions(**opts),
                                             lambda o: lines.append(o.get("stream", ""))))
    return image, "".join(lines)


def files(env: dict[str, Any], image: Any) -> dict[str, tuple[str, int, int, int, str]]:
    """path -> (type, mode, uid, gid, content or link target), over all layers."""
    out: dict[str, tuple[str, int, int, int, str]] = {}
    for layer in image.manifest["layers"]:
        with env["images"].content.open(layer["digest"]) as blob, tarfile.open(fileobj=blob, mode="r:gz") as tf:
            for m in tf:
                data = tf.extractfile(m).read().decode("latin-1") if m.isreg() else m.linkname  # type: ignore[union-attr]
                out[m.name] = ("d" if m.isdir() else "l" if m.issym() else "f", m.mode, m.uid, m.gid, data)
    return out


def test_copy_rules(env: dict[str, Any]) -> None:
    ctx = env["ctx"]
    (ctx / "a.txt").write_text("A")
    (ctx / "dir" / "sub").mkdir(parents=True)
    (ctx / "dir" / "sub" / "f").write_text("F")
    (ctx / "dir" / "link").symlink_to("sub/f")
    os.chmod(ctx / "a.txt", 0o640)
    image, _ = build(env, "FROM scratch\nWORKDIR /w\nCOPY a.txt rel\nCOPY a.txt /abs/\nCOPY dir /d\n"
                          "COPY --chown=7:8 --chmod=600 a.txt /owned\nCOPY *.txt /glob/\n"
                          "COPY <<EOF /here\nhi ${X:-there}\nEOF\n")
    fs = files(env, image)
    assert fs["w/rel"] == ("f", 0o640, 0, 0, "A")  # relative to WORKDIR, owned by root
    assert fs["abs/a.txt"][4] == "A"  # into the directory: trailing /
    assert fs["d/sub/f"][4] == "F" and "d/dir" not in fs  # a directory copies its content
    assert fs["d/link"][:1] == ("l",) and fs["d/link"][4] == "sub/f"
    assert fs["owned"] == ("f", 0o600, 7, 8, "A")
    assert fs["glob/a.txt"][4] == "A"
    assert fs["here"][4] == "hi there\n"
    assert image.config["config"]["WorkingDir"] == "/w"


def test_cache_uses_content_not_mtime(env: dict[str, Any]) -> None:
    ctx = env["ctx"]
    (ctx / "a.txt").write_text("one")
    df = "FROM scratch\nCOPY a.txt /a\nLABEL x=y\n"
    first, out = build(env, df)
    assert "Using cache" not in out
    os.utime(ctx / "a.txt", (1, 1))  # touch: no change for the cache
    again, out = build(env, df)
    assert again.id == first.id and out.count(" ---> Using cache") == 2
    os.chmod(ctx / "a.txt", 0o600)  # the mode is part of the key
    changed, out = build(env, df)
    assert changed.id != first.id and "Using cache" not in out
    (ctx / "a.txt").write_text("two")
    _, out = build(env, df)
    assert "Using cache" not in out
    _, out = build(env, df, no_cache=True)
    assert "Using cache" not in out


def test_changed_file_invalidates_only_later_steps(env: dict[str, Any]) -> None:
    ctx = env["ctx"]
    (ctx / "a").write_text("1")
    (ctx / "b").write_text("1")
    df = "FROM scratch\nCOPY a /a\nCOPY b /b\nENV Z=1\n"
    build(env, df)
    (ctx / "b").write_text("2")
    _, out = build(env, df)
    steps = out.split("Step ")
    assert "Using cache" in steps[2] and "Using cache" not in steps[3] and "Using cache" not in steps[4]


def test_build_args_in_the_key_only_when_used(env: dict[str, Any]) -> None:
    df = "FROM scratch\nARG V=1\nENV E=$V\n"
    a, _ = build(env, df)
    b, out = build(env, df, build_args={"V": "2"})
    assert a.id != b.id and b.config["config"]["Env"][-1] == "E=2"
    c, out = build(env, df, build_args={"V": "2", "UNUSED": "x"})
    assert c.id == b.id and "[Warning] One or more build-args [UNUSED] were not consumed" in out


@pytest.mark.parametrize(("df", "message"), [
    ("FROM scratch\nCOPY ../../etc/passwd /x\n", "Dockerfile:2: COPY failed: file not found in build context"),
    ("FROM scratch\nCOPY escape /x\n", "Dockerfile:2: COPY failed: file not found in build context"),
    ("FROM scratch\nCOPY nope /x\n", "Dockerfile:2: COPY failed: file not found"),
    ("FROM scratch\nCOPY *.nothing /x/\n", "Dockerfile:2: COPY failed"),
    ("FROM scratch\nCOPY Dockerfile Dockerfile /x\n", "Dockerfile:2: When using COPY with more than one source"),
    ("FROM scratch\nCOPY --from=nosuch / /x\n", "Dockerfile:2: invalid from flag value nosuch"),
    ("ARG B\nFROM $B\n", "Dockerfile:2: base name ($B) should not be blank"),
    ("FROM nosuchimage\n", "Dockerfile:1: pull access denied for nosuchimage"),
    ("FROM scratch\nENV A=${B:?required}\n", "Dockerfile:2: B: required"),
    ("FROM scratch\nRUN true\n", "Dockerfile:2: RUN is not available"),
    ("FROM scratch\nCOPY --chown=nobody a /x\n", "Dockerfile:2"),
])
def test_bad_input_names_the_line_and_leaves_nothing(env: dict[str, Any], df: str, message: str) -> None:
    (env["ctx"] / "escape").symlink_to("/etc/passwd")
    (env["ctx"] / "a").write_text("a")
    before = {i.id for i in env["images"].list()}
    with pytest.raises((DockerfileError, Exception)) as err:
        build(env, df, tags=["should-not-exist"])
    assert str(err.value).startswith(message), str(err.value)
    assert {i.id for i in env["images"].list()} == before
    assert env["images"].snapshotter.list() == []


def test_target_and_unneeded_stages(env: dict[str, Any]) -> None:
    (env["ctx"] / "a").write_text("a")
    df = "FROM scratch AS one\nCOPY a /one\nFROM scratch AS two\nCOPY nope /x\nFROM scratch\nCOPY --from=one /one /b\n"
    image, out = build(env, df)  # stage "two" would fail: it is never built
    assert "nope" not in out and files(env, image)["b"][4] == "a"
    image, out = build(env, df, target="one")
    assert set(files(env, image)) == {"one"}
    with pytest.raises(Exception, match="failed to reach build target nosuch"):
        build(env, df, target="nosuch")


def test_add_extracts_local_tars(env: dict[str, Any]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("inner/file")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"in"))
    (env["ctx"] / "x.tar.gz").write_bytes(buf.getvalue())
    image, _ = build(env, "FROM scratch\nADD x.tar.gz /opt/\nCOPY x.tar.gz /raw/\n")
    fs = files(env, image)
    assert fs["opt/inner/file"][4] == "in" and "raw/x.tar.gz" in fs


def test_cache_key_is_stable() -> None:
    assert cache_key("p", "i", ("a",)) == cache_key("p", "i", ("a",))
    assert cache_key("p", "i", ("a",)) != cache_key("p", "i", ("b",))
    assert cache_key("p", "ia", ()) != cache_key("p", "i", ("a",))


def test_cache_from_image_without_local_cache(env: dict[str, Any]) -> None:
    """moby's image cache: steps match a --cache-from image by history and layers, in order; the
    last one gives the image itself; a diverging step ends the matching; --chown is in the history."""
    ctx = env["ctx"]
    (ctx / "a.txt").write_text("A")
    df = "FROM scratch\nENV A=1\nCOPY a.txt /a\nCOPY --chown=3:4 a.txt /b\nLABEL x=y\n"
    first, _ = build(env, df, tags=["cf:1"])
    assert any("COPY --chown=3:4file:" in h["created_by"] for h in first.config["history"])
    fresh = Builder(env["images"], BuildCache(env["tmp"] / "other.db", env["images"].content), None,
                    env["tmp"] / "tmp")
    env_b = {**env, "builder": fresh}
    _, out = build(env_b, df, no_cache=True, cache_from=["cf:1"])
    assert "Using cache" not in out
    fresh2 = Builder(env["images"], BuildCache(env["tmp"] / "other2.db", env["images"].content), None,
                     env["tmp"] / "tmp")
    image, out = build({**env, "builder": fresh2}, df, cache_from=["missing:1", "cf:1"])
    assert out.count(" ---> Using cache") == 4 and image.id == first.id
    # a changed chown (same file) is a different step; what comes before it still matches
    fresh3 = Builder(env["images"], BuildCache(env["tmp"] / "other3.db", env["images"].content), None,
                     env["tmp"] / "tmp")
    image, out = build({**env, "builder": fresh3}, df.replace("3:4", "3:5"), cache_from=["cf:1"])
    steps = out.split("Step ")[1:]
    assert [" ---> Using cache" in s for s in steps] == [False, True, True, False, False]
    assert files(env, image)["b"][2:4] == (3, 5)
