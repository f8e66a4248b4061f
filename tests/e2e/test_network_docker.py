"""The real docker CLI against kobakod: networks, DNS between containers, published ports."""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import DockerRun

HTTPD = "mkdir -p /www && echo hello-docker > /www/index.html && exec httpd -f -p 8080 -h /www"


def out(res: object) -> str:
    return str(res.stdout.decode()).strip()  # type: ignore[attr-defined]


@pytest.fixture
def netname(docker: DockerRun) -> Iterator[str]:
    n = f"dnet-{secrets.token_hex(3)}"
    yield n
    ids = out(docker("ps", "-aq", "--filter", f"label=e2e-net={n}", check=False)).split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    docker("network", "rm", n, check=False)


def test_docker_network_lifecycle_and_dns(docker: DockerRun, netname: str) -> None:
    nid = out(docker("network", "create", "--label", "purpose=e2e", netname))
    assert len(nid) == 64
    assert netname in out(docker("network", "ls", "--format", "{{.Name}}")).split()
    info = json.loads(out(docker("network", "inspect", netname)))[0]
    assert info["Driver"] == "bridge" and info["Labels"] == {"purpose": "e2e"} and info["IPAM"]["Config"]
    srv = f"srv-{secrets.token_hex(3)}"
    docker("run", "-d", "--name", srv, "--label", f"e2e-net={netname}", "--network", netname, "--network-alias",
           "backend", "busybox", "sh", "-c", HTTPD)
    script = ("for i in $(seq 50); do wget -qO- http://backend:8080/ && break; sleep 0.1; done; "
              f"wget -qO- http://{srv}:8080/")
    res = docker("run", "--rm", "--label", f"e2e-net={netname}", "--network", netname, "busybox", "sh", "-c", script)
    assert out(res).splitlines() == ["hello-docker", "hello-docker"]
    ip = out(docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{netname}\").IPAddress}}}}", srv))
    assert ip.startswith("10.213.")
    res = docker("network", "rm", netname, check=False)
    assert res.returncode != 0
    docker("rm", "-f", srv)
    docker("network", "rm", netname)
    assert netname not in out(docker("network", "ls", "--format", "{{.Name}}")).split()


def test_docker_publish_and_port(docker: DockerRun) -> None:
    name = f"pub-{secrets.token_hex(3)}"
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::8080", "busybox", "sh", "-c", HTTPD)
    try:
        mapping = out(docker("port", name, "8080/tcp"))
        host, _, port = mapping.partition(":")
        assert host == "127.0.0.1" and port.isdigit()
        deadline = time.monotonic() + 15
        body = b""
        while time.monotonic() < deadline and b"hello-docker" not in body:
            try:
                with socket.create_connection(("127.0.0.1", int(port)), timeout=3) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    body = s.recv(4096) + s.recv(4096)
            except OSError:
                time.sleep(0.1)
        assert b"hello-docker" in body
        assert f"127.0.0.1:{port}->8080/tcp" in out(docker("ps", "--filter", f"name={name}"))
    finally:
        docker("rm", "-f", name, check=False)
