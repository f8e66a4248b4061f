#!/usr/bin/env python3
"""Container lifecycle, kobako against Docker in the same run (issue 3): exec latency, start of 50
detached containers, per-container memory overhead (shim + daemon, PSS), and `ps` latency with 50
containers running.

Run as root from the checkout:

    /work/main/.venv/bin/python bench/lifecycle_vs_docker.py [--runs 20] [--containers 50] [--quick]

Both engines get a private daemon and the identical busybox rootfs (bench/_engines.py, as for
run_vs_docker.py); all containers run with ``--network none``.

1. exec: one ``busybox:bench sleep 600`` container per engine; ``kobako exec C true`` against
   ``docker exec C true``, the whole client process, warm-ups then ``--runs`` runs interleaved.
2. start: ``run -d --network none busybox:bench sleep 600`` × ``--containers``, one client process each,
   interleaved kobako/docker; the figure is the sum of the client wall times (the total time to get them
   all started), plus the per-container median.
3. memory: Pss (``/proc/<pid>/smaps_rollup``) of each engine's processes before the containers are started
   and after, with the containers running:
   kobako = kobakod + its shim spawner + the shims (pids from ``<exec-root>/shims/*.pid``);
   docker = dockerd + its managed containerd + the ``containerd-shim-runc-v2`` processes.
   Overhead per container = (sum after - sum before) / containers.  The containers' own processes
   (``sleep``) are not counted for either.  Also printed, for information: the anonymous part of it
   (Pss_Anon, which reclaim of file pages cannot move) and the per-shim Pss / anon / private dirty.
4. ps: ``kobako ps`` against ``docker ps`` with the containers running, interleaved.
5. the removal of all of them (``rm -f`` of every id in one client call) is timed too, for information.

Results go to ``bench/results/lifecycle_vs_docker-<UTC time>.json``; everything is cleaned up at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engines import (  # noqa: E402
    run_main,
    IMAGE, Engine, Session, add_engine_args, api, header, log, machine, preflight,
    ratio, run, run_checked, save_result, stats,
)


def detached_argv(e: Engine, *cmd: str) -> list[str]:
    # kobako's run has no --network yet; like docker's --network none it gives the container its own
    # network namespace with only lo (see run_vs_docker.py)
    extra = ["--network", "none", "--pull", "never"] if e.name == "docker" else []
    return e.cli("run", "-d", *extra, IMAGE, *cmd)


def start_one(e: Engine, tmp: Path) -> tuple[str, float]:
    argv = detached_argv(e, "sleep", "600")
    out = tmp / f"{e.name}.out"
    t0 = time.perf_counter()
    res = run(argv, env=e.client_env(), check=False, timeout=120)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{res.stderr.decode(errors='replace')}")
    out.write_bytes(res.stdout)
    return res.stdout.decode().strip(), wall


def interleaved(engines: list[Engine], warmup: int, runs: int, argv_of: Any, tmp: Path,
                cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Client wall times (and, into ``cpu``, the client's user+sys CPU) of warm-ups + runs, interleaved."""
    res: dict[str, list[float]] = {e.name: [] for e in engines}
    for i in range(warmup + runs):
        for e in (engines if i % 2 == 0 else list(reversed(engines))):
            wall, used = run_checked(argv_of(e), e.client_env(), tmp / f"{e.name}.stderr")
            if i >= warmup:
                res[e.name].append(wall)
                if cpu is not None:
                    cpu.setdefault(e.name, []).append(used)
    return res


def api_exec(e: Engine, cid: str) -> float:
    """Daemon side of `exec C true`: create the exec, start it attached (output read to the end), inspect."""
    t0 = time.perf_counter()
    status, body = api(e.sock, "POST", f"/containers/{cid}/exec",
                       {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True})
    if status != 201:
        raise RuntimeError(f"{e.name}: exec create answered {status}: {body}")
    eid = body["Id"]
    status, body = api(e.sock, "POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
    if status != 200:
        raise RuntimeError(f"{e.name}: exec start answered {status}: {body}")
    status, body = api(e.sock, "GET", f"/exec/{eid}/json")
    wall = time.perf_counter() - t0
    if status != 200 or body.get("ExitCode") != 0 or body.get("Running"):
        raise RuntimeError(f"{e.name}: exec inspect answered {status}: {body}")
    return wall


def api_ps(e: Engine, n: int) -> float:
    t0 = time.perf_counter()
    status, body = api(e.sock, "GET", "/containers/json")
    wall = time.perf_counter() - t0
    if status != 200 or len(body) != n:
        raise RuntimeError(f"{e.name}: GET /containers/json answered {status} with {len(body or [])} items")
    return wall


def api_interleaved(engines: list[Engine], warmup: int, runs: int, fn: Any) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {e.name: [] for e in engines}
    for i in range(warmup + runs):
        for e in (engines if i % 2 == 0 else list(reversed(engines))):
            wall = fn(e)
            if i >= warmup:
                res[e.name].append(wall)
    return res


ROLLUP = {"Rss": "rss", "Pss": "pss", "Pss_Anon": "pss_anon", "Pss_File": "pss_file",
          "Private_Dirty": "private_dirty"}


def rollup(pid: int) -> dict[str, int]:
    """KiB from /proc/<pid>/smaps_rollup (zeros if the process is gone).  Besides Pss (the goal), the
    anonymous part: file-backed pages (binaries, libraries) can be evicted at any time by the
    kernel's reclaim (this VM runs a DAMON pageout scheme), which moves Pss without any allocation."""
    out = dict.fromkeys(ROLLUP.values(), 0)
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ROLLUP:
                out[ROLLUP[key]] = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return out


def memory(e: Engine) -> dict[str, Any]:
    daemons = {name: rollup(pid) for name, pid in e.daemon_pids().items()}
    shims = [rollup(pid) for pid in e.shim_pids()]
    out: dict[str, Any] = {"daemons": daemons, "shims": len(shims)}
    for key in ROLLUP.values():
        out[f"shims_{key}_kib"] = sum(m[key] for m in shims)
        out[f"total_{key}_kib"] = sum(m[key] for m in daemons.values()) + out[f"shims_{key}_kib"]
    return out


def settle(seconds: float) -> None:
    time.sleep(seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="timed exec and ps runs per engine (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per engine first (default 3)")
    ap.add_argument("--containers", type=int, default=50, help="detached containers per engine (default 50)")
    ap.add_argument("--quick", action="store_true", help="10 runs, 10 containers")
    add_engine_args(ap)
    args = ap.parse_args()
    if args.quick:
        args.runs, args.warmup, args.containers = 10, 2, 10
    if (code := preflight(args, "lifecycle_vs_docker")) is not None:
        return code

    m = machine()
    n = args.containers
    with Session(args) as s:
        engines = s.engines
        # 1. exec latency on a running container
        sleeper = {e.name: start_one(e, s.tmp)[0] for e in engines}
        log(f"exec: {args.warmup} warm-up + {args.runs} timed runs each, interleaved")
        exec_cpu: dict[str, list[float]] = {}
        execs = interleaved(engines, args.warmup, args.runs, lambda e: e.cli("exec", sleeper[e.name], "true"),
                            s.tmp, exec_cpu)
        api_execs = api_interleaved(engines, args.warmup, args.runs, lambda e: api_exec(e, sleeper[e.name]))
        for e in engines:
            run(e.cli("rm", "-f", sleeper[e.name]), env=e.client_env(), timeout=60)
        settle(2)

        # 2./3. start N detached containers; memory before/after
        mem_before = {e.name: memory(e) for e in engines}
        log(f"start: {n} detached containers per engine, interleaved")
        starts: dict[str, list[float]] = {e.name: [] for e in engines}
        ids: dict[str, list[str]] = {e.name: [] for e in engines}
        for i in range(n):
            for e in (engines if i % 2 == 0 else list(reversed(engines))):
                cid, wall = start_one(e, s.tmp)
                ids[e.name].append(cid)
                starts[e.name].append(wall)
        settle(3)
        mem_after = {e.name: memory(e) for e in engines}
        for e in engines:
            if mem_after[e.name]["shims"] < n:
                raise RuntimeError(f"{e.name}: found {mem_after[e.name]['shims']} shims for {n} containers")

        # 4. ps with N running
        log(f"ps: {args.warmup} warm-up + {args.runs} timed runs each with {n} running, interleaved")
        ps_cpu: dict[str, list[float]] = {}
        ps = interleaved(engines, args.warmup, args.runs, lambda e: e.cli("ps"), s.tmp, ps_cpu)
        api_pss = api_interleaved(engines, args.warmup, args.runs, lambda e: api_ps(e, n))
        for e in engines:
            lines = run(e.cli("ps", "-q"), env=e.client_env()).stdout.decode().split()
            if len(lines) != n:
                raise RuntimeError(f"{e.name} ps lists {len(lines)} containers, expected {n}")

        # 5. removal, for information
        rm: dict[str, float] = {}
        for e in engines:
            t0 = time.perf_counter()
            run(e.cli("rm", "-f", *ids[e.name]), env=e.client_env(), timeout=600)
            rm[e.name] = time.perf_counter() - t0
        v = s.versions()
    stamp = s.stamp

    per: dict[str, float] = {}
    per_anon: dict[str, float] = {}
    for name in ("kobako", "docker"):
        per[name] = (mem_after[name]["total_pss_kib"] - mem_before[name]["total_pss_kib"]) / n
        per_anon[name] = (mem_after[name]["total_pss_anon_kib"] - mem_before[name]["total_pss_anon_kib"]) / n
    ex = {k: stats(x) for k, x in execs.items()}
    st = {k: stats(x) for k, x in starts.items()}
    pss = {k: stats(x) for k, x in ps.items()}
    total = {k: sum(x) for k, x in starts.items()}
    result: dict[str, Any] = {
        "date": stamp.isoformat(timespec="seconds"), "machine": m, "versions": v,
        "runs": args.runs, "warmup": args.warmup, "containers": n,
        "exec": {k: {"samples": x, **ex[k]} for k, x in execs.items()},
        "start": {k: {"samples": x, "total": total[k], **st[k]} for k, x in starts.items()},
        "memory": {"before": mem_before, "after": mem_after, "per_container_pss_kib": per,
                   "per_container_pss_anon_kib": per_anon},
        "ps": {k: {"samples": x, **pss[k]} for k, x in ps.items()},
        "exec_client_cpu": {k: {"samples": x, **stats(x)} for k, x in exec_cpu.items()},
        "ps_client_cpu": {k: {"samples": x, **stats(x)} for k, x in ps_cpu.items()},
        "api_exec": {k: {"samples": x, **stats(x)} for k, x in api_execs.items()},
        "api_ps": {k: {"samples": x, **stats(x)} for k, x in api_pss.items()},
        "rm_all": rm,
        "ratios": {
            "exec_median": ratio(ex["kobako"]["median"], ex["docker"]["median"]),
            "start_total": ratio(total["kobako"], total["docker"]),
            "memory_per_container": ratio(per["kobako"], per["docker"]),
            "ps_median": ratio(pss["kobako"]["median"], pss["docker"]["median"]),
        },
    }
    out = save_result("lifecycle_vs_docker", stamp, result)

    print(header(stamp, m, v))
    r = result["ratios"]
    print(f"{'measure':<44}{'kobako':>12}{'docker':>12}{'ratio':>8}  goal <= 1")
    rows = [
        ("exec C true, client wall median", f"{ex['kobako']['median'] * 1000:.1f} ms",
         f"{ex['docker']['median'] * 1000:.1f} ms", r["exec_median"]),
        (f"start {n} x run -d, total wall", f"{total['kobako']:.2f} s", f"{total['docker']:.2f} s",
         r["start_total"]),
        ("  per container, median", f"{st['kobako']['median'] * 1000:.1f} ms",
         f"{st['docker']['median'] * 1000:.1f} ms", ratio(st["kobako"]["median"], st["docker"]["median"])),
        ("memory per container (PSS)", f"{per['kobako'] / 1024:.2f} MiB", f"{per['docker'] / 1024:.2f} MiB",
         r["memory_per_container"]),
        ("  of which anonymous (Pss_Anon, info)", f"{per_anon['kobako'] / 1024:.2f} MiB",
         f"{per_anon['docker'] / 1024:.2f} MiB", ratio(per_anon["kobako"], per_anon["docker"])),
        (f"ps with {n} running, client wall median", f"{pss['kobako']['median'] * 1000:.1f} ms",
         f"{pss['docker']['median'] * 1000:.1f} ms", r["ps_median"]),
        ("  exec client CPU user+sys (info)", f"{stats(exec_cpu['kobako'])['median'] * 1000:.1f} ms",
         f"{stats(exec_cpu['docker'])['median'] * 1000:.1f} ms",
         ratio(stats(exec_cpu["kobako"])["median"], stats(exec_cpu["docker"])["median"])),
        ("  ps client CPU user+sys (info)", f"{stats(ps_cpu['kobako'])['median'] * 1000:.1f} ms",
         f"{stats(ps_cpu['docker'])['median'] * 1000:.1f} ms",
         ratio(stats(ps_cpu["kobako"])["median"], stats(ps_cpu["docker"])["median"])),
        ("  API exec create+start+inspect (info)", f"{stats(api_execs['kobako'])['median'] * 1000:.1f} ms",
         f"{stats(api_execs['docker'])['median'] * 1000:.1f} ms",
         ratio(stats(api_execs["kobako"])["median"], stats(api_execs["docker"])["median"])),
        ("  API GET /containers/json (info)", f"{stats(api_pss['kobako'])['median'] * 1000:.1f} ms",
         f"{stats(api_pss['docker'])['median'] * 1000:.1f} ms",
         ratio(stats(api_pss["kobako"])["median"], stats(api_pss["docker"])["median"])),
        (f"rm -f of {n} (one call, info)", f"{rm['kobako']:.2f} s", f"{rm['docker']:.2f} s",
         ratio(rm["kobako"], rm["docker"])),
    ]
    for label, k, d, q in rows:
        mark = "" if label.startswith(("  ", "rm")) else ("  met" if q <= 1 else "  MISSED")
        print(f"{label:<44}{k:>12}{d:>12}{q:>8.2f}{mark}")
    for name in ("kobako", "docker"):
        b, a = mem_before[name], mem_after[name]

        def mib(which: dict[str, Any], d: str, key: str) -> str:
            return f"{which['daemons'].get(d, {}).get(key, 0) / 1024:.1f}"

        parts = ", ".join(f"{d} {mib(b, d, 'pss')}->{mib(a, d, 'pss')} (anon {mib(b, d, 'pss_anon')}->"
                          f"{mib(a, d, 'pss_anon')})" for d in a["daemons"])
        k = max(a["shims"], 1) * 1024
        print(f"  {name} PSS MiB: {parts}, {a['shims']} shims {a['shims_pss_kib'] / 1024:.1f} "
              f"(RSS {a['shims_rss_kib'] / 1024:.1f}); per shim PSS {a['shims_pss_kib'] / k:.2f}, "
              f"anon {a['shims_pss_anon_kib'] / k:.2f}, private dirty {a['shims_private_dirty_kib'] / k:.2f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    run_main(main, "lifecycle_vs_docker")
