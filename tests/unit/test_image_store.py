"""ImageStore: add, tag, lookup by ref/id/prefix, remove semantics, unpack (copy snapshotter)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.errors import Conflict, DigestMismatch, ImageInUse, InvalidArgument, NoSuchBlob, NoSuchImage
from kobako.images import Image, ImageStore, ImageUser, import_tarball
from kobako.images._build import dumps
from kobako.snapshots import CopySnapshotter
from kobako.snapshots.testsuite import make_tar


@pytest.fixture
def images(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", LocalContentStore(tmp_path / "content"), CopySnapshotter(tmp_path / "snap"))


def _image(images: ImageStore, files: dict[str, bytes], ref: str | None = "app:1") -> Image:
    tar = make_tar([(k, v) for k, v in files.items()])
    return import_tarball(images, io.BytesIO(tar), ref)


def test_add_verifies_config_digest_and_layers(images: ImageStore) -> None:
    img = _image(images, {"f": b"1"})
    manifest = dict(img.manifest)
    config = dumps(img.config)
    with pytest.raises(DigestMismatch):
        images.add(dumps(manifest), config + b" ")
    manifest["layers"] = [{**img.manifest["layers"][0], "digest": "sha256:" + "0" * 64}]
    with pytest.raises(NoSuchBlob):
        images.add(dumps(manifest), config)
    with pytest.raises(InvalidArgument):
        images.add(b"[]", config)


def test_get_by_ref_id_and_prefix(images: ImageStore) -> None:
    img = _image(images, {"f": b"1"}, "app:1")
    hexid = img.id.removeprefix("sha256:")
    for name in ("app:1", "docker.io/library/app:1", img.id, hexid, hexid[:12], hexid[:3], "sha256:" + hexid[:5]):
        assert images.get(name).id == img.id, name
    assert img.repo_tags == ("app:1",)
    with pytest.raises(NoSuchImage, match="No such image: app:2"):
        images.get("app:2")
    with pytest.raises(NoSuchImage):
        images.get("sha256:" + "f" * 64)
    with pytest.raises(InvalidArgument):
        images.get("App")


def test_ambiguous_prefix(images: ImageStore) -> None:
    ids = [_image(images, {"f": bytes([i])}, None).id.removeprefix("sha256:") for i in range(40)]
    first = {i[0] for i in ids}
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    assert shared in first
    with pytest.raises(NoSuchImage):
        images.get(shared)


def test_tag_moves_and_digest_refs(images: ImageStore) -> None:
    a = _image(images, {"a": b""}, "app:1")
    b = _image(images, {"b": b""}, None)
    images.tag(b.id, "app:1")
    assert images.get("app:1").id == b.id and images.get(a.id).repo_tags == ()
    images.tag(b.id, "localhost:5000/x/y:t")
    images.tag(b.id, f"app@{b.manifest_digest}")
    got = images.get(b.id)
    assert got.repo_tags == ("app:1", "localhost:5000/x/y:t")
    assert got.repo_digests == (f"app@{b.manifest_digest}",)
    assert images.get(f"app@{b.manifest_digest}").id == b.id
    images.untag("localhost:5000/x/y:t")
    with pytest.raises(NoSuchImage):
        images.untag("localhost:5000/x/y:t")


def test_list_and_api_shapes(images: ImageStore) -> None:
    img = _image(images, {"f": b"x"}, "app:1")
    assert [i.id for i in images.list()] == [img.id]
    inspect = img.to_inspect()
    assert inspect["Id"] == img.id and inspect["RepoTags"] == ["app:1"]
    assert inspect["RootFS"] == {"Type": "layers", "Layers": img.diff_ids}
    assert inspect["Os"] == "linux" and inspect["Parent"] == ""
    summary = img.to_summary()
    assert summary["Id"] == img.id and isinstance(summary["Created"], int) and summary["Created"] > 0
    assert summary["SharedSize"] == -1 and summary["Containers"] == -1


def test_remove_by_ref_with_other_tags_only_untags(images: ImageStore) -> None:
    img = _image(images, {"f": b""}, "app:1")
    images.tag(img.id, "app:2")
    assert images.remove("app:1") == [{"Untagged": "app:1"}]
    assert images.get(img.id).repo_tags == ("app:2",)
    records = images.remove("app:2")
    assert records[:2] == [{"Untagged": "app:2"}, {"Deleted": img.id}]
    with pytest.raises(NoSuchImage):
        images.get(img.id)


def test_remove_by_id_with_many_tags_needs_force(images: ImageStore) -> None:
    img = _image(images, {"f": b""}, "app:1")
    images.tag(img.id, "other:1")
    short = img.id.removeprefix("sha256:")[:12]
    with pytest.raises(Conflict, match=f"conflict: unable to delete {short} \\(must be forced\\) - image is referenced in multiple repositories"):
        images.remove(short)
    records = images.remove(short, force=True)
    assert {"Untagged": "app:1"} in records and {"Untagged": "other:1"} in records
    assert {"Deleted": img.id} in records


def test_remove_in_use(images: ImageStore) -> None:
    img = _image(images, {"f": b""}, "app:1")
    short = img.id.removeprefix("sha256:")[:12]
    stopped = lambda _id: ImageUser("c" * 64, running=False)  # noqa: E731
    running = lambda _id: ImageUser("d" * 64, running=True)  # noqa: E731
    with pytest.raises(ImageInUse) as info:
        images.remove(img.id, in_use=stopped)
    assert str(info.value) == f"conflict: unable to delete {short} (must be forced) - image is being used by stopped container cccccccccccc"
    with pytest.raises(ImageInUse, match="cannot be forced.*running container dddddddddddd"):
        images.remove(img.id, force=True, in_use=running)
    with pytest.raises(ImageInUse, match='unable to remove repository reference "app:1" \\(must force\\) - container cccccccccccc'):
        images.remove("app:1", in_use=stopped)
    # forcing by ref past a running container only untags (moby keeps the image, dangling)
    assert images.remove("app:1", force=True, in_use=running) == [{"Untagged": "app:1"}]
    assert images.remove(img.id, force=True, in_use=stopped)[0] == {"Deleted": img.id}


def test_unpack_reuses_and_verifies(images: ImageStore) -> None:
    img = _image(images, {"etc": None, "etc/os": b"kobako"}, "app:1")  # type: ignore[dict-item]
    top = images.unpack(img)
    assert top == images.chain_ids(img)[-1] == img.diff_ids[0]
    assert images.unpack(img) == top
    assert [i.key for i in images.snapshotter.list()] == [top]
    images.snapshotter.view("v", top)
    [m] = images.snapshotter.mounts("v")
    assert (Path(m.source) / "etc/os").read_bytes() == b"kobako"
    images.snapshotter.remove("v")
    assert images.get("app:1").size == len(make_tar([("etc", None), ("etc/os", b"kobako")]))
    records = images.remove("app:1")
    assert {"Deleted": top} in records and not images.snapshotter.exists(top)


def test_unpack_bad_diff_id_leaves_no_snapshot(images: ImageStore) -> None:
    img = _image(images, {"f": b"x"}, None)
    config = dict(img.config, rootfs={"type": "layers", "diff_ids": ["sha256:" + "1" * 64]})
    config_bytes = dumps(config)
    cd = images.content.write(config_bytes)
    manifest = dict(img.manifest, config={**img.manifest["config"], "digest": cd, "size": len(config_bytes)})
    bad = images.add(dumps(manifest), config_bytes)
    with pytest.raises(DigestMismatch):
        images.unpack(bad)
    assert images.snapshotter.list() == []


def test_concurrent_unpack(images: ImageStore, tmp_path: Path) -> None:
    import threading

    img = _image(images, {f"f{i}": os.urandom(1000) for i in range(50)}, "app:1")
    tops: list[str] = []
    threads = [threading.Thread(target=lambda: tops.append(images.unpack(img))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tops) == 4 and len(set(tops)) == 1
    assert [i.key for i in images.snapshotter.list()] == [tops[0]]


def test_tags_of_and_size_follow_the_index(images: ImageStore) -> None:
    img = _image(images, {"f": b"12345"}, "app:1")
    assert images.tags_of(img.id) == ("app:1",)
    assert images.tags_of("sha256:" + "e" * 64) is None
    images.tag(img.id, "app:2")
    images.tag(img.id, "localhost:5000/app@sha256:" + "a" * 64)  # a digest reference is not a tag
    assert images.tags_of(img.id) == ("app:1", "app:2")
    images.untag("app:1")
    images.untag("app:2")
    assert images.tags_of(img.id) == ()  # no tag left: still an image
    again = images.get(img.id)
    assert again.repo_digests == ("localhost:5000/app@sha256:" + "a" * 64,)
    compressed = sum(layer["size"] for layer in img.manifest["layers"])
    assert again.size == compressed  # not unpacked yet: the compressed size
    images.unpack(again)
    unpacked = images.get(img.id).size
    assert unpacked == sum(images.layer_sizes().values()) and unpacked != compressed
    # another store on the same index learns the sizes from it, not from its own memory
    other = ImageStore(images.root, images.content, images.snapshotter)
    assert other.get(img.id).size == unpacked
