"""--userns-remap: /etc/subuid parsing, id-map computation, spec and mount-option translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.daemon import _userns as d
from kobako.daemon.containers._spec import build_spec
from kobako.errors import InvalidArgument, RuntimeFailure
from kobako.runtime import userns as r
from kobako.runtime.rootfs import remap_mount_options

SUBUID = """\
# comment
alice:100000:65536
bob:165536:65536
alice:300000:1000
4231072:500000:65536
broken line
carol:x:10
dave:700000:0
"""


def test_parse_subid_by_name_in_file_order() -> None:
    assert d.parse_subid(SUBUID, "alice", None) == [(100000, 65536), (300000, 1000)]
    assert d.parse_subid(SUBUID, "bob", 1001) == [(165536, 65536)]


def test_parse_subid_by_number_and_skips_malformed_and_empty_ranges() -> None:
    assert d.parse_subid(SUBUID, "4231072", 4231072) == [(500000, 65536)]
    assert d.parse_subid(SUBUID, "nobody-here", 4231072) == [(500000, 65536)]
    assert d.parse_subid(SUBUID, "carol", None) == []
    assert d.parse_subid(SUBUID, "dave", None) == []


def test_id_maps_are_consecutive_from_zero() -> None:
    assert d.id_maps([(100000, 65536), (300000, 1000)]) == ((0, 100000, 65536), (65536, 300000, 1000))
    assert d.id_maps([]) == ()


def test_next_free_start_is_after_every_range_and_at_least_100000() -> None:
    assert d.next_free_start("") == 100000
    assert d.next_free_start("x:1000:10\n") == 100000
    assert d.next_free_start(SUBUID) == 700000  # dave:700000:0 ends there


def test_add_range_if_missing(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    f.write_text("alice:100000:65536")  # no trailing newline
    assert d.add_range_if_missing(f, "dockremap")
    assert f.read_text() == "alice:100000:65536\ndockremap:165536:65536\n"
    assert not d.add_range_if_missing(f, "dockremap")  # idempotent
    assert d.parse_subid(f.read_text(), "dockremap", None) == [(165536, 65536)]
    g = tmp_path / "missing"
    assert d.add_range_if_missing(g, "dockremap") and g.read_text() == "dockremap:100000:65536\n"


@pytest.fixture
def subid_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    u, g = tmp_path / "subuid", tmp_path / "subgid"
    u.write_text(SUBUID)
    g.write_text("4231072:600000:65536\n4231073:700000:10\nnogroup:800000:100\n")
    monkeypatch.setenv("KOBAKO_SUBUID_FILE", str(u))
    monkeypatch.setenv("KOBAKO_SUBGID_FILE", str(g))
    return u, g


def test_resolve_numeric_uid_gid(subid_files: tuple[Path, Path]) -> None:
    remap = d.resolve("4231072:4231072")
    assert remap.uid_maps == ((0, 500000, 65536),) and remap.gid_maps == ((0, 600000, 65536),)
    assert (remap.root_uid, remap.root_gid) == (500000, 600000)
    assert remap.oci() == {"uidMappings": [{"containerID": 0, "hostID": 500000, "size": 65536}],
                           "gidMappings": [{"containerID": 0, "hostID": 600000, "size": 65536}]}
    # the group defaults to the user's (here: the same number)
    assert d.resolve("4231072").gid_maps == ((0, 600000, 65536),)


def test_resolve_errors(subid_files: tuple[Path, Path]) -> None:
    with pytest.raises(InvalidArgument, match="no subuid ranges found for user '4231099'"):
        d.resolve("4231099:4231072")
    with pytest.raises(InvalidArgument, match="no subgid ranges found for group '4231099'"):
        d.resolve("4231072:4231099")
    with pytest.raises(InvalidArgument, match="remapping to root is not allowed"):
        d.resolve("0:0")
    with pytest.raises(InvalidArgument, match="does not exist"):
        d.resolve("no-such-user-kobako")
    with pytest.raises(InvalidArgument, match="needs a value"):
        d.resolve("")


def test_resolve_by_names(subid_files: tuple[Path, Path]) -> None:
    u, _g = subid_files
    u.write_text("nobody:900000:65536\n")
    remap = d.resolve("nobody:nogroup")
    assert (remap.user, remap.group) == ("nobody", "nogroup")
    assert remap.uid_maps == ((0, 900000, 65536),) and remap.gid_maps == ((0, 800000, 100),)


REMAP = d.Remap("u", "g", ((0, 100000, 65536),), ((0, 200000, 65536),))


def test_check_container_modes() -> None:
    assert d.check_container({}, REMAP) is True
    assert d.check_container({"UsernsMode": "private"}, REMAP) is True
    assert d.check_container({"UsernsMode": "host"}, REMAP) is False
    assert d.check_container({}, None) is False
    assert d.check_container({"Privileged": True, "UsernsMode": "host"}, REMAP) is False
    with pytest.raises(InvalidArgument, match="invalid USER mode: bogus"):
        d.check_container({"UsernsMode": "bogus"}, REMAP)
    with pytest.raises(InvalidArgument, match="privileged mode is incompatible with user namespaces"):
        d.check_container({"Privileged": True}, REMAP)
    with pytest.raises(InvalidArgument, match="cannot share the host's network namespace"):
        d.check_container({"NetworkMode": "host"}, REMAP)
    with pytest.raises(InvalidArgument, match="cannot share the host PID namespace"):
        d.check_container({"PidMode": "host"}, REMAP)


def _cfg() -> dict[str, object]:
    return {"Cmd": ["true"], "Env": [], "Image": "busybox"}


def test_build_spec_adds_the_user_namespace_and_maps() -> None:
    spec = build_spec("c" * 64, _cfg(), {}, "/kobako", REMAP)
    assert {"type": "user"} in spec["linux"]["namespaces"]
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert spec["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 200000, "size": 65536}]
    # the default capabilities are still there: they count inside the user namespace
    assert "CAP_NET_BIND_SERVICE" in spec["process"]["capabilities"]["effective"]
    host = build_spec("c" * 64, _cfg(), {"UsernsMode": "host"}, "/kobako", REMAP)
    assert not any(n["type"] == "user" for n in host["linux"]["namespaces"]) and "uidMappings" not in host["linux"]
    plain = build_spec("c" * 64, _cfg(), {}, "/kobako")
    assert not any(n["type"] == "user" for n in plain["linux"]["namespaces"])


def test_runtime_parse_maps_and_lookups() -> None:
    maps = r.parse_maps([{"containerID": 0, "hostID": 100000, "size": 1000},
                         {"containerID": 1000, "hostID": 300000, "size": 10}])
    assert maps == ((0, 100000, 1000), (1000, 300000, 10))
    assert r.format_map(maps) == "0 100000 1000\n1000 300000 10\n"
    assert [r.to_host(i, maps) for i in (0, 999, 1000, 1009, 1010)] == [100000, 100999, 300000, 300009, None]
    assert [r.to_container(h, maps) for h in (100000, 300005, 99999)] == [0, 1005, None]
    for bad in ({"containerID": 0, "hostID": 1}, {"containerID": -1, "hostID": 1, "size": 1},
                {"containerID": 0, "hostID": 1, "size": 0}, {"containerID": "x", "hostID": 1, "size": 1}):
        with pytest.raises(RuntimeFailure):
            r.parse_maps([bad])


def test_new_user_namespace_needs_maps() -> None:
    spec = {"linux": {"namespaces": [{"type": "user"}]}}
    with pytest.raises(RuntimeFailure, match="needs linux.uidMappings"):
        r.prepare(spec)
    assert r.prepare({"linux": {"namespaces": [{"type": "pid"}]}}) is None


def test_mount_options_are_translated_to_host_ids() -> None:
    uids, gids = ((0, 100000, 65536),), ((0, 200000, 65536),)
    devpts = {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}
    out = remap_mount_options(devpts, uids, gids)
    assert out["options"] == ["nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=200005"]
    tmpfs = {"destination": "/t", "type": "tmpfs", "options": ["uid=1000", "gid=1000", "size=1m"]}
    assert remap_mount_options(tmpfs, uids, gids)["options"] == ["uid=101000", "gid=201000", "size=1m"]
    plain = {"destination": "/x", "type": "bind", "source": "/x", "options": ["rbind"]}
    assert remap_mount_options(plain, uids, gids) is plain
    with pytest.raises(OSError, match="does not map"):
        remap_mount_options({"destination": "/t", "options": ["uid=70000"]}, uids, gids)


def test_sandbox_helper_arguments_round_trip() -> None:
    """kobakod's command line for the netns helper, and the helper's parsing of it."""
    from kobako.linux import _userns as helper

    argv = r.helper_argv("/run/x/netns/c1", ((0, 100000, 1000), (1000, 300000, 10)), ((0, 200000, 65536),))
    assert argv[1:3] == ["-I", "-S"] and argv[3] == helper.__file__ and argv[4:6] == ["netns", "/run/x/netns/c1"]
    assert helper._map_arg(argv[6]) == "0 100000 1000\n1000 300000 10\n"
    assert helper._map_arg(argv[7]) == "0 200000 65536\n"
    for bad in ("", "0 100000", "0 x 1", "0 1 2,3"):
        with pytest.raises(ValueError):
            helper._map_arg(bad)
    assert helper.main(["netns", "/nonexistent/x", "0 1", "0 1 2"]) == 1
    assert helper.main(["bogus"]) == 2
