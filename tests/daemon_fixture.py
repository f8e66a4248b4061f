"""A kobakod of the test run's own: its data root, exec root, socket and cgroup parent.

Used by tests/integration and tests/e2e.  Teardown removes every container, stops the daemon,
unmounts anything under its roots, and removes its cgroup parent from every hierarchy.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
KOBAKO = str(VENV_BIN / "kobako")
KOBAKOD = str(VENV_BIN / "kobakod")


class Daemon:
    def __init__(self, base: Path, tag: str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.tag = tag or "kobako-test-" + secrets.token_hex(3)
        self.base = base
        self.data_root = base / "data"
        self.exec_root = Path("/run") / self.tag  # short: shim sockets live here (sun_path is 108 bytes)
        self.sock = base / "kobako.sock"
        self.host = f"unix://{self.sock}"
        self.cgroup_parent = "/" + self.tag
        # Links, rules and subnets of this daemon only: "kb" + 6 hex of the tag (leak checks grep kb[0-9a-f]{4,}),
        # subnets from 10.213.0.0/16, ip_forward untouched, no DNS query ever forwarded off the machine.
        self.net_prefix = "kb" + hashlib.sha256(self.tag.encode()).hexdigest()[:6]
        self.net_args = ("--network-prefix", self.net_prefix, "--default-address-pool", "base=10.213.0.0/16,size=24",
                         "--ip-forward=false", "--dns-forward=false")
        self.log = base / "kobakod.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- process ------------------------------------------------------------------------------
    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [KOBAKOD, "-H", self.host, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
             "--cgroup-parent", self.cgroup_parent, *self.net_args, *self.extra_args],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
        )
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kobakod exited {self.proc.returncode}:\n{self.log.read_text()}")
            if self.sock.exists() and self.kobako("version", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"kobakod did not come up:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    # -- clients ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        env["KOBAKO_HOST"] = self.host
        return env

    def kobako(self, *args: str, check: bool = True, input: bytes | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        res = subprocess.run([KOBAKO, *args], env=self.env(), capture_output=True, input=input, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"kobako {' '.join(args)} exited {res.returncode}:\n"
                                 f"stdout: {res.stdout.decode()}\nstderr: {res.stderr.decode()}")
        return res

    def client(self):  # type: ignore[no-untyped-def]
        from kobako.client import Client

        return Client(self.host)

    # -- cleanup ------------------------------------------------------------------------------
    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            ids = self.kobako("ps", "-aq", "--no-trunc", check=False).stdout.decode().split()
            if ids:
                self.kobako("rm", "-f", *ids, check=False)
            self.stop()
        _kill_shims(self.exec_root)
        _unmount_under(self.base)
        _unmount_under(self.exec_root)
        remove_network_leftovers(self.net_prefix)
        remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)


def remove_network_leftovers(prefix: str) -> None:
    """Links and the nftables table of a daemon that could not clean up (e.g. SIGKILLed and not restarted)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if line.count(":") > 1 else ""
        if name.startswith(prefix):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    table = "kobako" if prefix == "kb" else f"kobako_{prefix}"
    subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)


def _kill_shims(exec_root: Path) -> None:
    shims = exec_root / "shims"
    if not shims.exists():
        return
    for pidfile in shims.glob("*.pid"):
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _unmount_under(base: Path) -> None:
    if not base.exists():
        return
    prefix = str(base.resolve())
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for t in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", t], check=False, capture_output=True)


def remove_cgroup_tree(parent: str) -> None:
    roots = [Path("/sys/fs/cgroup")]
    if not (roots[0] / "cgroup.controllers").exists():
        roots = [p for p in Path("/sys/fs/cgroup").iterdir() if p.is_dir()]
    for root in roots:
        top = root / parent.strip("/")
        if not top.exists():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            _kill_cgroup(d)
            try:
                d.rmdir()
            except OSError:
                pass
        _kill_cgroup(top)
        try:
            top.rmdir()
        except OSError:
            pass


def _kill_cgroup(d: Path) -> None:
    try:
        pids = (d / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
    if pids:
        time.sleep(0.1)


def daemon_session(tmp_base: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Daemon]:
    d = Daemon(tmp_base, extra_args=extra_args)
    try:
        d.start()
        yield d
    finally:
        d.cleanup()
