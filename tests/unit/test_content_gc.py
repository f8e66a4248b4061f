"""Content garbage collection: images, build-cache style roots, leases (live, nested, stale) and
the races a collection must lose against a pull, import or commit in progress."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.errors import Conflict, NoSuchBlob
from kobako.images import ImageStore
from kobako.snapshots import CopySnapshotter
from tests.tarutil import layer_of


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


layer = layer_of


def image_docs(layers: list[tuple[bytes, bytes]], note: str) -> tuple[bytes, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": note}},
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(t) for t, _ in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(gz),
                    "size": len(gz)} for _, gz in layers],
    }).encode()
    return manifest, config


@pytest.fixture()
def images(tmp_path: Path) -> ImageStore:
    # unleased_grace=0: blobs the tests write outside a lease are not kept for the daemon's 15 minutes
    return ImageStore(tmp_path / "images", LocalContentStore(tmp_path / "content", unleased_grace=0),
                      CopySnapshotter(tmp_path / "snap"))


def add_image(images: ImageStore, layers: list[tuple[bytes, bytes]], note: str, ref: str):  # type: ignore[no-untyped-def]
    for _, gz in layers:
        images.content.write(gz)
    manifest, config = image_docs(layers, note)
    img = images.add(manifest, config)
    images.tag(img.id, ref)
    images.unpack(img)
    return img, digest_of(manifest), digest_of(config)


def test_removed_image_blobs_go_shared_layer_stays(images: ImageStore) -> None:
    base = layer({"base.txt": b"base\n"})
    top_a, top_b = layer({"a.txt": b"a\n"}), layer({"b.txt": b"b\n"})
    a, man_a, cfg_a = add_image(images, [base, top_a], "a", "app:a")
    b, man_b, cfg_b = add_image(images, [base, top_b], "b", "app:b")
    stray = images.content.write(b"nobody's blob")
    before = set(images.content.list())
    assert {man_a, cfg_a, digest_of(top_a[1]), digest_of(base[1]), stray} <= before

    images.remove("app:a")
    result = images.collect_garbage()

    after = set(images.content.list())
    assert set(result.deleted) == {man_a, cfg_a, digest_of(top_a[1]), stray}
    assert result.freed == sum(len(x) for x in (top_a[1], b"nobody's blob")) + len(image_docs([base, top_a], "a")[0]) \
        + len(image_docs([base, top_a], "a")[1])
    assert after == before - set(result.deleted)
    assert {man_b, cfg_b, digest_of(base[1]), digest_of(top_b[1])} <= after
    # the other image is whole: it loads and unpacks again from its blobs
    again = images.get("app:b")
    for chain in reversed(images.chain_ids(again)):
        images.snapshotter.remove(chain)
    images.unpack(again)
    assert images.collect_garbage().deleted == []


def test_dry_run_and_extra_roots(images: ImageStore) -> None:
    kept = images.content.write(b"a build cache blob")
    gone = images.content.write(b"garbage")
    images.add_gc_root(lambda: {kept})
    assert set(images.collect_garbage(dry_run=True).deleted) == {gone}
    assert images.content.has(gone)
    assert images.collect_garbage().deleted == [gone]
    assert images.content.has(kept) and not images.content.has(gone)


def test_roots_that_fail_delete_nothing(images: ImageStore) -> None:
    blob = images.content.write(b"garbage")

    def broken() -> set[str]:
        raise OSError("cache unreadable")

    images.add_gc_root(broken)
    with pytest.raises(OSError):
        images.collect_garbage()
    assert images.content.has(blob)


def test_image_with_missing_manifest_stops_collection(images: ImageStore) -> None:
    img, man, _ = add_image(images, [layer({"x": b"x"})], "x", "x:1")
    os.unlink(images.content.path(man))
    garbage = images.content.write(b"garbage")
    with pytest.raises(NoSuchBlob, match="not collecting garbage"):
        images.collect_garbage()
    assert images.content.has(garbage)


def test_lease_protects_commits_and_protected_blobs_until_released(images: ImageStore) -> None:
    content = images.content
    old = content.write(b"unreferenced but looked up")
    with content.leased() as lease:
        fresh = content.write(b"written under the lease")
        assert lease.protect([old, "sha256:" + "0" * 64]) == ["sha256:" + "0" * 64]
        with content.leased() as inner:  # nested: the same lease
            assert inner is lease
            also = content.write(b"nested write")
        assert content.leased_digests() >= {fresh, old, also}
        assert images.collect_garbage().deleted == []
        errors: list[BaseException] = []

        def delete_elsewhere() -> None:  # a thread starts with its own context: no current lease
            try:
                content.delete(fresh)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=delete_elsewhere)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], Conflict)
        assert lease.path.exists()
    assert content.leased_digests() == set()
    assert not list((content.root / "leases").iterdir())
    assert set(images.collect_garbage().deleted) == {fresh, old, also}


def test_stale_lease_of_a_killed_process_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "content"
    code = (
        "import sys, os, time\n"
        "from kobako.content import LocalContentStore\n"
        f"s = LocalContentStore({str(root)!r})\n"
        "with s.leased():\n"
        "    d = s.write(b'written by a process that dies')\n"
        "    print(d, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        digest = proc.stdout.readline().decode().strip()
        store = LocalContentStore(root, unleased_grace=0)
        assert store.collect(set).deleted == []  # the holder lives: kept
        assert store.leased_digests() == {digest}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(list((root / "leases").iterdir())) == 1  # left behind by the kill
    assert store.collect(set).deleted == [digest]
    assert not list((root / "leases").iterdir())


def test_ingest_of_dead_writers_is_cleaned(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path / "content", unleased_grace=0)
    live = store.writer()
    live.write(b"in progress")
    dead = tmp_path / "content" / "ingest" / "999999999-deadbeef"
    dead.write_bytes(b"left by a crash")
    result = store.collect(set)
    assert result.ingest_removed == 1 and not dead.exists()
    assert len(list((tmp_path / "content" / "ingest").iterdir())) == 1  # the live writer's
    live.write(b" and done")
    assert store.has(live.commit())
    live.abort()


def test_collection_waits_for_a_publish_and_keeps_it(images: ImageStore) -> None:
    """A leased writer lists its blob before the rename, both under the shared lock: a collection
    running meanwhile either sees the lease entry or runs entirely before the blob exists."""
    content = images.content
    results: list[list[str]] = []
    start = threading.Barrier(2)

    def collector() -> None:
        start.wait()
        for _ in range(30):
            results.append(images.collect_garbage().deleted)

    t = threading.Thread(target=collector)
    t.start()
    written = []
    with content.leased():
        start.wait()
        for i in range(30):
            written.append(content.write(f"blob {i}".encode()))
        # the lease must outlive the collector: once released, its unreferenced blobs may go
        t.join()
        assert all(content.has(d) for d in written)
    assert not any(set(r) & set(written) for r in results)


def test_unleased_commits_are_kept_for_a_grace_period(tmp_path: Path) -> None:
    """A writer that takes no lease (the builder between a layer and its cache record) is covered
    by an implicit lease that expires."""
    store = LocalContentStore(tmp_path / "content")
    kept = store.write(b"committed outside a lease")
    assert store.collect(set).deleted == []
    store.unleased_grace = 1e-9
    assert store.collect(set).deleted == [kept]


def test_add_refuses_layers_collected_before_it(images: ImageStore) -> None:
    base = layer({"f": b"1"})
    images.content.write(base[1])
    manifest, config = image_docs([base], "x")
    images.collect_garbage()  # nobody held the layer: it is gone
    with pytest.raises(NoSuchBlob):
        images.add(manifest, config)


def test_a_collector_killed_mid_sweep_blocks_nothing_and_loses_nothing(images: ImageStore, tmp_path: Path) -> None:
    """SIGKILL while holding the GC lock (mid-collection): the kernel drops the lock, the next
    collection runs, every image is still whole and the garbage still goes."""
    img, man, cfg = add_image(images, [layer({"keep": b"k"})], "k", "keep:1")
    garbage = images.content.write(b"garbage for the next run")
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from kobako.content._lease import gc_lock\n"
        f"with gc_lock(Path({str(images.content.root)!r}), exclusive=True):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
        blocked = threading.Event()

        def try_commit() -> None:
            with images.content.leased():  # needs the lock shared: waits for the "collector"
                images.content.write(b"written after the crash")
            blocked.set()

        t = threading.Thread(target=try_commit)
        t.start()
        assert not blocked.wait(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    t.join(10)
    assert blocked.is_set()
    result = images.collect_garbage()
    assert set(result.deleted) == {garbage, digest_of(b"written after the crash")}
    assert {man, cfg} <= set(images.content.list()) and images.get("keep:1").id == img.id


def test_get_inside_a_lease_protects_the_image_unless_told_not_to(images: ImageStore) -> None:
    img, manifest_digest, config_digest = add_image(images, [layer({"a": b"protected"})], "p", "p:1")
    other, _, _ = add_image(images, [layer({"b": b"only looked at"})], "q", "q:1")
    content = images.content
    with content.leased():
        assert images.get("p:1").id == img.id  # a build's base image: its blobs join the lease
        assert images.get("q:1", protect=False).id == other.id  # a build's result: only reported
        assert content.leased_digests() == {manifest_digest, config_digest, img.manifest["layers"][0]["digest"]}
        images.remove("p:1")
        images.remove("q:1")
        images.collect_garbage()
        assert content.has(config_digest) and content.has(img.manifest["layers"][0]["digest"])
        assert not content.has(other.id)
    images.collect_garbage()
    assert not content.has(config_digest)
