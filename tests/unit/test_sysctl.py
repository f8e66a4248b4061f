"""Namespaced sysctls: which namespace owns a parameter, what is refused, and moby's defaults."""

from __future__ import annotations

import pytest

from kobako.daemon.containers._spec import sysctls
from kobako.errors import InvalidArgument
from kobako.runtime.sysctl import check, path_of
from kobako.sysctls import namespace_of

ALL = [{"type": t} for t in ("ipc", "uts", "network", "pid", "mount")]


@pytest.mark.parametrize(("key", "ns"), [
    ("kernel.shmmax", "ipc"), ("kernel.sem", "ipc"), ("fs.mqueue.msg_max", "ipc"),
    ("net.ipv4.ip_forward", "network"), ("net.core.somaxconn", "network"), ("kernel.domainname", "uts"),
    ("kernel.pid_max", None), ("vm.swappiness", None), ("fs.file-max", None), ("kernel.shm", None),
])
def test_namespace_of(key: str, ns: str | None) -> None:
    assert namespace_of(key) == ns


@pytest.mark.parametrize(("sysctl", "namespaces", "message"), [
    ({"vm.swappiness": "10"}, ALL, "'vm.swappiness' is not in a separate kernel namespace"),
    ({"net.ipv4.ip_forward": "1"}, [{"type": "ipc"}], "not allowed in the host's network namespace"),
    ({"kernel.shmmax": "1"}, [{"type": "network"}], "not allowed in the host's IPC namespace"),
    ({"net/../../kernel/x": "1"}, ALL, "not a valid parameter name"),
    ({"net.ipv4..x": "1"}, ALL, "not a valid parameter name"),
    ({"net.core.somaxconn": "1\n2"}, ALL, "single-line"),
    ({"net.core.somaxconn": 5}, ALL, "single-line"),
])
def test_check_refuses(sysctl: dict[str, object], namespaces: list[dict[str, str]], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace(".", r"\.").replace("(", r"\(")):
        check(sysctl, namespaces)


def test_check_accepts_namespaced_ones() -> None:
    check({"net.ipv4.ip_local_port_range": "1024 65000", "kernel.shmmni": "8192", "fs.mqueue.queues_max": "9",
           "net/ipv4/tcp_syncookies": "1"}, ALL)


def test_path_of() -> None:
    assert path_of("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert path_of("net/ipv4/conf/eth0.100/forwarding") == "/proc/sys/net/ipv4/conf/eth0.100/forwarding"


def test_defaults_for_a_private_network_namespace() -> None:
    out = sysctls({"NetworkMode": "bridge"})
    assert out["net.ipv4.ip_unprivileged_port_start"] == "0"
    assert out["net.ipv4.ping_group_range"] == "0 2147483647"
    assert sysctls({"NetworkMode": "none"}) == out


def test_no_network_defaults_when_the_namespace_is_not_the_containers() -> None:
    assert sysctls({"NetworkMode": "host"}) == {}
    assert sysctls({"NetworkMode": "container:abc"}) == {}


def test_remapped_user_namespace_gets_no_ping_range() -> None:
    out = sysctls({"NetworkMode": "default"}, remap=object())
    assert "net.ipv4.ping_group_range" not in out and out["net.ipv4.ip_unprivileged_port_start"] == "0"
    assert "net.ipv4.ping_group_range" in sysctls({"NetworkMode": "default", "UsernsMode": "host"}, remap=object())


def test_user_sysctls_override_defaults_and_are_checked() -> None:
    out = sysctls({"Sysctls": {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shmmax": "4096"}})
    assert out["net.ipv4.ip_unprivileged_port_start"] == "80" and out["kernel.shmmax"] == "4096"
    with pytest.raises(InvalidArgument, match="host's network namespace"):
        sysctls({"NetworkMode": "host", "Sysctls": {"net.core.somaxconn": "1"}})
    with pytest.raises(InvalidArgument, match="Sysctls"):
        sysctls({"Sysctls": ["net.core.somaxconn=1"]})
