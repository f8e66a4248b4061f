"""Shared by the bench scripts: a private kobakod and a private Debian dockerd (with its own managed
containerd), the same busybox rootfs imported into both as ``busybox:bench``, timing helpers, and the
cleanup that leaves nothing behind (containers, daemons, shims, mounts, cgroups, roots, sockets, extra
processes such as registries), even on failure, Ctrl-C or SIGTERM.

Typical use (see run_vs_docker.py)::

    ap = argparse.ArgumentParser(); add_engine_args(ap); args = ap.parse_args()
    if (code := preflight(args, "my_bench")) is not None:
        return code
    with Session(args) as s:          # both daemons up, busybox:bench in both
        s.kobako.cli("ps"), s.docker.cli("ps")   # argv of the engine's client
        s.spawn([...], "registry")     # extra process, stopped and killed at the end
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
RESULTS = REPO / "bench" / "results"

KOBAKO_SOCK = Path("/run/kobako-bench.sock")
KOBAKO_EXEC = Path("/run/kobako-bench-exec")
KOBAKO_CGROUP = "/kobako-bench"
DOCKER_SOCK = Path("/run/kobako-bench-docker.sock")
DOCKER_EXEC = Path("/run/kobako-bench-docker-exec")
DOCKER_CGROUP = "/kobako-bench-docker"
IMAGE = "busybox:bench"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
API = "/v1.41"  # understood by both: dockerd 20.10 tops out at 1.41, kobakod accepts 1.24-1.50


class Interrupted(Exception):
    pass


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(f"signal {signum}")


# -- small helpers -------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, input=input)
    if check and res.returncode != 0:
        stderr = res.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{stderr}")
    return res


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(sock: Path, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    conn = UnixHTTPConnection(sock, timeout=timeout)
    try:
        headers = {"Host": "localhost"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, API + path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw
    finally:
        conn.close()


def answers(sock: Path) -> bool:
    try:
        conn = UnixHTTPConnection(sock, timeout=2)
        conn.request("GET", "/_ping", headers={"Host": "localhost"})
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def timed(argv: list[str], env: dict[str, str], errfile: Path) -> tuple[float, float, int]:
    """Wall and CPU (user+sys) seconds of one client process, and its exit status."""
    with open(os.devnull, "wb") as null, open(errfile, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=null, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode


def stats(xs: list[float]) -> dict[str, float]:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs),
            "mean": statistics.fmean(xs), "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0}


# -- cleanup -------------------------------------------------------------------------------------
def mounts_under(*prefixes: Path) -> list[str]:
    pre = [str(p.resolve()) if p.exists() else str(p) for p in prefixes]
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f]
    return [t for t in targets if any(t == p or t.startswith(p + "/") for p in pre)]


def unmount_under(*prefixes: Path) -> None:
    for _ in range(3):
        targets = mounts_under(*prefixes)
        if not targets:
            return
        for t in sorted(targets, key=len, reverse=True):
            subprocess.run(["umount", "-l", t], capture_output=True, check=False)


def pids_mentioning(*needles: str) -> list[int]:
    """Processes whose command line names one of our private paths (daemons, containerd, shims)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.append(int(d.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children_of(ppid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            out.append(int(d.name))
    return out


def memory_of(pid: int) -> dict[str, int]:
    """Pss and Rss of a process in KiB, from /proc/<pid>/smaps_rollup (zeros if it is gone)."""
    out = {"pss": 0, "rss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("Pss", "Rss"):
                out[key.lower()] = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return out


def cgroup_roots() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]
    return [p for p in base.iterdir() if p.is_dir() and not p.is_symlink()]


def remove_cgroup(parent: str) -> None:
    for root in cgroup_roots():
        top = root / parent.strip("/")
        if not top.is_dir():
            continue
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for d in [*dirs, top]:
            for _ in range(20):
                try:
                    pids = (d / "cgroup.procs").read_text().split()
                except OSError:
                    pids = []
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- host network state (benches that give the daemons real networking) ---------------------------
SYSCTLS = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables",
           "/proc/sys/net/bridge/bridge-nf-call-ip6tables")
IPT_TABLES = ("filter", "nat")


@dataclass(frozen=True)
class DockerNetworking:
    """dockerd with networking: its default bridge (made by the bench, as --bridge needs an existing one)
    with this address, and the pool its user-defined networks take subnets from."""
    bridge: str    # e.g. "kbdock0"
    gateway: str   # e.g. "10.217.0.1/24"
    pool: str      # --default-address-pool, e.g. "base=10.217.64.0/18,size=24"


def nft_tables() -> set[str]:
    """``family name`` of every nftables table (iptables-nft's tables included)."""
    out = run(["nft", "list", "tables"], check=False).stdout.decode()
    return {line.split(None, 1)[1].strip() for line in out.splitlines() if line.startswith("table ")}


def iptables_rules(table: str) -> list[str]:
    """A table's chains (``:NAME POLICY``) and rules (``-A ...``) as iptables-save prints them, no counters.
    (For a table that does not exist, iptables-save prints its built-in chains and does not create it.)"""
    out = run(["iptables-save", "-t", table], check=False).stdout.decode()
    lines = []
    for line in out.splitlines():
        if line.startswith(":"):
            lines.append(line.rsplit(" [", 1)[0])
        elif line.startswith("-A "):
            lines.append(line)
    return lines


def links() -> list[dict[str, Any]]:
    """``ip -json -details link``: this network namespace's links (sysfs shows the one it was mounted in)."""
    out = run(["ip", "-json", "-details", "link", "show"], check=False).stdout
    try:
        return json.loads(out) if out.strip() else []
    except ValueError:
        return []


def delete_bridge(name: str) -> None:
    """Delete a bridge (and any link still enslaved to it) if it exists."""
    all_links = links()
    if not any(lk.get("ifname") == name and lk.get("linkinfo", {}).get("info_kind") == "bridge" for lk in all_links):
        return
    for lk in all_links:
        if lk.get("master") == name:
            run(["ip", "link", "del", lk["ifname"]], check=False)
    run(["ip", "link", "del", name], check=False)


class HostNetState:
    """The host settings a networking dockerd changes: sysctls (ip_forward, bridge-nf-call-*), iptables
    filter/nat rules and chains, and which iptables-nft tables exist. Captured before the daemons start;
    ``restore`` removes what was added (rules and chains naming DOCKER* or one of ``marks``, e.g. the
    bench's bridges), puts back changed chain policies and sysctls, and deletes iptables tables that did
    not exist before and are empty again."""

    def __init__(self) -> None:
        self.sysctls = {p: Path(p).read_text().strip() for p in SYSCTLS if Path(p).exists()}
        self.tables = nft_tables()
        self.rules = {t: iptables_rules(t) for t in IPT_TABLES}

    def restore(self, marks: Sequence[str]) -> list[str]:
        """Undo; returns what was done (for the log)."""
        done: list[str] = []

        def ours(tokens: list[str]) -> bool:
            return any(t.startswith("DOCKER") or t in marks for t in tokens)

        for t in IPT_TABLES:
            if f"ip {t}" not in nft_tables():
                continue
            before = set(self.rules[t])
            for line in iptables_rules(t):  # jumps into the chains first, so the chains can go
                if line.startswith("-A ") and line not in before and ours(shlex.split(line)):
                    run(["iptables", "-t", t, "-D", *shlex.split(line)[1:]], check=False)
                    done.append(f"{t}: {line}")
            old_chains = {ln.split()[0] for ln in before if ln.startswith(":")}
            new_chains = [ln.split()[0][1:] for ln in iptables_rules(t)
                          if ln.startswith(":") and ln.split()[0] not in old_chains and ours([ln.split()[0][1:]])]
            for c in new_chains:
                run(["iptables", "-t", t, "-F", c], check=False)
            for c in new_chains:
                run(["iptables", "-t", t, "-X", c], check=False)
                done.append(f"{t}: chain {c}")
            old_policy = {ln.split()[0]: ln.split()[1] for ln in before if ln.startswith(":")}
            now = iptables_rules(t)
            for ln in now:
                name, policy = ln.split()[0], ln.split()[1]
                if ln.startswith(":") and policy != "-" and policy != old_policy.get(name, "ACCEPT"):
                    run(["iptables", "-t", t, "-P", name[1:], old_policy.get(name, "ACCEPT")], check=False)
                    done.append(f"{t}: policy {name[1:]} {policy} -> {old_policy.get(name, 'ACCEPT')}")
            now = iptables_rules(t)
            if (f"ip {t}" not in self.tables and not any(ln.startswith("-A ") for ln in now)
                    and all(ln.split()[1] in ("ACCEPT", "-") for ln in now)):
                run(["nft", "delete", "table", "ip", t], check=False)
                done.append(f"table ip {t} (empty, did not exist before)")
        for path, value in self.sysctls.items():
            try:
                if Path(path).read_text().strip() != value:
                    Path(path).write_text(value + "\n")
                    done.append(f"{path} = {value}")
            except OSError:
                pass
        return done


# -- the two engines -----------------------------------------------------------------------------
class Engine:
    name: str
    sock: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    exec_root: Path
    data: Path
    cgroup: str

    def remove_roots(self) -> None:
        """Kill whatever still names this engine's roots, unmount and remove them, its cgroup, its socket."""
        for pid in pids_mentioning(str(self.exec_root), str(self.data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        unmount_under(self.data, self.exec_root)
        remove_cgroup(self.cgroup)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
        self.sock.unlink(missing_ok=True)

    def client_env(self) -> dict[str, str]:
        raise NotImplementedError

    def run_argv(self) -> list[str]:
        raise NotImplementedError

    def cli(self, *args: str) -> list[str]:
        """argv of this engine's client running ``args`` against the private daemon."""
        raise NotImplementedError

    def daemon_pids(self) -> dict[str, int]:
        """The long-lived daemon processes (name -> pid), whose memory the bench watches."""
        raise NotImplementedError

    def shim_pids(self) -> list[int]:
        """The per-container shim processes."""
        raise NotImplementedError

    def remove_all_containers(self) -> None:
        if self.proc is not None and self.proc.poll() is None and answers(self.sock):
            try:
                ids = run(self.cli("ps", "-aq", "--no-trunc"), env=self.client_env(), check=False,
                          timeout=60).stdout.decode().split()
                if ids:
                    run(self.cli("rm", "-f", *ids), env=self.client_env(), check=False, timeout=300)
            except (OSError, subprocess.TimeoutExpired):
                pass

    def wait_up(self, logfile: Path, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited {self.proc.returncode}:\n{logfile.read_text()[-4000:]}")
            if answers(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{what} did not come up in {timeout}s:\n{logfile.read_text()[-4000:]}")

    def api_create_body(self) -> dict[str, Any]:
        return {"Image": IMAGE, "Cmd": ["true"], "AttachStdout": False, "AttachStderr": False,
                "HostConfig": {"NetworkMode": "none"}}


class Kobako(Engine):
    name = "kobako"

    def __init__(self, tmp: Path, tag: str = "", daemon_args: Sequence[str] = ()) -> None:
        # ``tag`` gives a session its own socket, exec root and cgroup parent, so a bench with a
        # tag can run while an untagged one does; ``daemon_args`` are added to kobakod's command line.
        self.sock = Path(f"/run/kobako-bench{tag}.sock") if tag else KOBAKO_SOCK
        self.exec_root = Path(f"/run/kobako-bench{tag}-exec") if tag else KOBAKO_EXEC
        self.cgroup = f"/kobako-bench{tag}" if tag else KOBAKO_CGROUP
        # like the networkless dockerd it is compared with, kobakod leaves the host's ip_forward alone
        # unless a bench (the network one) asks otherwise
        self.daemon_args = list(daemon_args) or ["--ip-forward=false"]
        self.data = tmp / "kobako-data"
        self.log = tmp / "kobakod.log"
        self.bin = str(VENV_BIN / "kobako")
        self.src: Path | None = None  # a snapshot of src/ to run instead of the checkout's (--kobako-rev)

    def client_env(self) -> dict[str, str]:
        """Environment of kobako's client, daemon and registry (inherited by the spawner and shims)."""
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPATH", None)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)  # ahead of the venv's editable path to the checkout
        env["KOBAKO_HOST"] = f"unix://{self.sock}"
        return env

    def start(self) -> None:
        for p in (self.sock, self.exec_root):
            if p.exists():
                raise RuntimeError(f"{p} exists: another bench running, or a leftover; remove it first")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "kobakod"), "-H", f"unix://{self.sock}", "--data-root", str(self.data),
                 "--exec-root", str(self.exec_root), "--cgroup-parent", self.cgroup, *self.daemon_args],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=self.client_env(),
                start_new_session=True,
            )
        self.wait_up(self.log, "kobakod")

    def load(self, tar: Path) -> None:
        run([self.bin, "import", "-c", 'CMD ["sh"]', "-c", f"ENV {PATH_ENV}", str(tar), IMAGE],
            env=self.client_env())

    def run_argv(self) -> list[str]:
        return [self.bin, "run", "--rm", IMAGE, "true"]

    def cli(self, *args: str) -> list[str]:
        return [self.bin, *args]

    def daemon_pids(self) -> dict[str, int]:
        assert self.proc is not None
        out = {"kobakod": self.proc.pid}
        for pid in children_of(self.proc.pid):
            if "kobako.shim.spawner" in cmdline(pid):
                out["spawner"] = pid
        return out

    def shim_pids(self) -> list[int]:
        pids = []
        for pidfile in (self.exec_root / "shims").glob("*.pid"):
            try:
                pid = int(pidfile.read_text())
            except (OSError, ValueError):
                continue
            if Path(f"/proc/{pid}").exists():
                pids.append(pid)
        return pids

    def cleanup(self) -> None:
        self.remove_all_containers()
        stop_process(self.proc)
        shims = self.exec_root / "shims"
        if shims.is_dir():
            for pidfile in shims.glob("*.pid"):
                try:
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        self.remove_roots()
        self.remove_network_leftovers()

    def network_prefix(self) -> str | None:
        args = self.daemon_args
        for i, a in enumerate(args):
            if a == "--network-prefix" and i + 1 < len(args):
                return args[i + 1]
            if a.startswith("--network-prefix="):
                return a.split("=", 1)[1]
        return None

    def remove_network_leftovers(self) -> None:
        """kobakod removes its bridges and table at shutdown; should it have died first, remove what
        its --network-prefix names: links whose alias is ``kobako:<prefix>:...`` and its nft table."""
        prefix = self.network_prefix()
        if prefix is None:
            return
        for lk in links():
            if lk.get("ifalias", "").startswith(f"kobako:{prefix}:"):
                run(["ip", "link", "del", lk["ifname"]], check=False)
        table = "kobako" if prefix == "kb" else f"kobako_{prefix}"
        if f"ip {table}" in nft_tables():
            run(["nft", "delete", "table", "ip", table], check=False)


class Docker(Engine):
    name = "docker"

    def __init__(self, tmp: Path, docker: str, dockerd: str, tag: str = "",
                 networking: DockerNetworking | None = None) -> None:
        # ``tag``: as for Kobako. ``networking``: start dockerd with its networking as shipped (bridge,
        # iptables, userland proxy) instead of none; the Session puts the host's state back at the end.
        self.sock = Path(f"/run/kobako-bench{tag}-docker.sock") if tag else DOCKER_SOCK
        self.exec_root = Path(f"/run/kobako-bench{tag}-docker-exec") if tag else DOCKER_EXEC
        self.cgroup = f"/kobako-bench{tag}-docker" if tag else DOCKER_CGROUP
        self.networking = networking
        self.bridges: list[str] = []  # links this bench made or named for dockerd; deleted at cleanup
        self.data = tmp / "docker-data"
        self.config = tmp / "docker-config"
        self.pidfile = tmp / "dockerd.pid"
        self.log = tmp / "dockerd.log"
        self.bin = docker
        self.dockerd = dockerd

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            env.pop(k, None)
        env["DOCKER_CONFIG"] = str(self.config)
        return env

    def start(self) -> None:
        for p in (self.sock, self.exec_root):
            if p.exists():
                raise RuntimeError(f"{p} exists: another bench running, or a leftover; remove it first")
        self.config.mkdir(parents=True, exist_ok=True)
        net = self.networking
        if net is None:
            net_args = ["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                        "--ip-masq=false", "--userland-proxy=false"]
        else:
            if any(lk.get("ifname") == net.bridge for lk in links()):
                raise RuntimeError(f"link {net.bridge} exists: another bench running, or a leftover")
            # dockerd's --bridge must name an existing bridge; it takes its address as the gateway
            self.bridges.append(net.bridge)
            run(["ip", "link", "add", net.bridge, "type", "bridge"])
            run(["ip", "addr", "add", net.gateway, "dev", net.bridge])
            run(["ip", "link", "set", net.bridge, "up"])
            # the rest as Debian's dockerd 20.10 ships (its defaults, spelled out)
            net_args = [f"--bridge={net.bridge}", "--default-address-pool", net.pool, "--iptables=true",
                        "--ip6tables=false", "--ip-forward=true", "--ip-masq=true", "--userland-proxy=true"]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [self.dockerd, "-H", f"unix://{self.sock}", "--data-root", str(self.data),
                 "--exec-root", str(self.exec_root), "--pidfile", str(self.pidfile),
                 "--cgroup-parent", self.cgroup, *net_args,
                 "--storage-driver=overlay2", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=self.client_env(),
                start_new_session=True,
            )
        self.wait_up(self.log, "dockerd")

    def cli(self, *args: str) -> list[str]:
        return [self.bin, "-H", f"unix://{self.sock}", *args]

    def daemon_pids(self) -> dict[str, int]:
        assert self.proc is not None
        out = {"dockerd": self.proc.pid}
        for pid in children_of(self.proc.pid):
            if Path(cmdline(pid).split(" ", 1)[0]).name == "containerd":
                out["containerd"] = pid
        return out

    def shim_pids(self) -> list[int]:
        return [pid for pid in pids_mentioning(str(self.exec_root))
                if Path(cmdline(pid).split(" ", 1)[0]).name == "containerd-shim-runc-v2"]

    def load(self, tar: Path) -> None:
        run([self.bin, "-H", f"unix://{self.sock}", "import", "-c", 'CMD ["sh"]', "-c", f"ENV {PATH_ENV}",
             str(tar), IMAGE], env=self.client_env())

    def run_argv(self) -> list[str]:
        return [self.bin, "-H", f"unix://{self.sock}", "run", "--rm", "--network", "none", "--pull", "never",
                IMAGE, "true"]

    def version(self) -> dict[str, str]:
        out = run([self.bin, "-H", f"unix://{self.sock}", "version", "--format", "{{json .}}"],
                  env=self.client_env(), check=False).stdout
        try:
            v = json.loads(out)
            return {"client": v["Client"]["Version"], "server": v["Server"]["Version"]}
        except (ValueError, KeyError, TypeError):
            return {}

    def create_network(self, name: str, bridge: str) -> None:
        """A user-defined bridge network whose bridge is named ``bridge`` (removed at cleanup)."""
        self.bridges.append(bridge)
        run(self.cli("network", "create", "-o", f"com.docker.network.bridge.name={bridge}", name),
            env=self.client_env())

    def cleanup(self) -> None:
        self.remove_all_containers()
        if self.networking is not None and self.proc is not None and self.proc.poll() is None:
            for name in run(self.cli("network", "ls", "-q", "--filter", "type=custom"), env=self.client_env(),
                            check=False, timeout=60).stdout.decode().split():
                run(self.cli("network", "rm", name), env=self.client_env(), check=False, timeout=60)
        stop_process(self.proc, timeout=30)
        # dockerd stops its managed containerd; anything still naming our roots is ours: kill it
        self.remove_roots()
        for bridge in self.bridges:
            delete_bridge(bridge)


# -- measurement ---------------------------------------------------------------------------------
def build_rootfs(path: Path) -> None:
    """The rootfs `kobako image bootstrap busybox` makes: /bin/busybox, applet symlinks, passwd, group."""
    sys.path.insert(0, str(REPO / "src"))
    from kobako.images.bootstrap import applets, ensure_busybox, rootfs_tar

    busybox = ensure_busybox(Path("/bin/busybox"))
    path.write_bytes(rootfs_tar(busybox, applets(busybox), int(busybox.stat().st_mtime)))


# -- machine, arguments, the session that owns everything ----------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    cg2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_mib": mem_kb // 1024,
            "kernel": platform.release(), "python": platform.python_version(),
            "cgroup": "v2" if cg2 else "v1", "loadavg_start": list(os.getloadavg())}


def add_engine_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--docker", default="/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists()
                    else "/usr/bin/docker", help="docker CLI")
    ap.add_argument("--dockerd", default="/usr/sbin/dockerd")
    ap.add_argument("--keep-logs", action="store_true", help="copy the daemons' logs to bench/results/")
    ap.add_argument("--kobako-rev", metavar="REV",
                    help="run kobako from `git archive REV src` (e.g. HEAD) instead of the checkout's src/, "
                         "which may be mid-edit")


def preflight(args: argparse.Namespace, prog: str, extra_tools: tuple[str, ...] = ()) -> int | None:
    """None when the bench can run, else the exit status (after saying why)."""
    if os.geteuid() != 0:
        print(f"{prog}: needs root (both daemons make namespaces, mounts and cgroups)", file=sys.stderr)
        return 2
    for tool in (args.docker, args.dockerd, str(VENV_BIN / "kobako"), str(VENV_BIN / "kobakod"), *extra_tools):
        if not Path(tool).exists():
            print(f"{prog}: {tool} not found", file=sys.stderr)
            return 2
    return None


class Session:
    """Both private daemons with busybox:bench loaded; everything removed on exit, whatever happened."""

    def __init__(self, args: argparse.Namespace, *, load_image: bool = True, tag: str = "",
                 kobako_args: Sequence[str] = (), docker_networking: DockerNetworking | None = None) -> None:
        """``tag``, ``kobako_args``, ``docker_networking``: see Kobako and Docker. With networking, the
        host's network state is captured before either daemon starts and put back at the end."""
        self.args = args
        self.load_image = load_image
        self.stamp = datetime.now(timezone.utc)
        self.tmp = Path(tempfile.mkdtemp(prefix="kobako-bench-"))
        self.kobako = Kobako(self.tmp, tag, kobako_args)
        self.docker = Docker(self.tmp, args.docker, args.dockerd, tag, docker_networking)
        self.host_state: HostNetState | None = None
        self.restored: list[str] = []  # what restoring the host's network state did
        self.engines: list[Engine] = [self.kobako, self.docker]
        self.extra: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.cleanups: list[Any] = []

    def __enter__(self) -> "Session":
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGHUP, _on_signal)
        try:
            src = REPO / "src"
            if getattr(self.args, "kobako_rev", None):
                log(f"extracting src/ at {self.args.kobako_rev}")
                snap = self.tmp / "kobako-src"
                snap.mkdir()
                archive = run(["git", "-C", str(REPO), "archive", self.args.kobako_rev, "src"], timeout=120).stdout
                run(["tar", "-x", "-C", str(snap)], input=archive)
                src = self.kobako.src = snap / "src"
            log("compiling kobako's bytecode")
            run([sys.executable, "-m", "compileall", "-q", str(src)], check=False, timeout=300)
            if self.docker.networking is not None:
                self.host_state = HostNetState()
            log("starting kobakod and dockerd")
            self.kobako.start()
            self.docker.start()
            if self.load_image:
                tar = self.tmp / "rootfs.tar"
                build_rootfs(tar)
                self.kobako.load(tar)
                self.docker.load(tar)
                tar.unlink()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """An extra long-running process (e.g. a registry); logs to <tmp>/<name>.log, stopped at exit."""
        logfile = self.tmp / f"{name}.log"
        with open(logfile, "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                    start_new_session=True)
        self.extra.append((name, proc, logfile))
        return proc

    def versions(self) -> dict[str, str]:
        dv = self.docker.version()
        kv = run(self.kobako.cli("version", "--format", "{{.Server.Version}}"), env=self.kobako.client_env(),
                 check=False).stdout.decode().strip()
        return {"kobako": kv, "kobako_src": self.source(), "docker_client": dv.get("client", ""),
                "dockerd": dv.get("server", "")}

    def source(self) -> str:
        """Which kobako code ran: the revision given, or the checkout's HEAD and whether src/ differs."""
        rev = getattr(self.args, "kobako_rev", None)
        head = run(["git", "-C", str(REPO), "rev-parse", "--short", rev or "HEAD"], check=False).stdout.decode().strip()
        if rev:
            return f"git archive {rev} ({head})"
        dirty = run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], check=False).stdout.decode()
        n = len(dirty.splitlines())
        return f"checkout at {head}" + (f" + {n} uncommitted changes in src/" if n else "")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            logs = [(e.log) for e in self.engines] + [lf for _, _, lf in self.extra]
            for lf in logs:
                if lf.exists():
                    print(f"--- {lf} (tail)\n{lf.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        log("cleaning up")
        if self.args.keep_logs:
            RESULTS.mkdir(parents=True, exist_ok=True)
            for lf in [e.log for e in self.engines] + [lf for _, _, lf in self.extra]:
                if lf.exists():
                    shutil.copy(lf, RESULTS / lf.name)
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning
                log(f"cleanup step failed: {e!r}")
        for name, proc, _ in self.extra:
            try:
                stop_process(proc, timeout=10)
            except Exception as e:
                log(f"stopping {name} failed: {e!r}")
        for e in self.engines:
            try:
                e.cleanup()
            except Exception as err:  # keep cleaning the other one
                log(f"cleanup of {e.name} failed: {err!r}")
        for pid in pids_mentioning(str(self.tmp)):  # anything else still naming our temp dir
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        unmount_under(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.host_state is not None:
            try:
                self.restored = self.host_state.restore(self.docker.bridges)
            except Exception as e:
                log(f"restoring the host's network state failed: {e!r}")
            for what in self.restored:
                log(f"restored: {what}")


def save_result(prefix: str, stamp: datetime, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result.setdefault("machine", {})["loadavg_end"] = list(os.getloadavg())
    out = RESULTS / f"{prefix}-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def header(stamp: datetime, m: dict[str, Any], v: dict[str, str]) -> str:
    la = m.get("loadavg_start", [0, 0, 0])
    return (f"{stamp:%Y-%m-%d %H:%M} UTC  {m['cpus']} CPUs {m['cpu_model']}, kernel {m['kernel']}, "
            f"cgroup {m['cgroup']}, load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}\n"
            f"kobako {v.get('kobako', '?')} [{v.get('kobako_src', '?')}] (Python {m['python']}) vs docker CLI {v.get('docker_client', '?')} / "
            f"dockerd {v.get('dockerd', '?')}")


def ratio(k: float, d: float) -> float:
    return k / d if d else float("nan")


def run_checked(argv: list[str], env: dict[str, str], errfile: Path) -> tuple[float, float]:
    """timed(), raising when the client fails."""
    wall, cpu, code = timed(argv, env, errfile)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{errfile.read_text(errors='replace')[-3000:]}")
    return wall, cpu


def run_main(main: Callable[[], int], name: str) -> None:
    """The scripts' entry point: exit with main()'s status, 130 when interrupted (cleanup has run)."""
    try:
        sys.exit(main())
    except Interrupted as exc:
        print(f"{name}: interrupted ({exc})", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
