"""--sysctl through the real docker CLI: namespaced parameters set inside, moby's defaults, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def test_defaults_and_a_user_sysctl(docker) -> None:  # type: ignore[no-untyped-def]
    host_somaxconn = Path("/proc/sys/net/core/somaxconn").read_text()
    res = docker("run", "--rm", "--sysctl", "net.core.somaxconn=1234", "--sysctl", "kernel.shmmni=2048",
                 "busybox", "sh", "-c",
                 "cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni"
                 " /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range")
    assert res.stdout.decode().split() == ["1234", "2048", "0", "0", "2147483647"]
    assert Path("/proc/sys/net/core/somaxconn").read_text() == host_somaxconn  # the host's is untouched


def test_an_unprivileged_user_binds_port_80(docker) -> None:  # type: ignore[no-untyped-def]
    res = docker("run", "--rm", "--user", "1000:1000", "--cap-drop", "ALL", "busybox", "sh", "-c",
                 "nc -l -p 80 & sleep 0.3; netstat -ltn | grep -c ':80 '")
    assert res.stdout.decode().strip() == "1"


def test_refusals_name_the_sysctl(docker, daemon) -> None:  # type: ignore[no-untyped-def]
    import docker as docker_sdk

    # The docker CLI refuses a non-namespaced sysctl itself; the API must too, for other clients.
    client = docker_sdk.DockerClient(base_url=daemon.host)
    try:
        with pytest.raises(docker_sdk.errors.APIError) as exc:
            client.containers.create("busybox", "true", sysctls={"kernel.pid_max": "1000"})
        assert exc.value.status_code == 400
        assert "'kernel.pid_max' is not in a separate kernel namespace" in str(exc.value)
    finally:
        client.close()
    res = docker("run", "--rm", "--network", "host", "--sysctl", "net.core.somaxconn=1", "busybox", "true",
                 check=False)
    assert res.returncode == 125 and "host's network namespace" in res.stderr.decode()


def test_kobako_cli_sysctl(daemon) -> None:  # type: ignore[no-untyped-def]
    res = daemon.kobako("run", "--rm", "--sysctl", "net.ipv4.tcp_keepalive_time=77", "busybox",
                        "cat", "/proc/sys/net/ipv4/tcp_keepalive_time")
    assert res.stdout.decode().strip() == "77"
    res = daemon.kobako("run", "--rm", "--sysctl", "vm.swappiness=1", "busybox", "true", check=False)
    assert res.returncode == 125 and b"sysctl 'vm.swappiness=1' is not allowed" in res.stderr
