"""The build context as the daemon receives it: tars indexed without extraction (``TarTree``),
and the tar headers the CLI and the COPY layers write (``_tarfmt``)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import stat
import tarfile
from pathlib import Path

import pytest

from kobako.build._context import ContextError, ContextReceiver, TarTree
from kobako.build._copy import Source, source_digest
from kobako.build._tarfmt import DIRTYPE, END, LNKTYPE, SYMTYPE, header, padding
from kobako.build._tree import LayerTree
from kobako.build._sendctx import context_tar


def _receive(tmp: Path, body: bytes, pieces: int = 1, seed: int = 0) -> TarTree:
    rc = ContextReceiver(tmp / "spool")
    rng = random.Random(seed)
    pos = 0
    cuts = sorted(rng.randrange(len(body) + 1) for _ in range(pieces - 1)) + [len(body)]
    for cut in cuts:
        rc.feed(body[pos:cut])
        pos = cut
    return rc.finish()


def _view(tree: LayerTree, root: str = "") -> list[tuple[object, ...]]:
    """What COPY sees of a tree: type, mode, size, content digest or link target, per path."""
    out: list[tuple[object, ...]] = []
    for rel, st in tree.walk(root):
        if rel == root:
            continue
        fmt = stat.S_IFMT(st.st_mode)
        extra = tree.file_digest(rel) if fmt == stat.S_IFREG else tree.readlink(rel) if fmt == stat.S_IFLNK else ""
        size = st.st_size if fmt == stat.S_IFREG else 0
        out.append((rel, fmt, stat.S_IMODE(st.st_mode), size, extra))
    return out


@pytest.fixture()
def ctx(tmp_path: Path) -> Path:
    d = tmp_path / "ctx"
    (d / "src" / "deep" / ("x" * 120)).mkdir(parents=True)
    (d / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (d / "src" / "a.txt").write_bytes(b"hello\n")
    (d / "src" / "big.bin").write_bytes(random.Random(1).randbytes(300_000))
    (d / "src" / "empty").write_bytes(b"")
    (d / "src" / "deep" / ("x" * 120) / ("y" * 90 + ".txt")).write_bytes(b"long name")
    (d / "src" / "naïve.txt").write_bytes(b"utf-8 name")
    os.chmod(d / "src" / "a.txt", 0o4755)
    os.symlink("a.txt", d / "src" / "link")
    os.symlink("../" * 3 + "z" * 150, d / "src" / "longlink")
    os.link(d / "src" / "a.txt", d / "src" / "hard")
    (d / ".dockerignore").write_text("src/empty\n")
    return d


def test_client_tar_reads_back_with_tarfile(ctx: Path) -> None:
    chunks, name = context_tar(str(ctx), None)
    data = b"".join(chunks)
    assert name == "Dockerfile"
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = {m.name: m for m in tf}
        long_name = "src/deep/" + "x" * 120 + "/" + "y" * 90 + ".txt"
        assert tf.extractfile(members[long_name]).read() == b"long name"  # type: ignore[union-attr]
        assert tf.extractfile(members["src/naïve.txt"]).read() == b"utf-8 name"  # type: ignore[union-attr]
        assert members["src/longlink"].linkname == "../" * 3 + "z" * 150
        assert members["src/a.txt"].mode == 0o4755
        assert members["src/hard"].islnk() and members["src/hard"].linkname == "src/a.txt"
        assert "src/empty" not in members  # .dockerignore applied on the client
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())


def test_tar_tree_matches_the_directory(ctx: Path, tmp_path: Path) -> None:
    os.unlink(ctx / ".dockerignore")
    data = b"".join(context_tar(str(ctx), None)[0])
    for pieces in (1, 7, 300):
        tree = _receive(tmp_path, data, pieces, seed=pieces)
        try:
            assert _view(tree) == _view(LayerTree([str(ctx)]))
            assert tree.resolve("src/link") == "src/a.txt"
            with tree.open("src/big.bin") as f:
                f.seek(1000)
                assert f.read(10) == (ctx / "src" / "big.bin").read_bytes()[1000:1010]
            # COPY's cache input is the same whether the context is a directory or the tar
            assert source_digest([Source("src", tree, "src")]) == \
                source_digest([Source("src", LayerTree([str(ctx)]), "src")])
        finally:
            tree.close()


def test_tarfile_formats_gnu_pax_and_hard_links(tmp_path: Path) -> None:
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            long_name = "d/" + "n" * (90 if fmt == tarfile.USTAR_FORMAT else 200)
            for name, content in (("./d/f", b"one"), (long_name, b"two"), ("d/f", b"replaced")):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.uid = len(content), 0o640, 1000
                tf.addfile(info, io.BytesIO(content))
            link = tarfile.TarInfo("/abs/../d/h")
            link.type, link.linkname = tarfile.LNKTYPE, "d/f"
            tf.addfile(link)
        tree = _receive(tmp_path, buf.getvalue(), 5)
        try:
            assert tree.read_bytes("d/f") == b"replaced"
            assert tree.read_bytes(long_name) == b"two"
            assert tree.read_bytes("d/h") == b"replaced"  # a hard link shares its target's data
            assert tree.file_digest("d/h") == hashlib.sha256(b"replaced").hexdigest()
            st = tree.lstat("d/f")
            assert st is not None and stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 1000
            d = tree.lstat("d")  # an implicit parent directory
            assert d is not None and stat.S_ISDIR(d.st_mode)
            assert tree.listdir("d") == sorted(["f", "h", "n" * (90 if fmt == tarfile.USTAR_FORMAT else 200)])
        finally:
            tree.close()


def test_gzip_body_and_bare_dockerfile_and_empty(tmp_path: Path) -> None:
    data = header("Dockerfile", mode=0o644, size=11) + b"FROM x\nRUN \n"[:11] + padding(11) + END
    tree = _receive(tmp_path, gzip.compress(data), 3)
    try:
        assert tree.read_bytes("Dockerfile") == b"FROM x\nRUN "
    finally:
        tree.close()
    tree = _receive(tmp_path, b"FROM busybox\nRUN true\n", 2)
    try:
        assert tree.listdir("") == ["Dockerfile"]
        assert tree.read_bytes("Dockerfile") == b"FROM busybox\nRUN true\n"
    finally:
        tree.close()
    tree = _receive(tmp_path, b"")
    try:
        assert tree.listdir("") == []
    finally:
        tree.close()


def test_broken_tars_are_clear_errors(tmp_path: Path) -> None:
    good = header("f", mode=0o644, size=1000) + b"x" * 1000 + padding(1000) + END
    with pytest.raises(ContextError, match="unexpected EOF"):
        _receive(tmp_path, good[:1200])
    bad = bytearray(good)
    bad[0:1] = b"g"  # the checksum no longer matches
    with pytest.raises(ContextError, match="checksum"):
        _receive(tmp_path, bytes(bad))
    link = header("l", mode=0o644, typeflag=LNKTYPE, linkname="missing") + END
    with pytest.raises(ContextError, match="hard link"):
        _receive(tmp_path, link)
    with pytest.raises(ContextError, match="not a tar"):
        _receive(tmp_path, gzip.compress(b"just text, no tar here"))
    # nothing is left in the spool directory: the spool files have no name
    assert os.listdir(tmp_path / "spool") == []


def test_header_fields_round_trip_through_tarfile() -> None:
    cases = [
        ("a" * 100, {}),                                   # fits the name field exactly
        ("p" * 150 + "/" + "n" * 99, {}),                  # ustar prefix + name
        ("q" * 300, {}),                                   # pax path
        ("dir/", {"typeflag": DIRTYPE, "mode": 0o1777}),
        ("s", {"typeflag": SYMTYPE, "linkname": "t" * 101}),
        ("big", {"size": 0o77777777777 + 1, "uid": 2 ** 22, "gid": 2 ** 21 + 5}),
        ("old", {"mtime": -5}),
    ]
    for name, kw in cases:
        kw = {"mode": 0o644, **kw}
        data = header(name, **kw)  # type: ignore[arg-type]
        size = int(kw.get("size", 0))  # type: ignore[call-overload]
        body = data + bytes(size) + padding(size) + END if size <= 10**6 else data  # headers only for "big"
        with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tf:
            info = tf.next()
        assert info is not None
        assert info.name == name.rstrip("/")
        assert info.mode == kw["mode"]
        assert info.size == size
        if "linkname" in kw:
            assert info.linkname == kw["linkname"]
        if "uid" in kw:
            assert (info.uid, info.gid) == (kw["uid"], kw["gid"])
        if "mtime" in kw:
            assert info.mtime == kw["mtime"]


# -- the builder over a received context ---------------------------------------------------------
def _layer_files(images: object, image: object) -> dict[str, tuple[str, int, int, int, str]]:
    out: dict[str, tuple[str, int, int, int, str]] = {}
    for layer in image.manifest["layers"]:  # type: ignore[attr-defined]
        with images.content.open(layer["digest"]) as blob, \
                tarfile.open(fileobj=blob, mode="r:gz") as tf:  # type: ignore[attr-defined]
            for m in tf:
                data = tf.extractfile(m).read().decode("latin-1") if m.isreg() else m.linkname  # type: ignore[union-attr]
                out[m.name] = ("d" if m.isdir() else "l" if m.issym() else "f", m.mode, m.uid, m.gid, data)
    return out


def _store_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_builder_over_a_tar_tree_matches_a_directory_and_rebuilds_copying_nothing(
        ctx: Path, tmp_path: Path) -> None:
    import asyncio

    from kobako.build import BuildCache, Builder, BuildOptions
    from kobako.content import LocalContentStore
    from kobako.images import ImageStore
    from kobako.snapshots import CopySnapshotter

    content = LocalContentStore(tmp_path / "content")
    images = ImageStore(tmp_path / "images", content=content, snapshotter=CopySnapshotter(tmp_path / "snap"))
    os.unlink(ctx / "src" / "longlink")  # the layer extractor refuses a link that climbs out of the root
    os.unlink(ctx / ".dockerignore")  # (the client's filtering is tested above)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY src /s\nCOPY src/a.txt /one/\n"
                                    "ADD arch.tar /x/\n")
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        info = tarfile.TarInfo("in/side")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
    (ctx / "arch.tar").write_bytes(inner.getvalue())

    def build(context: object, cache: str) -> tuple[object, str]:
        builder = Builder(images, BuildCache(tmp_path / cache, content), None, tmp_path / "tmp")
        lines: list[str] = []
        image = asyncio.run(builder.build(context, BuildOptions(tags=["t:1"]),  # type: ignore[arg-type]
                                          lambda o: lines.append(o.get("stream", ""))))
        return image, "".join(lines)

    from_dir, _ = build(ctx, "dir.db")
    body = b"".join(context_tar(str(ctx), None)[0])
    tree = _receive(tmp_path, body, 9)
    try:
        from_tar, out = build(tree, "tar.db")
    finally:
        tree.close()
    assert "Using cache" not in out
    fs = _layer_files(images, from_tar)
    assert fs["s/a.txt"] == ("f", 0o4755, 0, 0, "hello\n") and fs["s/hard"][4] == "hello\n"
    assert fs["s/link"][0] == "l" and fs["s/link"][4] == "a.txt" and fs["one/a.txt"][4] == "hello\n"
    assert fs["x/in/side"][4] == "ok"  # ADD extracted the archive from the spool
    assert len(fs["s/big.bin"][4]) == 300_000
    # the same layers, and the same cache keys
    dir_fs = _layer_files(images, from_dir)
    assert fs == dir_fs
    assert [h["created_by"] for h in from_tar.config["history"]] == \
        [h["created_by"] for h in from_dir.config["history"]]  # type: ignore[attr-defined]

    # nothing changed: every step from the cache, and not one file written in the stores
    before = _store_files(tmp_path / "content") | _store_files(tmp_path / "snap")
    tree = _receive(tmp_path, body, 3)
    try:
        again, out = build(tree, "tar.db")
    finally:
        tree.close()
    assert out.count(" ---> Using cache") == 3
    assert again.id == from_tar.id  # type: ignore[attr-defined]
    assert _store_files(tmp_path / "content") | _store_files(tmp_path / "snap") == before


def test_cache_lookup_touches_once(tmp_path: Path) -> None:
    import sqlite3

    from kobako.build import BuildCache
    from kobako.content import LocalContentStore

    content = LocalContentStore(tmp_path / "content")
    cache = BuildCache(tmp_path / "cache.db", content)
    cfg = str(content.write(b"{}"))
    layer = str(content.write(b"layer"))
    cache.put("k", cfg, [{"digest": layer}])

    def last_used() -> float:
        with sqlite3.connect(tmp_path / "cache.db") as db:
            return float(db.execute("SELECT last_used FROM steps WHERE key = 'k'").fetchone()[0])

    stamp = last_used()
    assert cache.get("k", touch=False) is not None and last_used() == stamp
    cache.touch(["k"])
    cache.flush()  # touches are written behind (BuildCache._TOUCH_EVERY); flush writes them now
    assert last_used() > stamp
    # a blob the caller vouches for is not checked again; one that is gone drops the record
    content.delete(layer)
    assert cache.get("k", known=[layer]) is not None
    assert cache.get("k") is None and cache.get("k", known=[layer]) is None


def test_layer_sink_stores_incompressible_segments_and_stays_one_gzip_member(tmp_path: Path) -> None:
    import zlib

    from kobako.images._gzsink import SEGMENT, LayerSink
    from kobako.content import LocalContentStore

    content = LocalContentStore(tmp_path / "content")
    rng = random.Random(7)
    noise, text = rng.randbytes(2 * SEGMENT + 123), b"COPY . /ctx\n" * 200_000
    for data in (noise + text + noise[:5000], text, noise, b""):
        sink = LayerSink(content)
        for off in range(0, len(data), 300_001):  # writes that straddle segments
            sink.write(data[off:off + 300_001])
        layer = sink.commit()
        blob = content.read(layer.digest)
        assert gzip.decompress(blob) == data and zlib.decompress(blob, 31) == data
        d = zlib.decompressobj(31)
        assert d.decompress(blob) == data and d.eof and d.unused_data == b""  # a single member
        assert layer.diff_id == "sha256:" + hashlib.sha256(data).hexdigest() and layer.size == len(blob)
        if data is text:
            assert sink.stored == 0 and len(blob) < len(data) // 20  # deflated
        if data is noise:
            assert sink.stored == len(data) and len(blob) < len(data) + len(data) // 1000  # stored, ~no growth


def test_add_archive_to_a_deep_new_directory_writes_its_parents(tmp_path: Path) -> None:
    import asyncio

    from kobako.build import BuildCache, Builder, BuildOptions
    from kobako.content import LocalContentStore
    from kobako.images import ImageStore
    from kobako.snapshots import CopySnapshotter

    content = LocalContentStore(tmp_path / "content")
    images = ImageStore(tmp_path / "images", content=content, snapshotter=CopySnapshotter(tmp_path / "snap"))
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        info = tarfile.TarInfo("f")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"1"))
        cont = tarfile.TarInfo("g")  # a contiguous file ("7"): a regular file to every reader
        cont.type, cont.size = tarfile.CONTTYPE, 2
        tf.addfile(cont, io.BytesIO(b"77"))
    arch = inner.getvalue()
    df = b"FROM scratch\nADD a.tar /deep/er/\n"
    body = (header("Dockerfile", mode=0o644, size=len(df)) + df + padding(len(df))
            + header("a.tar", mode=0o644, size=len(arch)) + arch + padding(len(arch)) + END)
    tree = _receive(tmp_path, body)
    try:
        builder = Builder(images, BuildCache(tmp_path / "c.db", content), None, tmp_path / "tmp")
        image = asyncio.run(builder.build(tree, BuildOptions(), lambda o: None))
    finally:
        tree.close()
    with content.open(image.manifest["layers"][0]["digest"]) as blob, tarfile.open(fileobj=blob, mode="r:gz") as tf:
        names = [m.name for m in tf]
        assert tf.extractfile("deep/er/g").read() == b"77"  # type: ignore[union-attr]
    assert names == ["deep", "deep/er", "deep/er/f", "deep/er/g"]


def test_kobako_build_starts_without_the_costly_modules(tmp_path: Path) -> None:
    """`kobako build` of a context without .dockerignore: the tar is made and sent without importing
    re, json, argparse or typing (each costs milliseconds of a cached build's ~100 ms)."""
    import subprocess
    import sys

    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    code = ("import sys\n"
            "from kobako.cli.main import main\n"
            f"sys.argv = ['kobako', 'build', '-t', 'x:1', {str(tmp_path / 'ctx')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import kobako.build._sendctx as b\n"
            "data = b''.join(b.context_tar(sys.argv[-1], None)[0])\n"
            "assert len(data) == 512 * 4, len(data)\n"
            "print(' '.join(m for m in ('re', 'json', 'argparse', 'typing', 'tarfile') if m in sys.modules))\n")
    env = {"KOBAKO_HOST": f"unix://{tmp_path}/none.sock", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(Path(__file__).resolve().parents[2] / "src"))
    assert res.returncode == 0, res.stderr
    assert "Cannot connect to the kobako daemon" in res.stderr
    assert res.stdout.strip() == ""
