"""The build cache's in-memory side: the mirror of the ``steps`` table (``BuildCache``) and the
builder's memo of parsed configs. Both must answer exactly as the table and the content store
would: a record whose blobs are gone is not used, a pruned record is gone, and a memoized config
is never changed by a build that uses it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kobako.build import BuildCache, Builder, BuildOptions
from kobako.build import cache as cache_mod
from kobako.content import LocalContentStore
from kobako.images import ImageStore
from kobako.snapshots import CopySnapshotter


@pytest.fixture
def content(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(tmp_path / "content")


def _layer(content: LocalContentStore, data: bytes) -> dict[str, Any]:
    return {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(data),
            "digest": str(content.write(data))}


def test_hit_hands_out_copies(tmp_path: Path, content: LocalContentStore) -> None:
    cache = BuildCache(tmp_path / "cache.db", content)
    config = str(content.write(b'{"a":1}'))
    layers = [_layer(content, b"layer-1")]
    cache.put("k", config, layers)
    layers[0]["size"] = 999  # the caller's list is not the record
    hit = cache.get("k")
    assert hit is not None and hit.config_digest == config and hit.layers[0]["size"] == len(b"layer-1")
    hit.layers[0]["digest"] = "sha256:" + "0" * 64
    hit.layers.append({"digest": "x"})
    again = cache.get("k")
    assert again is not None and again.layers == [_layer(content, b"layer-1")]


def test_record_with_a_deleted_blob_is_not_used_and_is_dropped(tmp_path: Path, content: LocalContentStore) -> None:
    cache = BuildCache(tmp_path / "cache.db", content)
    config = str(content.write(b'{"b":2}'))
    base = _layer(content, b"base")
    new = _layer(content, b"new")
    cache.put("cfg", config, [base])
    cache.put("lay", str(content.write(b'{"c":3}')), [base, new])
    assert cache.get("cfg") is not None and cache.get("lay") is not None  # both mirrored now
    content.delete(config)
    assert cache.get("cfg") is None
    # the parent's layer counts as present when the caller says so (it pins it) ...
    content.delete(base["digest"])
    assert cache.get("lay", known={base["digest"]}) is not None
    # ... the step's own layer never does
    content.delete(new["digest"])
    assert cache.get("lay", known={base["digest"]}) is None
    assert cache.count() == 0  # both records dropped from the table, not only skipped
    fresh = BuildCache(tmp_path / "cache.db", content)
    assert fresh.get("cfg") is None and fresh.get("lay") is None


def test_prune_clears_the_mirror(tmp_path: Path, content: LocalContentStore) -> None:
    cache = BuildCache(tmp_path / "cache.db", content)
    config = str(content.write(b'{"d":4}'))
    layer = _layer(content, b"kept by an image")
    cache.put("k", config, [layer])
    assert cache.get("k") is not None
    keys, _ = cache.prune(in_use={config, layer["digest"]})  # blobs stay: an image uses them
    assert keys == ["k"] and content.has(config) and content.has(layer["digest"])
    assert cache.get("k") is None


def test_a_miss_asks_the_table(tmp_path: Path, content: LocalContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "_MIRROR", 3)
    cache = BuildCache(tmp_path / "cache.db", content)
    other = BuildCache(tmp_path / "cache.db", content)
    config = str(content.write(b'{"e":5}'))
    assert cache.get("late") is None
    other.put("late", config, [])  # written by another instance: the mirror does not have it
    hit = cache.get("late")
    assert hit is not None and hit.config_digest == config
    for i in range(10):  # more records than the mirror keeps: every one still found
        cache.put(f"k{i}", config, [])
    assert len(cache._mem) <= 3
    assert all(cache.get(f"k{i}") is not None for i in range(10))


# -- the builder's memo of parsed configs ---------------------------------------------------------

@pytest.fixture
def env(tmp_path: Path, content: LocalContentStore) -> dict[str, Any]:
    images = ImageStore(tmp_path / "images", content=content, snapshotter=CopySnapshotter(tmp_path / "snap"))
    cache = BuildCache(tmp_path / "cache.db", content)
    builder = Builder(images, cache, None, tmp_path / "tmp")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    return {"images": images, "builder": builder, "ctx": ctx, "content": content, "cache": cache}


def _build(env: dict[str, Any], dockerfile: str, **opts: Any) -> tuple[Any, str]:
    (env["ctx"] / "Dockerfile").write_text(dockerfile)
    out: list[str] = []
    image = asyncio.run(env["builder"].build(env["ctx"], BuildOptions(**opts),
                                             lambda o: out.append(o.get("stream", ""))))
    return image, "".join(out)


def _memo_matches_store(env: dict[str, Any]) -> None:
    memo = env["builder"]._configs
    assert memo, "nothing was memoized"
    for digest, config in memo.items():
        if not env["content"].has(digest):
            continue  # collected since: a cache lookup checks the blob before using its memo
        assert config == json.loads(env["content"].read(digest)), f"memoized config {digest} was changed"


def test_cached_steps_do_not_change_memoized_configs(env: dict[str, Any]) -> None:
    # MAINTAINER's cache record is the config before "author" is set; ONBUILD's trigger clearing and
    # ENV/LABEL's changes all start from a state whose config may be the memo's
    base_df = "FROM scratch\nCOPY hello.txt /\nENV A=1\nONBUILD ENV FROM_TRIGGER=yes\n"
    base, _ = _build(env, base_df, tags=["base"])
    df = "FROM base\nENV B=2\nMAINTAINER someone\nLABEL x=y\nCOPY hello.txt /again\n"
    first, out1 = _build(env, df)
    assert "Using cache" not in out1
    results = []
    for _ in range(3):
        again, out = _build(env, df)
        assert out.count("Using cache") == 5  # the ONBUILD trigger and the four steps
        results.append(again)
        _memo_matches_store(env)
        base_again, _ = _build(env, base_df, tags=["base"])
        assert base_again.id == base.id
    assert {r.id for r in results} == {first.id}
    cfg = first.config
    assert cfg["author"] == "someone" and cfg["config"]["Labels"] == {"x": "y"}
    assert "FROM_TRIGGER=yes" in cfg["config"]["Env"] and not cfg["config"].get("OnBuild")
    assert env["images"].get("base").config["config"]["OnBuild"] == ["ENV FROM_TRIGGER=yes"]


def test_step_whose_config_blob_was_collected_is_built_again(env: dict[str, Any]) -> None:
    df = "FROM scratch\nCOPY hello.txt /\nENV A=1\nENV B=2\n"
    first, _ = _build(env, df)
    _, out = _build(env, df)
    assert out.count("Using cache") == 3 and env["builder"]._configs
    # the ENV A step's config: neither the result nor a layer; collect it as a GC would
    memo_before = set(env["builder"]._configs)
    history = [h["created_by"] for h in first.config["history"]]
    assert history[-2].endswith("ENV A=1")
    rows = env["cache"]._mem.values()
    victims = [c for c, _ in rows if c != first.id and "A=1" in env["content"].read(c).decode()
               and "B=2" not in env["content"].read(c).decode()]
    assert len(victims) == 1 and victims[0] in memo_before
    env["content"].delete(victims[0])
    rebuilt, out = _build(env, df)
    # only the COPY: ENV A ran again (a new config, with a new "created"), so ENV B's key is new too
    assert out.count("Using cache") == 1
    assert rebuilt.id != first.id and rebuilt.config["config"]["Env"][-2:] == ["A=1", "B=2"]
    _memo_matches_store(env)
    _, out = _build(env, df)
    assert out.count("Using cache") == 3


def test_builder_prune_then_nothing_is_cached(env: dict[str, Any], tmp_path: Path) -> None:
    df = "FROM scratch\nCOPY hello.txt /\nENV A=1\n"
    _build(env, df)
    _, out = _build(env, df)
    assert out.count("Using cache") == 2
    env["cache"].prune(in_use=set())
    _, out = _build(env, df)
    assert "Using cache" not in out


def _last_used(path: Path, key: str) -> float:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return float(db.execute("SELECT last_used FROM steps WHERE key = ?", (key,)).fetchone()[0])
    finally:
        db.close()


def test_touch_is_written_behind(tmp_path: Path, content: LocalContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cache.db"
    cache = BuildCache(path, content)
    config = str(content.write(b'{"f":6}'))
    cache.put("a", config, [])
    cache.put("b", config, [])
    put_time = _last_used(path, "a")
    cache.touch(["a"])  # noted, not written: a cached build writes nothing
    assert _last_used(path, "a") == put_time
    monkeypatch.setattr(cache_mod, "_TOUCH_EVERY", 0.0)
    cache.touch(["b"])  # due: both written in one transaction
    assert _last_used(path, "a") > put_time and _last_used(path, "b") > put_time
    monkeypatch.setattr(cache_mod, "_TOUCH_EVERY", 3600.0)
    before = _last_used(path, "a")
    cache.touch(["a"])
    cache.close()  # close writes what is pending
    assert _last_used(path, "a") > before
    cache.touch(["b"])
    cache.prune(in_use=set())  # pending touches of pruned records are dropped, not written later
    cache.flush()
    assert cache.count() == 0


def test_parsed_dockerfiles_are_remembered_by_text(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from kobako.build import builder as builder_mod

    calls: list[bytes] = []
    real = builder_mod.parse

    def counting(text: bytes, filename: str = "Dockerfile") -> Any:
        calls.append(text)
        return real(text, filename)

    monkeypatch.setattr(builder_mod, "parse", counting)
    one, two = "FROM scratch\nENV A=1\n", "FROM scratch\nENV A=2\n"
    assert _build(env, one)[0].config["config"]["Env"][-1] == "A=1"
    assert _build(env, two)[0].config["config"]["Env"][-1] == "A=2"
    assert _build(env, one)[0].config["config"]["Env"][-1] == "A=1"
    assert len(calls) == 2  # the third build reused the first parse
    with pytest.raises(Exception, match="unknown instruction"):
        _build(env, "FROM scratch\nBOGUS x\n")  # a parse error is raised every time, never remembered
    with pytest.raises(Exception, match="unknown instruction"):
        _build(env, "FROM scratch\nBOGUS x\n")
    monkeypatch.setattr(builder_mod, "_PARSED_MAX", 10)
    _build(env, two)
    _build(env, "FROM scratch\nENV A=3\n")
    _build(env, "FROM scratch\nENV A=3\n")
    assert calls[-2:] == [b"FROM scratch\nENV A=3\n"] * 2  # longer than _PARSED_MAX: parsed each time


def test_mirrored_records_share_layer_descriptors_and_keep_their_key_order(
        tmp_path: Path, content: LocalContentStore) -> None:
    cache = BuildCache(tmp_path / "cache.db", content)
    config = str(content.write(b'{"g":7}'))
    base, top = _layer(content, b"base"), _layer(content, b"top")
    cache.put("one", config, [base])
    cache.put("two", config, [dict(base), top])
    assert cache._mem["one"][1][0] is cache._mem["two"][1][0]  # one dict for the shared layer
    other = BuildCache(tmp_path / "cache.db", content)  # filled from the table this time
    for c in (cache, other):
        hit = c.get("two")
        assert hit is not None and hit.layers == [base, top]
        assert [list(layer) for layer in hit.layers] == [["mediaType", "size", "digest"]] * 2
