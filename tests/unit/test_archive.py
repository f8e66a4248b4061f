"""Image archives (docker save/load): both formats, Docker's legacy layout, compression, and bad
input that must store nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import shutil
import tarfile
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.errors import InvalidArgument, NoSuchImage
from kobako.images import ImageStore, derive_image, import_tarball, load_archive, plan_save, save_archive
from kobako.images._archive._spool import DiffHasher
from kobako.snapshots import CopySnapshotter
from kobako.snapshots.testsuite import make_tar


def _store(root: Path) -> ImageStore:
    return ImageStore(root / "images", LocalContentStore(root / "content"), CopySnapshotter(root / "snap"))


@pytest.fixture
def src(tmp_path: Path) -> ImageStore:
    return _store(tmp_path / "src")


@pytest.fixture
def dst(tmp_path: Path) -> ImageStore:
    return _store(tmp_path / "dst")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _two_images(store: ImageStore) -> tuple[str, str]:
    base = import_tarball(store, io.BytesIO(make_tar([("etc/hello", b"hello\n")])), "app:1")
    store.tag(base.id, "app:2")
    child = derive_image(store, base, io.BytesIO(make_tar([("etc/child", b"child\n")])), dict(base.config),
                         "example.com/team/child:v1")
    return base.id, child.id


def _save(store: ImageStore, names: list[str], fmt: str = "docker-archive") -> bytes:
    buf = io.BytesIO()
    save_archive(store, names, buf, fmt)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.isfile():
                out[m.name] = tf.extractfile(m).read()  # type: ignore[union-attr]
    return out


def _tar(entries: list[tuple[str, bytes | None, str]], *, end: bool = True) -> bytes:
    """A tar of (name, data, kind): kind "file", "dir", "sym" (data = target), "link"."""
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
    for name, data, kind in entries:
        info = tarfile.TarInfo(name)
        if kind == "dir":
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        elif kind in ("sym", "link"):
            info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
            info.linkname = (data or b"").decode()
            tf.addfile(info)
        else:
            info.size = len(data or b"")
            tf.addfile(info, io.BytesIO(data or b""))
    if end:
        tf.close()
        return buf.getvalue()
    tf.fileobj = None  # type: ignore[assignment]  # no end-of-archive blocks
    return buf.getvalue()


def _state(store: ImageStore) -> tuple[list[str], list[str], list[str]]:
    return ([i.id for i in store.list()], [str(d) for d in store.content.list()],
            sorted(i.key for i in store.snapshotter.list()))


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_round_trip_keeps_ids_tags_and_files(src: ImageStore, dst: ImageStore, fmt: str) -> None:
    base_id, child_id = _two_images(src)
    data = _save(src, ["app", "example.com/team/child:v1"], fmt)
    lines: list[str] = []
    loaded = load_archive(dst, io.BytesIO(data), lines.append)
    assert [x.id for x in loaded] == [base_id, child_id]
    assert all(x.new for x in loaded)
    assert lines == ["Loaded image: app:1", "Loaded image: app:2", "Loaded image: example.com/team/child:v1"]
    assert dst.get("app:2").id == base_id
    child = dst.get("example.com/team/child:v1")
    assert child.id == child_id and child.diff_ids == src.get(child_id).diff_ids
    assert dst.unpack(child) == dst.chain_ids(child)[-1]
    top_layer = gzip.decompress(dst.content.read(child.manifest["layers"][-1]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(top_layer)) as tf:
        assert tf.extractfile("etc/child").read() == b"child\n"  # type: ignore[union-attr]


def test_docker_archive_layout_is_dockers_and_ocis(src: ImageStore) -> None:
    base_id, child_id = _two_images(src)
    files = _members(_save(src, ["app:1", "example.com/team/child:v1"]))
    for name, data in files.items():  # every blob is named by its digest
        if name.startswith("blobs/sha256/"):
            assert _sha(data) == "sha256:" + name.rsplit("/", 1)[1]
    manifest = json.loads(files["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["app:1"], ["example.com/team/child:v1"]]
    assert manifest[0]["Config"] == "blobs/sha256/" + base_id.removeprefix("sha256:")
    assert manifest[1]["Layers"][0] == manifest[0]["Layers"][0]  # the shared layer is written once
    assert sum(1 for n in files if n.startswith("blobs/")) == 2 + 2 + 2  # configs, layers (the shared one once), manifests
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    repos = json.loads(files["repositories"])
    assert set(repos) == {"app", "example.com/team/child"}
    index = json.loads(files["index.json"])
    notes = [d["annotations"] for d in index["manifests"]]
    assert notes[0] == {"io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1"}
    oci = json.loads(files["blobs/sha256/" + index["manifests"][1]["digest"].split(":")[1]])
    assert oci["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert oci["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {x["mediaType"] for x in oci["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}


def test_oci_archive_has_no_docker_files(src: ImageStore) -> None:
    _two_images(src)
    files = _members(_save(src, ["app:1"], "oci"))
    assert "manifest.json" not in files and "repositories" not in files
    assert "index.json" in files and "oci-layout" in files


def test_name_selection(src: ImageStore) -> None:
    base_id, child_id = _two_images(src)
    items = plan_save(src, ["app"])  # a bare name: every tag of the repository
    assert [(i.image.id, [r.familiar() for r in i.refs]) for i in items] == [(base_id, ["app:1", "app:2"])]
    items = plan_save(src, [child_id[7:19], "app:2", "app:2"])  # an id prefix: no tag
    assert [(i.image.id, [r.familiar() for r in i.refs]) for i in items] == [(child_id, []), (base_id, ["app:2"])]
    items = plan_save(src, ["sha256:" + base_id[7:17]])  # parses as a tag, is an id prefix
    assert [(i.image.id, i.refs) for i in items] == [(base_id, [])]
    with pytest.raises(NoSuchImage):
        plan_save(src, ["app:3"])
    with pytest.raises(InvalidArgument):
        plan_save(src, [])


def test_untagged_image_loads_by_id(src: ImageStore, dst: ImageStore) -> None:
    base_id, _ = _two_images(src)
    files = _members(_save(src, [base_id]))
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    lines: list[str] = []
    load_archive(dst, io.BytesIO(_save(src, [base_id])), lines.append)
    assert lines == [f"Loaded image ID: {base_id}"]
    assert dst.get(base_id).repo_tags == ()


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_compressed_archives(src: ImageStore, dst: ImageStore, compress: object) -> None:
    base_id, _ = _two_images(src)
    data = compress(_save(src, ["app:1"]))  # type: ignore[operator]
    assert [x.id for x in load_archive(dst, io.BytesIO(data))] == [base_id]


def test_reload_is_a_retag(src: ImageStore, dst: ImageStore) -> None:
    base_id, child_id = _two_images(src)
    load_archive(dst, io.BytesIO(_save(src, ["app:1"])))
    before = _state(dst)
    lines: list[str] = []
    again = load_archive(dst, io.BytesIO(_save(src, ["app:1"])), lines.append)
    assert not again[0].new and lines == ["Loaded image: app:1"]
    assert _state(dst) == before
    # a tag that moves says so, as docker does
    src.tag(child_id, "app:1")
    lines.clear()
    load_archive(dst, io.BytesIO(_save(src, ["app:1"])), lines.append)
    assert lines == [f"The image app:1 already exists, renaming the old one with ID {base_id} to empty string",
                     "Loaded image: app:1"]
    assert dst.get("app:1").id == child_id


# -- what other tools write ---------------------------------------------------------------------
def _legacy_archive(layer: bytes, config_diff: str | None = None, *, symlink: bool = True) -> tuple[bytes, str]:
    """Docker < 25 / skopeo: <hex>.json config, <id>/layer.tar (uncompressed), a layer symlink."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [config_diff or _sha(layer)] * 2}}).encode()
    cid = _sha(config).split(":")[1]
    manifest = [{"Config": f"{cid}.json", "RepoTags": ["legacy:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]
    entries: list[tuple[str, bytes | None, str]] = [
        (f"{cid}.json", config, "file"), ("aaa/", None, "dir"), ("aaa/layer.tar", layer, "file"), ("bbb/", None, "dir"),
        ("bbb/layer.tar", b"../aaa/layer.tar", "sym") if symlink else ("bbb/layer.tar", b"aaa/layer.tar", "link"),
        ("manifest.json", json.dumps(manifest).encode(), "file"),
    ]
    return _tar(entries), "sha256:" + cid


@pytest.mark.parametrize("symlink", [True, False])
def test_legacy_docker_archive_with_links(dst: ImageStore, symlink: bool) -> None:
    layer = make_tar([("f", b"legacy\n")])
    data, image_id = _legacy_archive(layer, symlink=symlink)
    assert [x.id for x in load_archive(dst, io.BytesIO(data))] == [image_id]
    image = dst.get("legacy:1")
    assert image.manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [x["mediaType"] for x in image.manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar"] * 2
    assert image.manifest["layers"][0]["digest"] == _sha(layer)
    dst.unpack(image)


# -- bad input: a clear error naming the entry, nothing stored ------------------------------------
def _expect_refused(dst: ImageStore, data: bytes, match: str) -> None:
    before = _state(dst)
    with pytest.raises(InvalidArgument, match=match):
        load_archive(dst, io.BytesIO(data))
    assert _state(dst) == before
    assert not list((dst.content.root / "ingest").iterdir())


def _rewrite(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The archive with some files replaced (None: removed)."""
    entries: list[tuple[str, bytes | None, str]] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.isdir():
                entries.append((m.name, None, "dir"))
            elif m.name in change:
                if change[m.name] is not None:
                    entries.append((m.name, change[m.name], "file"))
            else:
                entries.append((m.name, tf.extractfile(m).read(), "file"))  # type: ignore[union-attr]
    return _tar(entries)


def test_layer_whose_digest_does_not_match(src: ImageStore, dst: ImageStore) -> None:
    _two_images(src)
    data = _save(src, ["app:1"])
    layer = json.loads(_members(data)["manifest.json"])[0]["Layers"][0]
    bad = _rewrite(data, {layer: gzip.compress(make_tar([("etc/hello", b"evil\n")]))})
    _expect_refused(dst, bad, f"{layer}.*digest mismatch")


def test_layer_that_does_not_match_the_config(dst: ImageStore) -> None:
    layer = make_tar([("f", b"legacy\n")])
    data, _ = _legacy_archive(layer, config_diff=_sha(b"something else"))
    _expect_refused(dst, data, "aaa/layer.tar.*does not match the image config")


def test_manifest_naming_a_missing_file(src: ImageStore, dst: ImageStore) -> None:
    _two_images(src)
    data = _save(src, ["app:1"])
    layer = json.loads(_members(data)["manifest.json"])[0]["Layers"][0]
    _expect_refused(dst, _rewrite(data, {layer: None}), f"names '{layer}', which is not in the archive")
    oci = _save(src, ["app:1"], "oci")
    _expect_refused(dst, _rewrite(oci, {layer: None}), f"names '{layer}', which is not in the archive")


def test_truncated_archives(src: ImageStore, dst: ImageStore) -> None:
    _two_images(src)
    data = _save(src, ["app:1"])
    names = list(_members(data))
    _expect_refused(dst, data[: len(data) // 2], "truncated")
    # cut exactly after a file, before the end-of-archive blocks
    entries = [(n, d, "file") for n, d in _members(data).items()]
    _expect_refused(dst, _tar(entries, end=False), f"truncated after entry '{names[-1]}'")
    _expect_refused(dst, gzip.compress(data)[:-100], "truncated or corrupt|corrupt")
    _expect_refused(dst, b"", "not a tar file")
    _expect_refused(dst, b"hello, this is not an archive" * 40, "not a tar file")


def test_paths_escaping_the_archive(src: ImageStore, dst: ImageStore) -> None:
    _two_images(src)
    entries = [(n, d, "file") for n, d in _members(_save(src, ["app:1"])).items()]
    _expect_refused(dst, _tar([("../evil", b"x", "file"), *entries]), "'../evil': path escapes the archive")
    _expect_refused(dst, _tar([("/abs", b"x", "file"), *entries]), "'/abs': path escapes the archive")
    layer = make_tar([("f", b"legacy\n")])
    data, _ = _legacy_archive(layer)
    escaping = _tar([(n, d if n != "bbb/layer.tar" else b"../../outside", k)
                     for n, d, k in _entries(data)])
    _expect_refused(dst, escaping, "symlink 'bbb/layer.tar'.*escapes the archive")
    manifest = [{"Config": "../x.json", "RepoTags": [], "Layers": []}]
    _expect_refused(dst, _tar([("manifest.json", json.dumps(manifest).encode(), "file")]), "escapes the archive")


def _entries(data: bytes) -> list[tuple[str, bytes | None, str]]:
    out: list[tuple[str, bytes | None, str]] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.isdir():
                out.append((m.name, None, "dir"))
            elif m.issym():
                out.append((m.name, m.linkname.encode(), "sym"))
            else:
                out.append((m.name, tf.extractfile(m).read(), "file"))  # type: ignore[union-attr]
    return out


def test_not_an_image_archive(dst: ImageStore) -> None:
    _expect_refused(dst, _tar([("hello.txt", b"hi", "file")]), "neither a docker-archive")
    _expect_refused(dst, _tar([("manifest.json", b"{not json", "file")]), "not valid JSON")
    _expect_refused(dst, _tar([("manifest.json", b"[]", "file")]), "holds no image")


def test_a_layer_that_does_not_unpack_is_rolled_back(dst: ImageStore) -> None:
    """Digests all match, but the second layer is hostile: the load fails at unpack and undoes itself,
    the first layer's snapshot included."""
    good = make_tar([("f", b"fine\n")])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    bad = buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [_sha(good), _sha(bad)]}}).encode()
    manifest = [{"Config": "c.json", "RepoTags": ["hostile:1"], "Layers": ["good.tar", "bad.tar"]}]
    data = _tar([("c.json", config, "file"), ("good.tar", good, "file"), ("bad.tar", bad, "file"),
                 ("manifest.json", json.dumps(manifest).encode(), "file")])
    before = _state(dst)
    with pytest.raises(InvalidArgument, match="escape"):
        load_archive(dst, io.BytesIO(data))
    assert _state(dst) == before


def test_nothing_written_when_a_name_is_missing(src: ImageStore) -> None:
    _two_images(src)
    out = io.BytesIO()
    with pytest.raises(NoSuchImage):
        save_archive(src, ["app:1", "nope:1"], out)
    assert out.getvalue() == b""


# -- the diff id hasher ---------------------------------------------------------------------------
def test_diff_hasher_formats() -> None:
    raw = make_tar([("a", b"x" * 100_000)])
    multi = gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]) + b"\0" * 512  # two members, padding
    cases = [raw, gzip.compress(raw), multi, lzma.compress(raw)]
    if shutil.which("zstd"):
        import subprocess

        cases.append(subprocess.run(["zstd", "-c"], input=raw, capture_output=True, check=True).stdout)
    for data in cases:
        h = DiffHasher()
        for i in range(0, len(data), 777):
            h.update(data[i : i + 777])
        assert h.finish() == _sha(raw), h.kind
    h = DiffHasher()
    h.update(gzip.compress(raw)[:-20])
    assert h.finish() is None and "ends early" in (h.error or "")
