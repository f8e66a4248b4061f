#!/usr/bin/env python3
"""`kobako run --rm busybox true` against `docker run --rm busybox true`, on this machine, same run.

Run as root from the checkout:

    /work/main/.venv/bin/python bench/run_vs_docker.py [--runs 20] [--warmup 3]

Both engines get a private daemon and the identical busybox rootfs (built like ``kobako image
bootstrap busybox`` builds it, then imported into each engine as ``busybox:bench``):

* kobakod on ``unix:///run/kobako-bench.sock``, data root under a temp dir, exec root
  ``/run/kobako-bench-exec``, cgroup parent ``/kobako-bench``;
* Debian's dockerd on ``unix:///run/kobako-bench-docker.sock`` with its own data root (temp dir),
  exec root ``/run/kobako-bench-docker-exec`` (its managed containerd keeps its state there), pid file,
  cgroup parent ``/kobako-bench-docker`` and no network set-up at all (``--bridge=none``, no iptables,
  no ip-forward/masquerade changes); containers run with ``--network none``, since kobako has no
  networking yet (both engines still give the container its own network namespace).

The timed unit is the whole client process (``kobako`` from the venv, bytecode compiled; the docker
CLI), warm-ups first, then ``--runs`` runs of each, interleaved. Optionally (default on) the daemon-side
latency of create+start+wait (and the delete) is timed through the Engine API over the unix socket,
identically for both daemons. Results go to ``bench/results/run_vs_docker-<UTC time>.json``.

Everything is cleaned up at the end, even on failure or Ctrl-C: containers, both daemons (and the
managed containerd and its shims), mounts under the roots, the roots themselves, the sockets and the
cgroup parents in every hierarchy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
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


# -- the two engines -----------------------------------------------------------------------------
class Engine:
    name: str
    sock: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def client_env(self) -> dict[str, str]:
        raise NotImplementedError

    def run_argv(self) -> list[str]:
        raise NotImplementedError

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

    def __init__(self, tmp: Path) -> None:
        self.sock = KOBAKO_SOCK
        self.data = tmp / "kobako-data"
        self.log = tmp / "kobakod.log"
        self.bin = str(VENV_BIN / "kobako")

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["KOBAKO_HOST"] = f"unix://{self.sock}"
        return env

    def start(self) -> None:
        for p in (self.sock, KOBAKO_EXEC):
            if p.exists():
                raise RuntimeError(f"{p} exists: another bench running, or a leftover; remove it first")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "kobakod"), "-H", f"unix://{self.sock}", "--data-root", str(self.data),
                 "--exec-root", str(KOBAKO_EXEC), "--cgroup-parent", KOBAKO_CGROUP],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=self.client_env(),
                start_new_session=True,
            )
        self.wait_up(self.log, "kobakod")

    def load(self, tar: Path) -> None:
        run([self.bin, "import", "-c", 'CMD ["sh"]', "-c", f"ENV {PATH_ENV}", str(tar), IMAGE],
            env=self.client_env())

    def run_argv(self) -> list[str]:
        return [self.bin, "run", "--rm", IMAGE, "true"]

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None and answers(self.sock):
            try:
                ids = run([self.bin, "ps", "-aq", "--no-trunc"], env=self.client_env(), check=False,
                          timeout=30).stdout.decode().split()
                if ids:
                    run([self.bin, "rm", "-f", *ids], env=self.client_env(), check=False, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)
        shims = KOBAKO_EXEC / "shims"
        if shims.is_dir():
            for pidfile in shims.glob("*.pid"):
                try:
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for pid in pids_mentioning(str(KOBAKO_EXEC), str(self.data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        unmount_under(self.data, KOBAKO_EXEC)
        remove_cgroup(KOBAKO_CGROUP)
        shutil.rmtree(KOBAKO_EXEC, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
        self.sock.unlink(missing_ok=True)


class Docker(Engine):
    name = "docker"

    def __init__(self, tmp: Path, docker: str, dockerd: str) -> None:
        self.sock = DOCKER_SOCK
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
        for p in (self.sock, DOCKER_EXEC):
            if p.exists():
                raise RuntimeError(f"{p} exists: another bench running, or a leftover; remove it first")
        self.config.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [self.dockerd, "-H", f"unix://{self.sock}", "--data-root", str(self.data),
                 "--exec-root", str(DOCKER_EXEC), "--pidfile", str(self.pidfile),
                 "--cgroup-parent", DOCKER_CGROUP, "--bridge=none", "--iptables=false", "--ip6tables=false",
                 "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
                 "--storage-driver=overlay2", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=self.client_env(),
                start_new_session=True,
            )
        self.wait_up(self.log, "dockerd")

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

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None and answers(self.sock):
            try:
                ids = run([self.bin, "-H", f"unix://{self.sock}", "ps", "-aq", "--no-trunc"],
                          env=self.client_env(), check=False, timeout=30).stdout.decode().split()
                if ids:
                    run([self.bin, "-H", f"unix://{self.sock}", "rm", "-f", *ids], env=self.client_env(),
                        check=False, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc, timeout=30)
        # dockerd stops its managed containerd; anything still naming our roots is ours: kill it
        for pid in pids_mentioning(str(DOCKER_EXEC), str(self.data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        unmount_under(self.data, DOCKER_EXEC)
        remove_cgroup(DOCKER_CGROUP)
        shutil.rmtree(DOCKER_EXEC, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
        self.sock.unlink(missing_ok=True)


# -- measurement ---------------------------------------------------------------------------------
def build_rootfs(path: Path) -> None:
    """The rootfs `kobako image bootstrap busybox` makes: /bin/busybox, applet symlinks, passwd, group."""
    sys.path.insert(0, str(REPO / "src"))
    from kobako.images.bootstrap import applets, ensure_busybox, rootfs_tar

    busybox = ensure_busybox(Path("/bin/busybox"))
    path.write_bytes(rootfs_tar(busybox, applets(busybox), int(busybox.stat().st_mtime)))


Samples = dict[str, dict[str, list[float]]]


def client_runs(engines: list[Engine], warmup: int, runs: int, tmp: Path) -> Samples:
    res: Samples = {e.name: {"wall": [], "cpu": []} for e in engines}
    for i in range(warmup + runs):
        order = engines if i % 2 == 0 else list(reversed(engines))
        for e in order:
            errfile = tmp / f"{e.name}.stderr"
            wall, cpu, code = timed(e.run_argv(), e.client_env(), errfile)
            if code != 0:
                raise RuntimeError(f"{' '.join(e.run_argv())} exited {code}:\n{errfile.read_text()}")
            if i >= warmup:
                res[e.name]["wall"].append(wall)
                res[e.name]["cpu"].append(cpu)
    return res


def api_once(e: Engine) -> tuple[float, float]:
    t0 = time.perf_counter()
    status, body = api(e.sock, "POST", "/containers/create", e.api_create_body())
    if status != 201:
        raise RuntimeError(f"{e.name}: create answered {status}: {body}")
    cid = body["Id"]
    try:
        status, body = api(e.sock, "POST", f"/containers/{cid}/start")
        if status != 204:
            raise RuntimeError(f"{e.name}: start answered {status}: {body}")
        status, body = api(e.sock, "POST", f"/containers/{cid}/wait")
        if status != 200 or body.get("StatusCode") != 0:
            raise RuntimeError(f"{e.name}: wait answered {status}: {body}")
        t1 = time.perf_counter()
    finally:
        t2 = time.perf_counter()
        status, body = api(e.sock, "DELETE", f"/containers/{cid}?force=1")
        t3 = time.perf_counter()
    if status != 204:
        raise RuntimeError(f"{e.name}: delete answered {status}: {body}")
    return t1 - t0, t3 - t2


def api_runs(engines: list[Engine], warmup: int, runs: int) -> Samples:
    res: Samples = {e.name: {"create_start_wait": [], "delete": []} for e in engines}
    for i in range(warmup + runs):
        order = engines if i % 2 == 0 else list(reversed(engines))
        for e in order:
            csw, rm = api_once(e)
            if i >= warmup:
                res[e.name]["create_start_wait"].append(csw)
                res[e.name]["delete"].append(rm)
    return res


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
            "cgroup": "v2" if cg2 else "v1"}


def table(rows: list[tuple[str, dict[str, float], dict[str, float]]]) -> str:
    out = [f"{'measure':<34}{'kobako med':>11}{'docker med':>11}{'ratio':>8}"
           "   kobako min/max      docker min/max"]
    for label, k, d in rows:
        ratio = k["median"] / d["median"] if d["median"] else float("nan")
        out.append(f"{label:<34}{k['median'] * 1000:>9.1f}ms{d['median'] * 1000:>9.1f}ms{ratio:>8.2f}   "
                   f"{k['min'] * 1000:6.1f}/{k['max'] * 1000:6.1f}ms   "
                   f"{d['min'] * 1000:6.1f}/{d['max'] * 1000:6.1f}ms")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per engine first (default 3)")
    ap.add_argument("--docker", default="/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists()
                    else "/usr/bin/docker", help="docker CLI")
    ap.add_argument("--dockerd", default="/usr/sbin/dockerd")
    ap.add_argument("--no-api", action="store_true", help="skip the daemon-side (API) timing")
    ap.add_argument("--keep-logs", action="store_true", help="copy the daemons' logs to bench/results/")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run_vs_docker: needs root (both daemons make namespaces, mounts and cgroups)", file=sys.stderr)
        return 2
    for tool in (args.docker, args.dockerd, str(VENV_BIN / "kobako"), str(VENV_BIN / "kobakod")):
        if not Path(tool).exists():
            print(f"run_vs_docker: {tool} not found", file=sys.stderr)
            return 2

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    log("compiling kobako's bytecode")
    run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=False, timeout=300)

    tmp = Path(tempfile.mkdtemp(prefix="kobako-bench-"))
    kobako = Kobako(tmp)
    docker = Docker(tmp, args.docker, args.dockerd)
    engines: list[Engine] = [kobako, docker]
    stamp = datetime.now(timezone.utc)
    try:
        tar = tmp / "rootfs.tar"
        build_rootfs(tar)
        log("starting kobakod and dockerd")
        kobako.start()
        docker.start()
        kobako.load(tar)
        docker.load(tar)
        log(f"client: {args.warmup} warm-up + {args.runs} timed runs each, interleaved")
        cli = client_runs(engines, args.warmup, args.runs, tmp)
        api_res: dict[str, dict[str, list[float]]] = {}
        if not args.no_api:
            log(f"API: {args.warmup} warm-up + {args.runs} timed create+start+wait each, interleaved")
            api_res = api_runs(engines, args.warmup, args.runs)
        dv = docker.version()
        kv = run([kobako.bin, "version", "--format", "{{.Server.Version}}"], env=kobako.client_env(),
                 check=False).stdout.decode().strip()
    except BaseException:
        for e in engines:
            if e.log.exists():
                tail = e.log.read_text(errors="replace")[-3000:]
                print(f"--- {e.log} (tail)\n{tail}", file=sys.stderr)
        raise
    finally:
        log("cleaning up")
        if args.keep_logs:
            RESULTS.mkdir(parents=True, exist_ok=True)
            for e in engines:
                if e.log.exists():
                    shutil.copy(e.log, RESULTS / e.log.name)
        for e in engines:
            try:
                e.cleanup()
            except Exception as exc:  # keep cleaning the other one
                log(f"cleanup of {e.name} failed: {exc!r}")
        unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)

    k_wall, d_wall = stats(cli["kobako"]["wall"]), stats(cli["docker"]["wall"])
    rows = [
        ("client wall: run --rm busybox true", k_wall, d_wall),
        ("client CPU (user+sys)", stats(cli["kobako"]["cpu"]), stats(cli["docker"]["cpu"])),
    ]
    result: dict[str, Any] = {
        "date": stamp.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {"kobako": kv, "docker_client": dv.get("client", ""), "dockerd": dv.get("server", "")},
        "runs": args.runs, "warmup": args.warmup,
        "commands": {"kobako": kobako.run_argv(), "docker": docker.run_argv()},
        "client": {e: {k: {"samples": v, **stats(v)} for k, v in m.items()} for e, m in cli.items()},
        "ratio_median_wall": k_wall["median"] / d_wall["median"],
    }
    if api_res:
        ka, da = stats(api_res["kobako"]["create_start_wait"]), stats(api_res["docker"]["create_start_wait"])
        rows.append(("API create+start+wait", ka, da))
        rows.append(("API delete", stats(api_res["kobako"]["delete"]), stats(api_res["docker"]["delete"])))
        result["api"] = {e: {k: {"samples": v, **stats(v)} for k, v in m.items()} for e, m in api_res.items()}
        result["ratio_median_api"] = ka["median"] / da["median"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"run_vs_docker-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    m = result["machine"]
    print(f"{stamp:%Y-%m-%d %H:%M} UTC  {m['cpus']} CPUs {m['cpu_model']}, kernel {m['kernel']}, "
          f"cgroup {m['cgroup']}")
    print(f"kobako {kv} (Python {m['python']}) vs docker CLI {dv.get('client', '?')} / "
          f"dockerd {dv.get('server', '?')}; {args.runs} runs each after {args.warmup} warm-ups")
    print(table(rows))
    ratio = result["ratio_median_wall"]
    verdict = "meets" if ratio <= 0.5 else "misses"
    print(f"kobako/docker median wall = {ratio:.2f}  ({verdict} the goal of <= 0.50)")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as exc:
        print(f"run_vs_docker: interrupted ({exc})", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
