"""-v / --mount / --tmpfs / --volumes-from parsing, as moby's linux parser and registerMountPoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.daemon.containers._mounts import mounts_view
from kobako.daemon.containers._mountspec import (
    MountPoint,
    merge_into_spec,
    oci_mount,
    parse_bind,
    parse_mount,
    parse_volumes_from,
    plan,
    should_copy_up,
    tmpfs_mount_options,
    tmpfs_oci_mounts,
    valid_mode,
)
from kobako.errors import InvalidArgument


@pytest.mark.parametrize(("raw", "type_", "name", "source", "dest", "rw", "mode"), [
    ("vol:/data", "volume", "vol", "", "/data", True, "z"),
    ("vol:/data:ro", "volume", "vol", "", "/data", False, "ro"),
    ("vol:/data/:rw,nocopy", "volume", "vol", "", "/data", True, "rw,nocopy"),
    ("/data", "volume", "", "", "/data", True, "z"),
    ("/host/dir:/in", "bind", "", "/host/dir", "/in", True, ""),
    ("/host/dir/:/in:ro,z", "bind", "", "/host/dir", "/in", False, "ro,z"),
    ("/h:/in:rshared", "bind", "", "/h", "/in", True, "rshared"),
])
def test_parse_bind(raw: str, type_: str, name: str, source: str, dest: str, rw: bool, mode: str) -> None:
    mp = parse_bind(raw)
    assert (mp.type, mp.name, mp.source, mp.destination, mp.rw, mp.mode) == (type_, name, source, dest, rw, mode)
    if type_ == "bind":
        assert mp.propagation == ("rshared" if "rshared" in raw else "rprivate") and mp.create_source
    else:
        assert mp.named == bool(name) and mp.copy_data == ("nocopy" not in raw)


@pytest.mark.parametrize(("raw", "message"), [
    ("/foo:ro", "invalid volume specification: '/foo:ro'"),
    ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
    ("vol:/data:", "invalid volume specification: 'vol:/data:'"),
    ("vol:/data:rx", "invalid mode: rx"),
    ("vol:/data:ro,rw", "invalid mode: ro,rw"),
    ("vol:rel", "invalid mount path: 'rel' mount path must be absolute"),
    ("vol:/", "destination can't be '/'"),
    ("/h:/in:nocopy", "invalid mode: nocopy"),
    ("vol:/d:shared", "field BindOptions must not be specified"),
])
def test_parse_bind_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_bind(raw)


def test_valid_mode() -> None:
    assert valid_mode("") and valid_mode("ro,z,rslave,nocopy") and valid_mode("delegated")
    assert not valid_mode("z,Z") and not valid_mode("private,shared") and not valid_mode("bogus")


def test_parse_mount_kinds(tmp_path: Path) -> None:
    v = parse_mount({"Type": "volume", "Source": "vol", "Target": "/d", "ReadOnly": True,
                     "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                                       "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}})
    assert (v.name, v.rw, v.copy_data, v.volume_labels, v.volume_opts, v.mode) == (
        "vol", False, False, {"a": "b"}, {"type": "tmpfs"}, "z")
    b = parse_mount({"Type": "bind", "Source": str(tmp_path), "Target": "/b",
                     "BindOptions": {"Propagation": "rslave"}})
    assert (b.type, b.source, b.propagation, b.mode, b.create_source) == ("bind", str(tmp_path), "rslave", "", False)
    t = parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 2 * 1024 * 1024, "Mode": 0o1770}})
    assert t.tmpfs_options == ("size=2m", "mode=1770")
    anon = parse_mount({"Type": "volume", "Target": "/anon"})
    assert (anon.name, anon.named, anon.copy_data) == ("", False, True)


@pytest.mark.parametrize(("mount", "message"), [
    ({"Type": "bind", "Source": "/no/such/kobako/dir", "Target": "/b"},
     'invalid mount config for type "bind": bind source path does not exist: /no/such/kobako/dir'),
    ({"Type": "bind", "Target": "/b"}, 'invalid mount config for type "bind": field Source must not be empty'),
    ({"Type": "tmpfs", "Source": "x", "Target": "/t"},
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ({"Type": "volume", "Target": "/v", "ReadOnly": True},
     "must not set ReadOnly mode when using anonymous volumes"),
    ({"Type": "volume", "Source": "v"}, "field Target must not be empty"),
    ({"Type": "npipe", "Source": "v", "Target": "/x"}, "mount type unknown"),
    ({"Type": "volume", "Source": "v", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
     "field BindOptions must not be specified"),
])
def test_parse_mount_errors(mount: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as exc:
        parse_mount(mount)
    assert message in str(exc.value)


def test_tmpfs_options() -> None:
    assert tmpfs_mount_options({"SizeBytes": 1000}, True) == ("size=1000", "ro")
    assert tmpfs_mount_options({"SizeBytes": 3 * 1024**3}, False) == ("size=3g",)
    assert tmpfs_oci_mounts({"/run/": "size=1m,exec"}) == [
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "size=1m", "exec"]}]


def test_volumes_from() -> None:
    assert parse_volumes_from("web") == ("web", "")
    assert parse_volumes_from("web:ro") == ("web", "ro")
    with pytest.raises(InvalidArgument):
        parse_volumes_from("web:rx")


def test_plan_order_duplicates_and_image_volumes() -> None:
    other = [MountPoint(type="volume", destination="/shared", name="s", driver="local", copy_data=True),
             MountPoint(type="bind", destination="/cfg", source="/etc", propagation="rprivate")]
    points = plan({"Volumes": {"/data": {}, "/shared": {}, "/tmp/x": {}}},
                  {"Binds": ["named:/cfg"], "Tmpfs": {"/tmp/x": ""}}, [(other, "ro")])
    by = {p.destination: p for p in points}
    assert set(by) == {"/shared", "/cfg", "/data"}
    assert by["/shared"].rw is False and by["/shared"].copy_data is False and by["/shared"].named  # from another
    assert by["/cfg"].type == "volume" and by["/cfg"].name == "named"  # -v overrides --volumes-from
    assert by["/data"].name == "" and by["/data"].copy_data and not by["/data"].named  # the image's VOLUME
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /d"):
        plan({}, {"Binds": ["a:/d", "b:/d/"]}, [])
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /d"):
        plan({}, {"Binds": ["a:/d"], "Mounts": [{"Type": "volume", "Source": "b", "Target": "/d"}]}, [])
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /t"):
        plan({}, {"Binds": ["a:/t"], "Tmpfs": {"/t": ""}}, [])


def test_copy_up_decision() -> None:
    assert should_copy_up(parse_bind("vol:/d"))
    assert should_copy_up(parse_bind("/anon"))
    assert not should_copy_up(parse_bind("vol:/d:nocopy"))
    assert not should_copy_up(parse_bind("/h:/d"))  # binds never
    assert not should_copy_up(parse_mount({"Type": "tmpfs", "Target": "/t"}))
    assert not should_copy_up(parse_mount({"Type": "volume", "Source": "v", "Target": "/d",
                                           "VolumeOptions": {"NoCopy": True}}))


def test_oci_mounts_and_spec_merge() -> None:
    ro = oci_mount(parse_bind("/h:/in:ro"), "/h")
    assert ro == {"destination": "/in", "type": "bind", "source": "/h", "options": ["rbind", "ro", "rprivate"]}
    defaults = [{"destination": "/proc"}, {"destination": "/dev"}, {"destination": "/dev/shm"}]
    merged = merge_into_spec(defaults, [{"destination": "/a/b/c"}, {"destination": "/dev/shm"}, {"destination": "/a"}])
    assert [m["destination"] for m in merged] == ["/proc", "/dev", "/a", "/dev/shm", "/a/b/c"]


def test_record_roundtrip_and_inspect_view() -> None:
    mp = MountPoint(type="volume", destination="/d", name="v", source="/var/lib/kobako/volumes/v/_data",
                    driver="local", mode="z", tmpfs_options=("a",))
    assert MountPoint.from_json(mp.to_json()) == mp
    assert mounts_view([mp.to_json(), parse_bind("/h:/in:ro").to_json()]) == [
        {"Type": "volume", "Name": "v", "Source": "/var/lib/kobako/volumes/v/_data", "Destination": "/d",
         "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": "/h", "Destination": "/in", "Mode": "ro", "RW": False, "Propagation": "rprivate"},
    ]
