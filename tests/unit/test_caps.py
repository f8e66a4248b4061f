"""Capability arithmetic, the security steps' order (recorded), and HostConfig → OCI mapping tables."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from kobako.errors import InvalidArgument
from kobako.linux.fake import RecordingSyscalls
from kobako.runtime import caps, security
from kobako.runtime.caps import CAP_NUMBER, CAPABILITIES, DEFAULT_CAPS, DEFAULT_MASK, mask, normalize, tweak


# -- arithmetic ---------------------------------------------------------------------------------------
def test_default_set_is_dockers_mask() -> None:
    assert mask(DEFAULT_CAPS) == DEFAULT_MASK == 0x00000000A80425FB
    assert len(DEFAULT_CAPS) == 14 and caps.names(DEFAULT_MASK) == sorted(DEFAULT_CAPS, key=CAP_NUMBER.get)


def test_numbers_match_the_kernel_header() -> None:
    assert CAP_NUMBER["CAP_CHOWN"] == 0 and CAP_NUMBER["CAP_SYS_ADMIN"] == 21
    assert CAP_NUMBER["CAP_SYS_RESOURCE"] == 24 and CAP_NUMBER["CAP_CHECKPOINT_RESTORE"] == 40


@pytest.mark.parametrize(("given", "want"), [
    ("net_admin", "CAP_NET_ADMIN"), ("NET_ADMIN", "CAP_NET_ADMIN"), ("CAP_NET_ADMIN", "CAP_NET_ADMIN"),
    ("cap_sys_admin", "CAP_SYS_ADMIN"), ("all", "ALL"), ("ALL", "ALL"),
])
def test_normalize(given: str, want: str) -> None:
    assert normalize(given) == want


def test_unknown_capability() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        normalize("nope")


@pytest.mark.parametrize(("add", "drop", "want"), [
    ([], [], set(DEFAULT_CAPS)),
    (["SYS_ADMIN"], [], set(DEFAULT_CAPS) | {"CAP_SYS_ADMIN"}),
    ([], ["chown", "CAP_KILL"], set(DEFAULT_CAPS) - {"CAP_CHOWN", "CAP_KILL"}),
    ([], ["ALL"], set()),
    (["NET_ADMIN"], ["all"], {"CAP_NET_ADMIN"}),
    (["ALL"], [], set(CAPABILITIES)),
    (["ALL"], ["SYS_ADMIN"], set(CAPABILITIES) - {"CAP_SYS_ADMIN"}),
    (["CHOWN"], [], set(DEFAULT_CAPS)),  # already there: no duplicate
])
def test_tweak_like_moby(add: list[str], drop: list[str], want: set[str]) -> None:
    got = tweak(DEFAULT_CAPS, add, drop, CAPABILITIES)
    assert set(got) == want and len(got) == len(set(got))


def test_oci_capabilities_for_root_and_others() -> None:
    assert caps.oci_capabilities(["CAP_KILL"]) == {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                                    "permitted": ["CAP_KILL"]}
    assert caps.oci_capabilities(["CAP_KILL"], root=False) == {"bounding": ["CAP_KILL"]}


def test_host_bounding_parses_status() -> None:
    assert caps.host_bounding("Name:\tx\nCapBnd:\t000001fffeffffff\n") == 0x1FFFEFFFFFF
    assert caps.host_bounding() > 0


# -- the order of the final steps, recorded -----------------------------------------------------------
def _sec(nnp: bool, with_seccomp: bool = True) -> security.Security:
    spec: dict[str, Any] = {"process": {"capabilities": caps.oci_capabilities(DEFAULT_CAPS), "noNewPrivileges": nnp}}
    if with_seccomp:
        spec["linux"] = {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}
    return security.prepare(spec)


def test_without_no_new_privs_seccomp_loads_first_while_privileged() -> None:
    sys = RecordingSyscalls()
    sec = _sec(nnp=False)
    security.switch_user(sys, sec, 1000, 1000, [1000])
    security.before_exec(sys, sec)
    names = sys.names()
    assert names[0] == "seccomp_set_filter"
    # bounding drops, then keepcaps around the user switch, then capset; nothing after (no nnp)
    first_keep = names.index("set_keepcaps")
    assert set(names[1:first_keep]) == {"capbset_drop"}
    assert names[first_keep:] == ["set_keepcaps", "setgroups", "setgid", "setuid", "set_keepcaps", "capset"]
    dropped = {c.args[0] for c in sys.calls if c.name == "capbset_drop"}
    assert dropped == set(range(41)) - {CAP_NUMBER[c] for c in DEFAULT_CAPS}
    capset = next(c for c in sys.calls if c.name == "capset")
    assert capset.args == (DEFAULT_MASK, DEFAULT_MASK, 0)
    assert [c.args for c in sys.calls if c.name == "set_keepcaps"] == [(True,), (False,)]


def test_with_no_new_privs_seccomp_loads_last() -> None:
    sys = RecordingSyscalls()
    sec = _sec(nnp=True)
    security.switch_user(sys, sec, 0, 0, [])
    assert "seccomp_set_filter" not in sys.names()
    assert sys.names()[-2:] == ["capset", "set_no_new_privs"]
    security.before_exec(sys, sec)
    assert sys.names()[-1] == "seccomp_set_filter"


def test_capset_cannot_grant_what_the_init_does_not_hold() -> None:
    sys = RecordingSyscalls(permitted=((1 << 41) - 1) & ~(1 << CAP_NUMBER["CAP_SYS_RESOURCE"]))
    spec = {"process": {"capabilities": caps.oci_capabilities(CAPABILITIES)}}
    security.switch_user(sys, security.prepare(spec), 0, 0, [])
    capset = next(c for c in sys.calls if c.name == "capset")
    assert capset.args[0] == capset.args[1] == sys.permitted
    assert "capbset_drop" not in sys.names()


def test_no_capabilities_in_the_spec_leaves_them_alone() -> None:
    sys = RecordingSyscalls()
    security.switch_user(sys, security.prepare({"process": {}}), 0, 0, [])
    assert sys.names() == ["set_keepcaps", "setgroups", "setgid", "setuid", "set_keepcaps"]


def test_ambient_needs_permitted_and_inheritable() -> None:
    sys = RecordingSyscalls()
    spec = {"process": {"capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
                                         "effective": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                                         "ambient": ["CAP_KILL", "CAP_CHOWN"]}}}
    security.switch_user(sys, security.prepare(spec), 1000, 1000, [])
    assert [c.args for c in sys.calls if c.name == "ambient_raise"] == [(CAP_NUMBER["CAP_KILL"],)]


def test_a_bad_seccomp_profile_fails_in_prepare() -> None:
    from kobako.errors import RuntimeFailure

    with pytest.raises(RuntimeFailure, match="seccomp"):
        security.prepare({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_BOGUS"}}})


# -- HostConfig → OCI mapping ------------------------------------------------------------------------
def _spec(host_config: dict[str, Any], user: str = "") -> dict[str, Any]:
    from kobako.daemon.containers._spec import build_spec

    cfg = {"Cmd": ["true"], "Image": "busybox", "User": user}
    return build_spec("a" * 64, cfg, host_config, "/kobako")


def _all_caps_of_host() -> set[str]:
    return set(caps.names(caps.host_bounding()))


@pytest.mark.parametrize(("host_config", "bounding"), [
    ({}, set(DEFAULT_CAPS)),
    ({"CapAdd": ["SYS_ADMIN"]}, set(DEFAULT_CAPS) | {"CAP_SYS_ADMIN"}),
    ({"CapDrop": ["ALL"]}, set()),
    ({"CapAdd": ["NET_RAW"], "CapDrop": ["ALL"]}, {"CAP_NET_RAW"}),
    ({"Privileged": True}, None),  # every cap the host grants
    ({"CapAdd": ["ALL"]}, None),
])
def test_capabilities_mapping(host_config: dict[str, Any], bounding: set[str] | None) -> None:
    spec = _spec(host_config)
    want = _all_caps_of_host() if bounding is None else bounding & _all_caps_of_host()
    c = spec["process"]["capabilities"]
    assert set(c["bounding"]) == set(c["effective"]) == set(c["permitted"]) == want
    assert "inheritable" not in c and "ambient" not in c


def test_numeric_non_root_user_gets_bounding_only() -> None:
    assert set(_spec({}, user="1000:1000")["process"]["capabilities"]) == {"bounding"}
    assert set(_spec({}, user="0")["process"]["capabilities"]) == {"bounding", "effective", "permitted"}


@pytest.mark.parametrize(("opts", "seccomp", "nnp"), [
    ([], "default", False),
    (["seccomp=unconfined"], None, False),
    (["seccomp:unconfined"], None, False),
    (["no-new-privileges"], "default", True),
    (["no-new-privileges:true"], "default", True),
    (["no-new-privileges=false"], "default", False),
    (["apparmor=unconfined", "label=disable"], "default", False),
    ([f"seccomp={json.dumps({'defaultAction': 'SCMP_ACT_LOG'})}"], "custom", False),
])
def test_security_opt_mapping(opts: list[str], seccomp: str | None, nnp: bool) -> None:
    spec = _spec({"SecurityOpt": opts})
    assert spec["process"]["noNewPrivileges"] is nnp
    got = spec["linux"].get("seccomp")
    if seccomp is None:
        assert got is None
    elif seccomp == "default":
        assert got["defaultAction"] == "SCMP_ACT_ERRNO" and "SCMP_ARCH_X86_64" in got.get("architectures", [
            "SCMP_ARCH_X86_64"])
    else:
        assert got == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}


@pytest.mark.parametrize("host_config", [
    {"SecurityOpt": ["bogus"]}, {"SecurityOpt": ["seccomp={nope"]}, {"CapAdd": ["NOPE"]}, {"CapAdd": "SYS_ADMIN"},
    {"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}, {"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]},
    {"Devices": [{"PathOnHost": "/definitely/not/a/device"}]}, {"Devices": [{"PathOnHost": "/etc/hostname"}]},
    {"DeviceCgroupRules": ["x 1:2 rwm"]},
])
def test_invalid_host_config_is_invalid_argument(host_config: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        _spec(host_config)


def test_privileged_mapping() -> None:
    spec = _spec({"Privileged": True})
    linux = spec["linux"]
    assert "seccomp" not in linux
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]
    paths = {d["path"] for d in linux.get("devices", [])}
    assert "/dev/null" in paths and not any(p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)
    # a named profile still applies to a privileged container
    named = _spec({"Privileged": True, "SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']})
    assert named["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ALLOW"


def test_default_device_rules_survive_resources() -> None:
    spec = _spec({"Memory": 64 << 20})
    rules = spec["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"} and len(rules) > 5
    assert spec["linux"]["resources"]["memory"]["limit"] == 64 << 20
    assert spec["linux"]["maskedPaths"] and "/proc/kcore" in spec["linux"]["maskedPaths"]


def test_devices_and_rules_mapping() -> None:
    st = os.stat("/dev/null")
    spec = _spec({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}],
                  "DeviceCgroupRules": ["c 10:200 rwm", "b *:* m"]})
    assert spec["linux"]["devices"] == [{"path": "/dev/mynull", "type": "c", "major": os.major(st.st_rdev),
                                         "minor": os.minor(st.st_rdev), "fileMode": 0o666, "uid": 0, "gid": 0}]
    rules = spec["linux"]["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in rules
    assert rules[-2:] == [{"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
                          {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"}]


def test_ulimits_mapping() -> None:
    spec = _spec({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 10,
                                                                               "Hard": 20}]})
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
                                          {"type": "RLIMIT_NPROC", "soft": 10, "hard": 20}]


def test_warnings_name_what_the_host_lacks() -> None:
    from kobako.daemon.containers._security import security_warnings

    missing = set(CAPABILITIES) - _all_caps_of_host()
    warnings = security_warnings({"Privileged": True})
    if missing:
        assert len(warnings) == 1 and all(m in warnings[0] for m in missing)
    else:
        assert warnings == []
    assert security_warnings({}) == []


# -- CLI flags ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "want"), [
    ("/dev/x", {"PathOnHost": "/dev/x", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}),
    ("/dev/x:/dev/y", {"PathOnHost": "/dev/x", "PathInContainer": "/dev/y", "CgroupPermissions": "rwm"}),
    ("/dev/x:r", {"PathOnHost": "/dev/x", "PathInContainer": "/dev/x", "CgroupPermissions": "r"}),
    ("/dev/x:/dev/y:rw", {"PathOnHost": "/dev/x", "PathInContainer": "/dev/y", "CgroupPermissions": "rw"}),
])
def test_device_flag(value: str, want: dict[str, str]) -> None:
    from kobako.cli.commands._secopt import device

    assert device(value) == want


def test_ulimit_flag_and_seccomp_file(tmp_path: Any) -> None:
    from kobako.cli.commands._secopt import security_opt, ulimit
    from kobako.cli.main import CommandError

    assert ulimit("nofile=1024:2048") == {"Name": "nofile", "Soft": 1024, "Hard": 2048}
    assert ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}
    with pytest.raises(CommandError):
        ulimit("nofile=2:1")
    f = tmp_path / "p.json"
    f.write_text('{ "defaultAction" : "SCMP_ACT_ALLOW" }')
    assert security_opt(f"seccomp={f}") == 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'
    assert security_opt("seccomp=unconfined") == "seccomp=unconfined"
    assert security_opt("no-new-privileges") == "no-new-privileges"
    with pytest.raises(CommandError):
        security_opt(f"seccomp={tmp_path / 'missing.json'}")
