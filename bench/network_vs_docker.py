#!/usr/bin/env python3
"""Network throughput, kobako against Docker in the same run: a published port and container to container.

Run as root from the checkout:

    /work/main/.venv/bin/python bench/network_vs_docker.py [--mib 1024] [--runs 11] [--conns 300]

Both engines get a private daemon with networking (bench/_engines.py, session tag ``-net``, so it can run
beside the other benches) and the identical busybox rootfs as ``busybox:bench``:

* kobakod: ``--network-prefix kbn`` (bridge ``kbn0``, nft table ``kobako_kbn``), default bridge
  10.216.0.1/24, user networks from 10.216.64.0/18;
* Debian's dockerd 20.10 with its networking as shipped: default bridge ``kbdock0`` (made by the bench, since
  ``--bridge`` needs an existing one) at 10.217.0.1/24, user networks from 10.217.64.0/18 (bridge names
  given with ``com.docker.network.bridge.name``), iptables on, ip-forward and masquerade on, and the
  userland proxy on (docker-proxy), which is Docker's default.

Neither range can meet the test pool 10.213.0.0/16 nor Docker's or kobako's default 172.17-31.x pools.

What is measured (same payload for both engines, runs interleaved, order alternating):

* **published port**: a container on the default bridge runs ``nc -ll -p 5000 -e dd of=/dev/null bs=1M
  iflag=fullblock`` published as ``-p 127.0.0.1::5000``; the bench (on the host) connects to
  127.0.0.1:<host port>, sends ``--mib`` MiB of zeros in 1 MiB ``send`` calls, half-closes and waits for
  the server's EOF. MB/s = bytes / time from connect to EOF. kobako's path is the kernel (DNAT in its nft
  table, output hook); Docker's is docker-proxy (loopback is excluded from its DNAT rule), whose CPU time
  is recorded.
* **container to container**: two containers on one user-defined network; ``sink`` runs the same server,
  ``source`` (a ``sleep``) is exec'd into: ``nc sink 5000 -e dd if=/dev/zero bs=1M count=N``, timed inside
  the container with ``adjtimex`` (microseconds) just before and after, so exec's own cost is left out.
* **reference (information)**: the same transfer from the host straight to the published server's container
  address (no NAT, no proxy): the ceiling of the published path on this machine.
* **connection latency (information)**: ``--conns`` sequential short connections to a published port
  served by busybox ``httpd``: connect, ``GET /``, read to EOF, close; median and p90.

Each server's log is checked afterwards: it must show one ``N+0 records in`` per transfer (all bytes
arrived, in full MiB). Results go to ``bench/results/network_vs_docker-<UTC time>.json``.

Everything is removed at the end, even on failure or Ctrl-C: containers, networks, both daemons, the
bridges, kobako's nft table, dockerd's iptables rules and chains (and iptables tables that did not exist
before), and the sysctls dockerd may change (net.ipv4.ip_forward, bridge-nf-call-*) get their previous
values back; the script then checks ``ip link``, ``iptables-save`` and ``nft list tables`` and fails if
anything is left.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engines import (  # noqa: E402
    DockerNetworking, Engine, HostNetState, Session, add_engine_args, api, header, iptables_rules, log, machine,
    links, nft_tables, preflight, ratio, run, run_main, save_result, stats, children_of, cmdline, IPT_TABLES,
)

TAG = "-net"
KOBAKO_PREFIX = "kbn"
KOBAKO_ARGS = ["--network-prefix", KOBAKO_PREFIX, "--bip", "10.216.0.1/24",
               "--default-address-pool", "base=10.216.64.0/18,size=24", "--dns-forward=false"]
DOCKER_NET = DockerNetworking(bridge="kbdock0", gateway="10.217.0.1/24", pool="base=10.217.64.0/18,size=24")
DOCKER_USER_BRIDGE = "kbdock1"
RANGES = [ipaddress.IPv4Network("10.216.0.0/16"), ipaddress.IPv4Network("10.217.0.0/16")]
NETWORK = "benchnet"
PORT = 5000
SINK = ["nc", "-ll", "-p", str(PORT), "-e", "dd", "of=/dev/null", "bs=1M", "iflag=fullblock"]
WEB = ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"]
# microseconds since the epoch, inside a busybox container
NOW = "adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf \"%d.%06d\\n\", s, u}'"


def cli(e: Engine, *args: str, timeout: float = 120) -> str:
    return run(e.cli(*args), env=e.client_env(), timeout=timeout).stdout.decode()


def host_port(e: Engine, name: str, cport: str) -> int:
    out = cli(e, "port", name, cport).split()
    if not out:
        raise RuntimeError(f"{e.name}: {name} publishes nothing for {cport}")
    return int(out[0].rsplit(":", 1)[1])


def setup(e: Engine) -> dict[str, Any]:
    """Servers and networks of one engine; returns the published ports."""
    if e.name == "docker":
        e.create_network(NETWORK, DOCKER_USER_BRIDGE)  # type: ignore[attr-defined]
    else:
        cli(e, "network", "create", NETWORK)
    cli(e, "run", "-d", "--name", "pubsink", "-p", f"127.0.0.1::{PORT}", "busybox:bench", *SINK)
    cli(e, "run", "-d", "--name", "web", "-p", "127.0.0.1::80", "busybox:bench", *WEB)
    cli(e, "run", "-d", "--name", "sink", "--network", NETWORK, "busybox:bench", *SINK)
    cli(e, "run", "-d", "--name", "source", "--network", NETWORK, "busybox:bench", "sleep", "100000")
    status, body = api(e.sock, "GET", "/containers/pubsink/json")
    if status != 200:
        raise RuntimeError(f"{e.name}: inspect pubsink answered {status}: {body}")
    addrs = [n["IPAddress"] for n in body["NetworkSettings"]["Networks"].values() if n.get("IPAddress")]
    return {"pub": host_port(e, "pubsink", f"{PORT}/tcp"), "web": host_port(e, "web", "80/tcp"),
            "ip": addrs[0]}


# -- published port ------------------------------------------------------------------------------
def send_payload(port: int, nbytes: int, host: str = "127.0.0.1") -> float:
    """Seconds from connect to the server's EOF after sending ``nbytes`` zeros to host:port."""
    chunk = memoryview(bytes(1 << 20))
    t0 = time.perf_counter()
    with socket.create_connection((host, port), timeout=60) as s:
        left = nbytes
        while left:
            n = s.send(chunk[:min(left, len(chunk))])
            left -= n
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    return time.perf_counter() - t0


def proxy_cpu(e: Engine, port: int) -> float:
    """CPU seconds so far of docker's docker-proxy for ``port`` (0 for kobako: there is none)."""
    if e.name != "docker" or e.proc is None:
        return 0.0
    total = 0.0
    for pid in children_of(e.proc.pid):
        cmd = cmdline(pid)
        if "docker-proxy" in cmd and f"-host-port {port} " in cmd + " ":
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks
    return total


def cgroup_cpu_file(e: Engine, name: str) -> Path | None:
    """The file holding the CPU time of container ``name``'s cgroup (both engines put a container in
    <cgroup-parent>/<id>): cpuacct.usage (v1, ns) or cpu.stat (v2, usage_usec)."""
    status, body = api(e.sock, "GET", f"/containers/{name}/json")
    if status != 200:
        raise RuntimeError(f"{e.name}: inspect {name} answered {status}: {body}")
    parent = e.cgroup.strip("/")  # type: ignore[attr-defined]
    for f in (Path("/sys/fs/cgroup/cpuacct") / parent / body["Id"] / "cpuacct.usage",
              Path("/sys/fs/cgroup/cpu,cpuacct") / parent / body["Id"] / "cpuacct.usage",
              Path("/sys/fs/cgroup") / parent / body["Id"] / "cpu.stat"):
        if f.exists():
            return f
    return None


def cgroup_cpu(files: list[Path]) -> float:
    """CPU seconds used so far by these containers' cgroups."""
    total = 0.0
    for f in files:
        text = f.read_text()
        if f.name == "cpu.stat":
            total += int(text.split("usage_usec", 1)[1].split()[0]) / 1e6
        else:
            total += int(text) / 1e9
    return total


# -- container to container ----------------------------------------------------------------------
def c2c_once(e: Engine, mib: int) -> float:
    script = (f"a=$({NOW}); nc sink {PORT} -e dd if=/dev/zero bs=1M count={mib} 2>/dev/null; rc=$?; "
              f"b=$({NOW}); echo \"$a $b $rc\"")
    out = cli(e, "exec", "source", "sh", "-c", script, timeout=600).split()
    if len(out) != 3 or out[2] != "0":
        raise RuntimeError(f"{e.name}: container-to-container transfer failed: {' '.join(out)!r}")
    return float(out[1]) - float(out[0])


# -- latency -------------------------------------------------------------------------------------
def http_get(port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    dt = time.perf_counter() - t0
    if not data.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) or not data.endswith(b"ok\n"):
        raise RuntimeError(f"unexpected answer from 127.0.0.1:{port}: {data[:200]!r}")
    return dt


def wait_ready(fn: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fn()
            return
        except (OSError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout}s: {exc}") from None
            time.sleep(0.2)


def probe(e: Engine, name: str, send: Any) -> None:
    """Send 1 MiB and see the server log it (docker-proxy accepts before its backend listens)."""
    seen = records_in(e, name, 1)[0]
    send()
    for _ in range(20):
        if records_in(e, name, 1)[0] > seen:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{e.name}: {name} did not log the probe")


def records_in(e: Engine, name: str, mib: int) -> tuple[int, int]:
    """(complete transfers, all transfers) the server's log shows: ``N+0 records in`` lines."""
    res = run(e.cli("logs", name), env=e.client_env(), check=False)
    text = (res.stdout + res.stderr).decode(errors="replace")
    lines = re.findall(r"^(\d+)\+(\d+) records in$", text, re.M)
    return sum(1 for full, part in lines if int(full) == mib and int(part) == 0), len(lines)


# -- leftovers -----------------------------------------------------------------------------------
def leftovers(before: HostNetState | None) -> list[str]:
    out = []
    for lk in links():
        n, master = lk.get("ifname", ""), lk.get("master", "")
        if n.startswith((KOBAKO_PREFIX, "kbdock", "docker0")) or master.startswith((KOBAKO_PREFIX, "kbdock")):
            out.append(f"link {n}")
    tables = nft_tables()
    if f"ip kobako_{KOBAKO_PREFIX}" in tables:
        out.append(f"nft table ip kobako_{KOBAKO_PREFIX}")
    if before is not None:
        for t in IPT_TABLES:
            if f"ip {t}" in tables and f"ip {t}" not in before.tables:
                out.append(f"iptables table {t} (did not exist before)")
            for line in iptables_rules(t):
                if line not in before.rules[t]:
                    out.append(f"iptables -t {t}: {line}")
        for path, value in before.sysctls.items():
            if Path(path).read_text().strip() != value:
                out.append(f"{path} is {Path(path).read_text().strip()}, was {value}")
    return out


def overlapping_routes() -> list[str]:
    out = []
    for line in run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout.decode().splitlines():
        dst = line.split()[0] if line.split() else ""
        if dst in ("default", "local", "broadcast", "unreachable", "blackhole", "prohibit"):
            dst = line.split()[1] if len(line.split()) > 1 else ""
        try:
            net = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if net.prefixlen and any(net.overlaps(r) for r in RANGES):
            out.append(line)
    return out


def fmt(xs: dict[str, float]) -> str:
    return f"{xs['median']:8.1f} ({xs['min']:.1f}-{xs['max']:.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024, help="payload per transfer, MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=11, help="timed transfers per engine and path (default 11)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed transfers first (default 1)")
    ap.add_argument("--conns", type=int, default=300, help="short connections per engine and round (default 300)")
    ap.add_argument("--rounds", type=int, default=3, help="latency rounds, order alternating (default 3)")
    add_engine_args(ap)
    args = ap.parse_args()
    if (code := preflight(args, "network_vs_docker", extra_tools=("/usr/sbin/docker-proxy",))) is not None:
        return code
    if args.mib < 1 or args.runs < 1 or args.conns < 1 or args.rounds < 1:
        print("network_vs_docker: --mib, --runs, --conns and --rounds must be positive", file=sys.stderr)
        return 2
    if theirs := [f"iptables -t {t}: chain {ln.split()[0][1:]}" for t in IPT_TABLES for ln in iptables_rules(t)
                  if ln.startswith(":DOCKER")]:
        print("network_vs_docker: another dockerd's iptables chains exist (two dockerds with iptables would "
              "share them):\n  " + "\n  ".join(theirs), file=sys.stderr)
        return 2
    if clash := overlapping_routes():
        print("network_vs_docker: the host already routes part of 10.216.0.0/16 or 10.217.0.0/16:\n  "
              + "\n  ".join(clash), file=sys.stderr)
        return 2

    nbytes = args.mib << 20
    m = machine()
    res: dict[str, dict[str, list[float]]] = {}
    proxy: list[float] = []
    checks: dict[str, Any] = {}
    session = Session(args, tag=TAG, kobako_args=KOBAKO_ARGS, docker_networking=DOCKER_NET)
    with session as s:
        engines = s.engines
        ports = {}
        for e in engines:
            log(f"{e.name}: networks and servers")
            ports[e.name] = setup(e)
        res = {e.name: {"published": [], "direct": [], "c2c": [], "latency": []} for e in engines}
        # CPU seconds per GiB moved: the containers' cgroups (plus docker-proxy for the published port)
        cpu: dict[str, dict[str, list[float]]] = {e.name: {"published": [], "c2c": []} for e in engines}
        cg = {e.name: {"published": cgroup_cpu_file(e, "pubsink"),
                       "c2c": [cgroup_cpu_file(e, "source"), cgroup_cpu_file(e, "sink")]} for e in engines}
        for e in engines:
            p = ports[e.name]
            wait_ready(lambda: http_get(p["web"]), f"{e.name} web")
            wait_ready(lambda: probe(e, "pubsink", lambda: send_payload(p["pub"], 1 << 20)),
                       f"{e.name} published sink")
            wait_ready(lambda: c2c_once(e, 1), f"{e.name} sink")
        log(f"published port: {args.warmup} warm-up + {args.runs} transfers of {args.mib} MiB each, interleaved")
        for i in range(args.warmup + args.runs):
            for e in (engines if i % 2 == 0 else engines[::-1]):
                files = [f for f in [cg[e.name]["published"]] if f is not None]
                c0, g0 = proxy_cpu(e, ports[e.name]["pub"]), cgroup_cpu(files)
                dt = send_payload(ports[e.name]["pub"], nbytes)
                c1, g1 = proxy_cpu(e, ports[e.name]["pub"]), cgroup_cpu(files)
                if i >= args.warmup:
                    res[e.name]["published"].append(nbytes / dt / 1e6)
                    if files:
                        cpu[e.name]["published"].append((g1 - g0 + c1 - c0) / (nbytes / 2**30))
                    if e.name == "docker":
                        proxy.append((c1 - c0) / dt)
        log(f"reference: {args.runs} transfers from the host straight to each server's container address")
        for i in range(args.runs):
            for e in (engines if i % 2 == 0 else engines[::-1]):
                dt = send_payload(PORT, nbytes, ports[e.name]["ip"])
                res[e.name]["direct"].append(nbytes / dt / 1e6)
        # the containers' CPU for one exec and an empty transfer (runc's or kobako's exec set-up, nc, dd):
        # subtracted from each transfer's, so CPU per GiB counts the bytes only
        base: dict[str, float] = {}
        for e in engines:
            files = [f for f in cg[e.name]["c2c"] if f is not None]
            spent = []
            for _ in range(3):
                g0 = cgroup_cpu(files)
                c2c_once(e, 0)
                spent.append(cgroup_cpu(files) - g0)
            base[e.name] = statistics.median(spent)
        log(f"container to container: {args.warmup} warm-up + {args.runs} transfers of {args.mib} MiB each")
        for i in range(args.warmup + args.runs):
            for e in (engines if i % 2 == 0 else engines[::-1]):
                files = [f for f in cg[e.name]["c2c"] if f is not None]
                g0 = cgroup_cpu(files)
                dt = c2c_once(e, args.mib)
                g1 = cgroup_cpu(files)
                if i >= args.warmup:
                    res[e.name]["c2c"].append(nbytes / dt / 1e6)
                    if len(files) == 2:
                        cpu[e.name]["c2c"].append((g1 - g0 - base[e.name]) / (nbytes / 2**30))
        log(f"latency: {args.rounds} rounds of {args.conns} connections each")
        for r in range(args.rounds):
            for e in (engines if r % 2 == 0 else engines[::-1]):
                for _ in range(args.conns):
                    res[e.name]["latency"].append(http_get(ports[e.name]["web"]))
        for e in engines:
            n = args.warmup + args.runs
            checks[e.name] = {"published": records_in(e, "pubsink", args.mib),
                              "c2c": records_in(e, "sink", args.mib), "expected": n}
            checks[e.name]["expected_published"] = n + args.runs  # and the direct transfers
        v = s.versions()
    left = leftovers(session.host_state)

    for name, c in checks.items():
        for path, want in (("published", c["expected_published"]), ("c2c", c["expected"])):
            complete, _ = c[path]
            if complete != want:
                raise RuntimeError(f"{name} {path}: the server saw {complete} complete transfers of "
                                   f"{args.mib} MiB, expected {want} ({c[path]})")

    st = {e: {k: stats(x) for k, x in mm.items()} for e, mm in res.items()}
    lat = {e: sorted(res[e]["latency"]) for e in res}
    p90 = {e: lat[e][int(len(lat[e]) * 0.9)] for e in lat}
    result: dict[str, Any] = {
        "date": s.stamp.isoformat(timespec="seconds"), "machine": m, "versions": v,
        "mib": args.mib, "runs": args.runs, "warmup": args.warmup, "conns": args.conns, "rounds": args.rounds,
        "mb_per_s": {e: {k: {"samples": res[e][k], **st[e][k]} for k in ("published", "direct", "c2c")}
                     for e in res},
        "latency_s": {e: {**st[e]["latency"], "p90": p90[e]} for e in res},
        "docker_proxy_cpu_per_s": stats(proxy) if proxy else {},
        "c2c_exec_cpu_s": base,
        "cpu_s_per_gib": {e: {k: {"samples": x, **stats(x)} for k, x in mm.items() if x} for e, mm in cpu.items()},
        "ratio_published": ratio(st["kobako"]["published"]["median"], st["docker"]["published"]["median"]),
        "ratio_c2c": ratio(st["kobako"]["c2c"]["median"], st["docker"]["c2c"]["median"]),
        # each run measures both engines back to back: the ratio within a run is less exposed to the
        # machine's load changing between runs
        "paired_ratios": {k: stats([a / b for a, b in zip(res["kobako"][k], res["docker"][k])])
                          for k in ("published", "direct", "c2c")},
        "server_checks": checks, "host_restored": session.restored, "leftovers": left,
    }
    out = save_result("network_vs_docker", s.stamp, result)

    print(header(s.stamp, m, v))
    print(f"{args.mib} MiB per transfer, {args.runs} runs each after {args.warmup} warm-up; "
          f"MB/s median (min-max)")
    print(f"{'path':<36}{'kobako':>22}{'docker':>22}{'ratio':>7}   paired ratios, median (min-max)")
    for k, label in (("published", "published port, loopback client"), ("c2c", "container to container"),
                     ("direct", "(ref.) host to container address")):
        r = ratio(st["kobako"][k]["median"], st["docker"][k]["median"])
        pr = result["paired_ratios"][k]
        print(f"{label:<36}{fmt(st['kobako'][k]):>22}{fmt(st['docker'][k]):>22}{r:>7.2f}   "
              f"{pr['median']:.2f} ({pr['min']:.2f}-{pr['max']:.2f})")
    if proxy:
        print(f"docker-proxy CPU during docker's published-port transfers: {stats(proxy)['median']:.2f} "
              "CPU-seconds per second (median)")
    for k, label in (("published", "server container (+ docker-proxy)"),
                     ("c2c", "both containers, less an empty transfer's")):
        if cpu["kobako"][k] and cpu["docker"][k]:
            print(f"CPU seconds per GiB, {k}, {label}: kobako {stats(cpu['kobako'][k])['median']:.3f}, "
                  f"docker {stats(cpu['docker'][k])['median']:.3f} (median)")
    k, d = st["kobako"]["latency"], st["docker"]["latency"]
    print(f"published-port HTTP request on a new connection ({args.rounds}x{args.conns}): median "
          f"kobako {k['median'] * 1e3:.3f} ms, docker {d['median'] * 1e3:.3f} ms; p90 kobako "
          f"{p90['kobako'] * 1e3:.3f} ms, docker {p90['docker'] * 1e3:.3f} ms")
    for name in ("published", "c2c"):
        verdict = "meets" if result[f"ratio_{name}"] >= 1 else "misses"
        print(f"{name}: kobako/docker = {result[f'ratio_{name}']:.2f} ({verdict} the goal of >= 1), "
              f"paired {result['paired_ratios'][name]['median']:.2f}")
    print(f"results: {out}")
    if left:
        print("LEFT BEHIND:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    print("host clean: no kbn*/kbdock* links, no kobako_kbn table, iptables and sysctls as before")
    return 0


if __name__ == "__main__":
    run_main(main, "network_vs_docker")
