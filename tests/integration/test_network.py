"""Networking on the real kernel: user networks with DNS, none, published ports, internal networks,
IPAM across a SIGKILLed daemon, and nothing left behind.

All traffic stays on loopback, kobako's own bridges and the containers' namespaces; the only
host address used is the host's own (never anything off the machine).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon, daemon_session

HTTPD = "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www"


def out(res: Any) -> str:
    return str(res.stdout.decode()).strip()


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    return dict(json.loads(out(daemon.kobako("inspect", "--type", "container", ref)))[0])


def uniq(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def wait_for(pred: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def leftovers(d: Daemon) -> dict[str, list[str]]:
    """Links, netns files and nftables tables of this daemon still on the machine."""
    links = [ln.split(":")[1].strip() for ln in subprocess.run(["ip", "-o", "link"], capture_output=True,
                                                               text=True).stdout.splitlines()
             if d.net_prefix in ln]
    netns = sorted(os.listdir(d.exec_root / "netns")) if (d.exec_root / "netns").exists() else []
    tables = [t for t in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout.split()
              if t == f"kobako_{d.net_prefix}"]
    return {"links": links, "netns": netns, "tables": tables}


def veths(d: Daemon) -> list[str]:
    return [ln for ln in leftovers(d)["links"] if ln != f"{d.net_prefix}0" and "-" not in ln.split("@")[0]]


@pytest.fixture
def net(daemon: Daemon) -> Iterator[str]:
    name = uniq("knet")
    daemon.kobako("network", "create", name)
    yield name
    ids = out(daemon.kobako("ps", "-aq", "--no-trunc", "--filter", f"label=test-net={name}", check=False)).split()
    if ids:
        daemon.kobako("rm", "-f", *ids, check=False)
    daemon.kobako("network", "rm", name, check=False)


def serve(daemon: Daemon, net: str, name: str, *extra: str) -> str:
    cid = out(daemon.kobako("run", "-d", "--name", name, "--label", f"test-net={net}", "--network", net, *extra,
                            "busybox", "sh", "-c", HTTPD))
    return cid


def client_run(daemon: Daemon, net: str, script: str, check: bool = True) -> Any:
    return daemon.kobako("run", "--rm", "--label", f"test-net={net}", "--network", net, "busybox", "sh", "-c", script,
                         check=check)


def test_containers_talk_by_name_and_alias(daemon: Daemon, net: str) -> None:
    web = uniq("web")
    serve(daemon, net, web, "--network-alias", "frontdoor")
    script = f"for i in $(seq 50); do wget -qO- http://{web}:8080/ && break; sleep 0.1; done; wget -qO- http://frontdoor:8080/"
    res = client_run(daemon, net, script)
    host = inspect(daemon, web)["Config"]["Hostname"]
    assert out(res).splitlines() == [f"hello-from-{host}", f"hello-from-{host}"]
    # unknown names are NXDOMAIN, never forwarded anywhere
    res = client_run(daemon, net, "nslookup no-such-container-here 127.0.0.11", check=False)
    assert res.returncode != 0


def test_alias_round_robin(daemon: Daemon, net: str) -> None:
    a, b = uniq("rr"), uniq("rr")
    for n in (a, b):
        daemon.kobako("run", "-d", "--name", n, "--label", f"test-net={net}", "--network", net, "--network-alias",
                      "pool", "busybox", "sleep", "60")
    ips = {inspect(daemon, n)["NetworkSettings"]["Networks"][net]["IPAddress"] for n in (a, b)}
    res = client_run(daemon, net, "for i in 1 2 3 4; do nslookup pool 127.0.0.11 | sed -n 's/^Address: //p' | head -1; done")
    firsts = set(out(res).split())
    assert firsts == ips  # the first answer rotates over both containers


def test_inspect_and_network_shapes(daemon: Daemon, net: str) -> None:
    web = uniq("web")
    cid = serve(daemon, net, web, "--network-alias", "x1")
    info = inspect(daemon, web)
    ep = info["NetworkSettings"]["Networks"][net]
    nobj = json.loads(out(daemon.kobako("network", "inspect", net)))[0]
    assert ep["NetworkID"] == nobj["Id"] and ep["Aliases"] == ["x1"]
    assert re.fullmatch(r"10\.213\.\d+\.\d+", ep["IPAddress"]) and ep["IPPrefixLen"] == 24
    assert ep["Gateway"] == nobj["IPAM"]["Config"][0]["Gateway"] and ep["MacAddress"].startswith("02:42:")
    assert nobj["Containers"][cid]["IPv4Address"] == f"{ep['IPAddress']}/24"
    assert info["HostConfig"]["NetworkMode"] == net
    hosts = out(daemon.kobako("exec", web, "cat", "/etc/hosts"))
    assert f"{ep['IPAddress']}\t{info['Config']['Hostname']}" in hosts
    assert "nameserver 127.0.0.11" in out(daemon.kobako("exec", web, "cat", "/etc/resolv.conf"))
    names = [n["Name"] for n in json.loads(daemon.client().request("GET", "/networks")[2])]
    assert {"bridge", "host", "none", net} <= set(names)
    res = daemon.kobako("network", "rm", net, check=False)
    assert res.returncode != 0 and b"active endpoints" in res.stderr


def test_network_none_has_only_lo(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; ip -o addr")
    lines = out(res).splitlines()
    assert lines[0] == "lo" and not any("eth" in ln for ln in lines)


def test_default_bridge_and_extra_hosts(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "--add-host", "db.local:10.213.250.9", "--dns", "10.213.250.53", "busybox",
                        "sh", "-c", "cat /etc/hosts /etc/resolv.conf; ip route")
    text = out(res)
    assert "10.213.250.9\tdb.local" in text and "nameserver 10.213.250.53" in text and "default via" in text


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _get(port: int, host: str = "127.0.0.1") -> str:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode(errors="replace")


def test_published_port_answers_on_loopback_and_is_released(daemon: Daemon) -> None:
    name, fixed = uniq("pub"), _free_port()
    daemon.kobako("run", "-d", "--name", name, "-p", "127.0.0.1:0:8080", "-p", f"{fixed}:8080", "busybox",
                  "sh", "-c", HTTPD)
    try:
        ports = inspect(daemon, name)["NetworkSettings"]["Ports"]["8080/tcp"]
        eph = next(int(b["HostPort"]) for b in ports if b["HostIp"] == "127.0.0.1")
        assert out(daemon.kobako("port", name, "8080")).splitlines() == [f"127.0.0.1:{eph}", f"0.0.0.0:{fixed}"]
        body = wait_for(lambda: _try_get(eph))
        assert "hello-from-" in body
        assert "hello-from-" in wait_for(lambda: _try_get(fixed))
        # the port is held while the container runs
        with pytest.raises(OSError):
            socket.socket().bind(("0.0.0.0", fixed))
        assert "0.0.0.0:" in out(daemon.kobako("ps", "--filter", f"name={name}"))
        daemon.kobako("stop", "-t", "1", name)
        assert inspect(daemon, name)["NetworkSettings"]["Ports"] == {}
        s = socket.socket()
        s.bind(("0.0.0.0", fixed))  # released at stop
        s.close()
        with pytest.raises(OSError):
            _get(fixed)
    finally:
        daemon.kobako("rm", "-f", name, check=False)


def _try_get(port: int) -> str | None:
    try:
        return _get(port)
    except OSError:
        return None


def _host_address() -> str | None:
    for line in subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                               text=True).stdout.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m and "kb" not in line.split()[1]:
            return m.group(1)
    return None


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP server of the test on all host addresses (reached only from kobako's own bridges)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(b"host-says-hi\n")
            conn.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join()
    srv.close()


def test_internal_network_cannot_reach_host(daemon: Daemon, host_listener: int) -> None:
    inet, onet = uniq("kint"), uniq("kout")
    daemon.kobako("network", "create", "--internal", inet)
    daemon.kobako("network", "create", onet)
    try:
        gw_in = json.loads(out(daemon.kobako("network", "inspect", inet)))[0]["IPAM"]["Config"][0]["Gateway"]
        gw_out = json.loads(out(daemon.kobako("network", "inspect", onet)))[0]["IPAM"]["Config"][0]["Gateway"]
        targets = [gw_in] + ([a] if (a := _host_address()) else [])
        probe = "; ".join(f"timeout 3 nc {t} {host_listener} </dev/null; echo rc=$?" for t in targets)
        res = daemon.kobako("run", "--rm", "--network", inet, "busybox", "sh", "-c", f"ip route; {probe}")
        assert "default" not in out(res) and "host-says-hi" not in out(res)
        # the same probe from an ordinary user network does reach the host (the control)
        res = daemon.kobako("run", "--rm", "--network", onet, "busybox", "sh", "-c",
                            f"timeout 3 nc {gw_out} {host_listener} </dev/null")
        assert "host-says-hi" in out(res)
    finally:
        daemon.kobako("network", "rm", inet, onet, check=False)


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Daemon]:
    for d in daemon_session(tmp_path / "kd"):
        d.kobako("image", "bootstrap", "busybox")
        yield d


def test_ipam_and_dns_survive_sigkill_and_nothing_is_left(own_daemon: Daemon) -> None:
    d = own_daemon
    # a /28 (13 usable addresses) of its own, so concurrent runs on one machine don't collide
    subnet = f"10.213.{random.randint(240, 254)}.{16 * random.randint(0, 15)}/28"
    d.kobako("network", "create", "--subnet", subnet, "kn")
    d.kobako("run", "-d", "--name", "ka", "--network", "kn", "busybox", "sleep", "300")
    d.kobako("run", "-d", "--name", "kb", "--network", "kn", "busybox", "sleep", "300")
    ip_a = inspect(d, "ka")["NetworkSettings"]["Networks"]["kn"]["IPAddress"]
    pid_b = inspect(d, "kb")["State"]["Pid"]
    d.kill9()
    os.kill(pid_b, signal.SIGKILL)  # b dies while kobakod is down
    time.sleep(0.3)
    d.start()
    assert inspect(d, "kb")["State"]["Status"] == "exited"
    assert len(veths(d)) == 1  # b's veth and netns are gone, a's stay
    assert leftovers(d)["netns"] == [inspect(d, "ka")["Id"]]
    seen = {ip_a}
    for i in range(4):  # addresses keep moving forward, never a's
        res = d.kobako("run", "--rm", "--network", "kn", "busybox", "sh", "-c",
                       "ip -o -4 addr show eth0 | awk '{print $4}'; nslookup ka 127.0.0.11 | sed -n 's/^Address: //p'")
        lines = out(res).splitlines()
        mine = lines[0].split("/")[0]
        assert mine not in seen and lines[-1] == ip_a, lines
        seen.add(mine)
    d.kobako("rm", "-f", "ka", "kb")
    d.kobako("network", "rm", "kn")
    left = leftovers(d)
    assert veths(d) == [] and left["netns"] == []
    d.stop()
    assert leftovers(d) == {"links": [], "netns": [], "tables": []}


def test_sigkill_with_published_port_then_restart_cleans(own_daemon: Daemon) -> None:
    d = own_daemon
    port = _free_port()
    d.kobako("run", "-d", "--name", "kp", "-p", f"127.0.0.1:{port}:8080", "busybox", "sh", "-c", HTTPD)
    assert "hello-from-" in wait_for(lambda: _try_get(port))
    d.kill9()
    assert "hello-from-" in (_try_get(port) or "")  # the kernel still forwards while kobakod is down
    d.start()
    assert "hello-from-" in wait_for(lambda: _try_get(port))
    d.kobako("rm", "-f", "kp")
    assert _try_get(port) is None
    assert veths(d) == [] and leftovers(d)["netns"] == []
    d.kill9()
    d.start()  # a restart after a crash with nothing running: still nothing left after a clean stop
    d.stop()
    assert leftovers(d) == {"links": [], "netns": [], "tables": []}


def test_container_veths_take_big_tcp_packets(daemon: Daemon, net: str) -> None:
    """IPv4 BIG TCP on both ends of a container's veth (Linux >= 6.3): 185000-byte GSO packets
    between containers instead of 64 KiB ones (about twice the veth+bridge throughput here)."""
    from kobako.network._netlink import RtNetlink

    cid = serve(daemon, net, uniq("big"))
    try:
        ours = veths(daemon)
        with RtNetlink() as nl:
            sizes = {name.split("@")[0]: nl.gso_ipv4_max_size(name.split("@")[0]) for name in ours}
        if all(v is None for v in sizes.values()):
            pytest.skip("this kernel has no IPv4 BIG TCP (Linux < 6.3)")
        assert sizes and all(v == 185000 for v in sizes.values()), sizes
        pid = inspect(daemon, cid)["State"]["Pid"]
        inside = subprocess.run(["nsenter", "-t", str(pid), "-n", daemon_python(), "-c",
                                 "from kobako.network._netlink import RtNetlink\n"
                                 "with RtNetlink() as nl: print(nl.gso_ipv4_max_size('eth0'))"],
                                capture_output=True, text=True, check=True, env=_src_env())
        assert inside.stdout.strip() == "185000"
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def daemon_python() -> str:
    import sys

    return sys.executable


def _src_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src}
