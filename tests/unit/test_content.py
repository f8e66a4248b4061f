"""LocalContentStore: verified, atomic, concurrent-safe blob writes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.errors import DigestMismatch, InvalidArgument, NoSuchBlob
from kobako.ids import sha256_digest


@pytest.fixture
def store(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(tmp_path / "content")


def test_write_read_roundtrip(store: LocalContentStore) -> None:
    d = store.write(b"hello")
    assert d == sha256_digest(b"hello")
    assert store.has(d) and store.read(d) == b"hello" and store.size(d) == 5
    assert store.path(d) == store.root / "sha256" / d.removeprefix("sha256:")
    with store.open(d) as f:
        assert f.read() == b"hello"
    assert store.list() == [d]


def test_write_with_expected_digest(store: LocalContentStore) -> None:
    assert store.write(b"x", sha256_digest(b"x")) == sha256_digest(b"x")


def test_mismatch_leaves_nothing(store: LocalContentStore) -> None:
    wrong = sha256_digest(b"other")
    with pytest.raises(DigestMismatch) as info:
        store.write(b"data", wrong)
    assert wrong in str(info.value) and sha256_digest(b"data") in str(info.value)
    assert not store.has(wrong) and not store.has(sha256_digest(b"data"))
    assert list((store.root / "ingest").iterdir()) == []


def test_streaming_writer(store: LocalContentStore) -> None:
    with store.writer(sha256_digest(b"abcdef")) as w:
        w.write(b"abc")
        w.write(memoryview(b"def"))
        assert w.size == 6
        d = w.commit()
    assert store.read(d) == b"abcdef"


def test_writer_aborts_on_exception(store: LocalContentStore) -> None:
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert store.list() == [] and list((store.root / "ingest").iterdir()) == []


def test_uncommitted_writer_is_aborted(store: LocalContentStore) -> None:
    with store.writer() as w:
        w.write(b"never committed")
    assert store.list() == [] and list((store.root / "ingest").iterdir()) == []


def test_missing_blob_and_bad_digest(store: LocalContentStore) -> None:
    missing = sha256_digest(b"missing")
    for call in (store.read, store.size, store.delete, store.open):
        with pytest.raises(NoSuchBlob):
            call(missing)
    with pytest.raises(InvalidArgument):
        store.has("sha256:../../etc/passwd")
    with pytest.raises(InvalidArgument):
        store.writer("md5:abc")


def test_read_large_and_empty_blobs_and_has_is_files_only(store: LocalContentStore) -> None:
    big = os.urandom(3 << 20) + b"tail"
    d = store.write(big)
    assert store.read(d) == big and store.size(d) == len(big)
    empty = store.write(b"")
    assert store.read(empty) == b"" and store.has(empty)
    # a directory where a blob would be is not a blob
    odd = sha256_digest(b"a directory")
    os.mkdir(store.path(odd))
    assert not store.has(odd)


def test_delete(store: LocalContentStore) -> None:
    d = store.write(b"gone")
    store.delete(d)
    assert not store.has(d)


def test_concurrent_writers_of_same_blob(store: LocalContentStore) -> None:
    data = b"x" * 1_000_000
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with store.writer(sha256_digest(data)) as w:
                for i in range(0, len(data), 65536):
                    w.write(data[i : i + 65536])
                w.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.read(sha256_digest(data)) == data
    assert list((store.root / "ingest").iterdir()) == []


def test_writing_an_existing_blob_does_not_rewrite_it_and_leases_it(tmp_path: Path) -> None:


    store = LocalContentStore(tmp_path / "content")
    digest = store.write(b"config bytes")
    before = os.stat(store.path(digest))
    with store.leased() as lease:
        assert store.write(b"config bytes") == digest
        assert digest in lease.digests  # claimed for the operation in progress
    after = os.stat(store.path(digest))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not replaced
    assert list((tmp_path / "content" / "ingest").iterdir()) == []
    store.path(digest).unlink()  # gone (e.g. collected): written anew
    assert store.write(b"config bytes") == digest and store.read(digest) == b"config bytes"
