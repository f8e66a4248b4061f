"""The local volume store on a temporary tree (host mounts recorded by a fake), copy-up, CLI flags."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kobako.errors import Conflict, InvalidArgument, NotFound
from kobako.runtime.copyup import copy_up
from kobako.volumes import ANONYMOUS_LABEL, LocalVolumeStore, validate_opts


class FakeMounts:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        self.calls.append(("mount", source, target, fstype, flags, data))

    def umount2(self, target: str, flags: int = 0) -> None:
        self.calls.append(("umount2", target, flags))


def test_create_get_list_remove(tmp_path: Path) -> None:
    store = LocalVolumeStore(tmp_path / "volumes")
    v, created = store.create("data", labels={"a": "1"})
    assert created and (tmp_path / "volumes/data/_data").is_dir()
    again, created = store.create("data")
    assert not created and again == v  # create is idempotent, as docker's
    assert json.loads((tmp_path / "volumes/data/volume.json").read_text())["Labels"] == {"a": "1"}
    api = v.to_api()
    assert (api["Name"], api["Driver"], api["Scope"], api["Labels"], api["Options"]) == ("data", "local", "local",
                                                                                         {"a": "1"}, None)
    assert api["Mountpoint"] == str(tmp_path / "volumes/data/_data") and api["CreatedAt"].endswith("Z")
    (v.mountpoint / "f").write_bytes(b"x" * 5000)
    assert store.size("data") >= 5000
    # a new store (a daemon restart) finds it; a half-made one (no record) is swept
    (tmp_path / "volumes/half/_data").mkdir(parents=True)
    store2 = LocalVolumeStore(tmp_path / "volumes")
    assert [x.name for x in store2.list()] == ["data"] and not (tmp_path / "volumes/half").exists()
    store2.remove("data")
    assert not (tmp_path / "volumes/data").exists()
    with pytest.raises(NotFound, match="get data: no such volume"):
        store2.get("data")


def test_names_and_options(tmp_path: Path) -> None:
    store = LocalVolumeStore(tmp_path / "v")
    for bad in ("a", "-x", "a/b", "a b"):
        with pytest.raises(InvalidArgument, match="includes invalid characters for a local volume name"):
            store.create(bad)
    with pytest.raises(InvalidArgument, match='invalid option key: "foo"'):
        validate_opts({"foo": "1"})
    with pytest.raises(InvalidArgument, match='missing required option: "device"'):
        validate_opts({"type": "tmpfs"})
    with pytest.raises(InvalidArgument, match='missing required option: "type"'):
        validate_opts({"o": "size=1m", "device": "tmpfs"})
    validate_opts({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"})
    with pytest.raises(NotFound, match="plugin"):
        store.create("x1", driver="nfs-plugin")


def test_tmpfs_volume_is_mounted_by_first_user_and_unmounted_by_last(tmp_path: Path) -> None:
    fake = FakeMounts()
    store = LocalVolumeStore(tmp_path / "v", syscalls=fake)
    v, _ = store.create("tv", opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m,noexec"})
    assert v.needs_host_mount
    assert store.acquire("tv", "c1") == str(v.mountpoint)
    store.acquire("tv", "c2")
    assert fake.calls == [("mount", "tmpfs", str(v.mountpoint), "tmpfs", 8, "size=1m")]
    with pytest.raises(Conflict, match=r"remove tv: volume is in use - \[c1, c2\]"):
        store.remove("tv")
    assert not store.release("tv", "c1")
    assert store.release("tv", "c2")
    assert fake.calls[-1] == ("umount2", str(v.mountpoint), 2)
    assert store.reconcile() == []


def test_bind_volume_hands_out_its_device(tmp_path: Path) -> None:
    fake = FakeMounts()
    store = LocalVolumeStore(tmp_path / "v", syscalls=fake)
    v, _ = store.create("bv", opts={"type": "none", "o": "bind,ro", "device": str(tmp_path)})
    assert v.is_bind and not v.needs_host_mount and v.bind_options() == ["ro"]
    assert store.acquire("bv", "c1") == str(tmp_path)
    store.release("bv", "c1")
    assert fake.calls == []  # performed in the container's namespace only
    plain, _ = store.create("pv")
    assert store.acquire("pv", "c1") == str(plain.mountpoint) and fake.calls == []


def test_anonymous_label(tmp_path: Path) -> None:
    store = LocalVolumeStore(tmp_path / "v")
    v, _ = store.create("0" * 64, labels={ANONYMOUS_LABEL: ""})
    assert v.anonymous and not store.create("named")[0].anonymous


def test_copy_up_into_empty_volume(tmp_path: Path) -> None:
    src = tmp_path / "rootfs/data"
    (src / "sub").mkdir(parents=True)
    (src / "seed").write_text("seed\n")
    os.chmod(src / "seed", 0o640)
    os.link(src / "seed", src / "hard")
    os.symlink("/etc/shadow", src / "link")  # copied as a link, never followed
    os.chown(src / "sub", 1234, 4321)
    os.chmod(src, 0o750)
    vol = tmp_path / "vol"
    vol.mkdir()
    assert copy_up(str(src), str(vol))
    assert (vol / "seed").read_text() == "seed\n" and stat.S_IMODE((vol / "seed").stat().st_mode) == 0o640
    assert (vol / "hard").stat().st_ino == (vol / "seed").stat().st_ino
    assert os.readlink(vol / "link") == "/etc/shadow"
    assert ((vol / "sub").stat().st_uid, (vol / "sub").stat().st_gid) == (1234, 4321)
    assert stat.S_IMODE(vol.stat().st_mode) == 0o750  # the volume's root takes the image dir's mode
    # a volume that has content is left alone; a target that is not a directory copies nothing
    (src / "new").write_text("n")
    assert not copy_up(str(src), str(vol)) and not (vol / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not copy_up(str(src / "seed"), str(empty)) and not copy_up(str(tmp_path / "nope"), str(empty))


def test_cli_mount_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kobako.cli.commands._mountopt import parse_mount, split_volumes, tmpfs_map
    from kobako.cli.main import CommandError

    monkeypatch.chdir(tmp_path)
    assert split_volumes(["/anon", "vol:/d:ro", "./rel:/r", "/h:/h2"]) == (
        ["vol:/d:ro", f"{tmp_path}/rel:/r", "/h:/h2"], {"/anon": {}})
    assert tmpfs_map(["/t:size=1m,mode=1777", "/u"]) == {"/t": "size=1m,mode=1777", "/u": ""}
    assert parse_mount("type=volume,src=v,dst=/d,readonly,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
                       "volume-label=a=b,volume-nocopy") == {
        "Type": "volume", "Source": "v", "Target": "/d", "ReadOnly": True,
        "VolumeOptions": {"DriverConfig": {"Options": {"type": "tmpfs", "device": "tmpfs"}}, "Labels": {"a": "b"},
                          "NoCopy": True}}
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770") == {
        "Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 64 * 1024**2, "Mode": 0o1770}}
    assert parse_mount('type=bind,"source=/a,b",target=/b,bind-propagation=rslave') == {  # CSV quoting
        "Type": "bind", "Source": "/a,b", "Target": "/b", "BindOptions": {"Propagation": "rslave"}}
    for bad, msg in (("type=tmpfs", "target is required"), ("type=bind,target=/t,tmpfs-size=1m",
                     "cannot mix 'tmpfs-*' options with mount type 'bind'"), ("target=/t,bogus",
                     "invalid field 'bogus' must be a key=value pair"), ("target=/t,foo=1", "unexpected key 'foo'"),
                     ("type=tmpfs,target=/t,tmpfs-mode=9", "invalid value for tmpfs-mode: 9")):
        with pytest.raises(CommandError) as exc:
            parse_mount(bad)
        assert msg in str(exc.value) and f'invalid argument "{bad}" for "--mount" flag' in str(exc.value)


def test_init_copies_up_annotated_volume_mounts_only(tmp_path: Path) -> None:
    """prepare_rootfs copies the rootfs' content (symlinks resolved inside it) before binding the volume."""
    from kobako.linux.fake import RecordingSyscalls
    from kobako.runtime import default_spec
    from kobako.runtime.rootfs import COPY_UP_ANNOTATION, prepare_rootfs

    rootfs = tmp_path / "rootfs"
    (rootfs / "srv/data").mkdir(parents=True)
    (rootfs / "srv/data/seed").write_text("s")
    (rootfs / "data").symlink_to("/srv/data")  # resolved inside the rootfs, not on the host
    (rootfs / "other").mkdir()
    (rootfs / "other/x").write_text("x")
    vol, skip = tmp_path / "vol", tmp_path / "skip"
    vol.mkdir()
    skip.mkdir()
    mounts = [{"destination": "/data", "type": "bind", "source": str(vol), "options": ["rbind"]},
              {"destination": "/other", "type": "bind", "source": str(skip), "options": ["rbind"]}]
    spec = default_spec(["sh"], mounts=mounts, annotations={COPY_UP_ANNOTATION: '["/data"]'})
    rec = RecordingSyscalls()
    prepare_rootfs(rec, spec, tmp_path)
    assert (vol / "seed").read_text() == "s" and os.listdir(skip) == []
    binds = [c.args[:2] for c in rec.calls if c.name == "mount" and c.args[0] in (str(vol), str(skip))]
    assert binds == [(str(vol), f"{rootfs}/srv/data"), (str(skip), f"{rootfs}/other")]
