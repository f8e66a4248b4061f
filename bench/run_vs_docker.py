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

Everything is cleaned up at the end (bench/_engines.py, shared by all bench scripts), even on failure or Ctrl-C: containers, both daemons (and the
managed containerd and its shims), mounts under the roots, the roots themselves, the sockets and the
cgroup parents in every hierarchy.
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
    Engine, Session, add_engine_args, api, header, log, preflight, save_result, stats,
    timed, machine,
)


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
    ap.add_argument("--no-api", action="store_true", help="skip the daemon-side (API) timing")
    add_engine_args(ap)
    args = ap.parse_args()
    if (code := preflight(args, "run_vs_docker")) is not None:
        return code

    m = machine()
    with Session(args) as s:
        kobako, docker, engines = s.kobako, s.docker, s.engines
        log(f"client: {args.warmup} warm-up + {args.runs} timed runs each, interleaved")
        cli = client_runs(engines, args.warmup, args.runs, s.tmp)
        api_res: dict[str, dict[str, list[float]]] = {}
        if not args.no_api:
            log(f"API: {args.warmup} warm-up + {args.runs} timed create+start+wait each, interleaved")
            api_res = api_runs(engines, args.warmup, args.runs)
        v = s.versions()
        commands = {"kobako": kobako.run_argv(), "docker": docker.run_argv()}
    stamp = s.stamp

    k_wall, d_wall = stats(cli["kobako"]["wall"]), stats(cli["docker"]["wall"])
    rows = [
        ("client wall: run --rm busybox true", k_wall, d_wall),
        ("client CPU (user+sys)", stats(cli["kobako"]["cpu"]), stats(cli["docker"]["cpu"])),
    ]
    result: dict[str, Any] = {
        "date": stamp.isoformat(timespec="seconds"),
        "machine": m,
        "versions": v,
        "runs": args.runs, "warmup": args.warmup,
        "commands": commands,
        "client": {e: {k: {"samples": x, **stats(x)} for k, x in mm.items()} for e, mm in cli.items()},
        "ratio_median_wall": k_wall["median"] / d_wall["median"],
    }
    if api_res:
        ka, da = stats(api_res["kobako"]["create_start_wait"]), stats(api_res["docker"]["create_start_wait"])
        rows.append(("API create+start+wait", ka, da))
        rows.append(("API delete", stats(api_res["kobako"]["delete"]), stats(api_res["docker"]["delete"])))
        result["api"] = {e: {k: {"samples": x, **stats(x)} for k, x in mm.items()} for e, mm in api_res.items()}
        result["ratio_median_api"] = ka["median"] / da["median"]
    out = save_result("run_vs_docker", stamp, result)

    print(header(stamp, m, v))
    print(f"{args.runs} runs each after {args.warmup} warm-ups")
    print(table(rows))
    ratio = result["ratio_median_wall"]
    verdict = "meets" if ratio <= 0.5 else "misses"
    print(f"kobako/docker median wall = {ratio:.2f}  ({verdict} the goal of <= 0.50)")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    run_main(main, "run_vs_docker")
