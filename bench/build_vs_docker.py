#!/usr/bin/env python3
"""`kobako build` against Docker's legacy builder (`DOCKER_BUILDKIT=0 docker build`) in the same run
(issue 4): a 10-step RUN Dockerfile and a 5,000-file / 50 MB context with one COPY, each cold
(`--no-cache`) and fully cached.

Run as root from the checkout:

    /work/main/.venv/bin/python bench/build_vs_docker.py [--cold-runs 2] [--cached-runs 3] [--quick]

Both engines get a private daemon and the identical busybox rootfs as ``busybox:bench``
(bench/_engines.py). The two build contexts are generated in the temp dir:

* ``runs/``: a Dockerfile ``FROM busybox:bench`` + ``RUN echo N > /fN`` for N = 1..10, nothing else;
* ``copy/``: a Dockerfile ``FROM busybox:bench`` + ``COPY . /ctx`` and 5,000 files of 10,000 bytes
  (50 MB) in 50 directories, their content from a seeded PRNG (same bytes every time, incompressible).

Timed unit: the whole client process, ``kobako build --network none -t T CTX`` against
``DOCKER_BUILDKIT=0 docker build --network none -t T CTX`` (both send the context as a tar stream; the
RUN steps run with no network: dockerd runs with ``--bridge=none``). Cold = ``--no-cache``; cached = the
same command again after a build of the same context (every step reused). Runs are interleaved
(kobako, docker, docker, kobako, ...). Each cached build is checked to have reused every step
(``Using cache`` for docker, the same image id as the first build for both).

Goal (issue 4): cached at most 1/3 of Docker's time, cold at most Docker's.
Results go to ``bench/results/build_vs_docker-<UTC time>.json``; everything is cleaned up at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engines import (  # noqa: E402
    run_main,
    IMAGE, Engine, Session, add_engine_args, header, log, machine, preflight, ratio, run,
    save_result, stats,
)


def make_runs_context(d: Path, steps: int) -> None:
    d.mkdir()
    lines = [f"FROM {IMAGE}"] + [f"RUN echo {i} > /f{i}" for i in range(1, steps + 1)]
    (d / "Dockerfile").write_text("\n".join(lines) + "\n")


def make_copy_context(d: Path, files: int, size: int, seed: int = 4) -> int:
    d.mkdir()
    (d / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY . /ctx\n")
    rng = random.Random(seed)
    per_dir = 100
    total = 0
    for i in range(files):
        sub = d / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            sub.mkdir()
        (sub / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
        total += size
    return total


def build_argv(e: Engine, ctx: Path, tag: str, no_cache: bool) -> list[str]:
    return e.cli("build", "--network", "none", *(["--no-cache"] if no_cache else []), "-t", tag, str(ctx))


def build_env(e: Engine) -> dict[str, str]:
    env = e.client_env()
    if e.name == "docker":
        env["DOCKER_BUILDKIT"] = "0"
    return env


def image_id(e: Engine, tag: str) -> str:
    return run(e.cli("image", "inspect", "--format", "{{.Id}}", tag), env=e.client_env()).stdout.decode().strip()


def timed_build(e: Engine, ctx: Path, tag: str, no_cache: bool) -> tuple[float, str]:
    argv = build_argv(e, ctx, tag, no_cache)
    t0 = time.perf_counter()
    res = run(argv, env=build_env(e), check=False, timeout=600)
    wall = time.perf_counter() - t0
    out = (res.stdout + res.stderr).decode(errors="replace")
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{out[-3000:]}")
    return wall, out


def bench_context(engines: list[Engine], ctx: Path, tag: str, steps: int, cold_runs: int,
                  cached_runs: int) -> dict[str, Any]:
    cold: dict[str, list[float]] = {e.name: [] for e in engines}
    cached: dict[str, list[float]] = {e.name: [] for e in engines}
    for i in range(cold_runs):
        for e in (engines if i % 2 == 0 else list(reversed(engines))):
            wall, _ = timed_build(e, ctx, tag, no_cache=True)
            cold[e.name].append(wall)
    # one build with the cache on to make sure the cache holds this exact context (--no-cache builds
    # may or may not feed it), then the timed cached ones
    ref = {}
    for e in engines:
        timed_build(e, ctx, tag, no_cache=False)
        ref[e.name] = image_id(e, tag)
    for i in range(cached_runs):
        for e in (engines if i % 2 == 0 else list(reversed(engines))):
            wall, out = timed_build(e, ctx, tag, no_cache=False)
            if image_id(e, tag) != ref[e.name]:
                raise RuntimeError(f"{e.name}: cached build of {ctx.name} made a new image:\n{out[-3000:]}")
            if out.count("Using cache") < steps:
                raise RuntimeError(f"{e.name}: cached build of {ctx.name} did not reuse all {steps} steps:\n"
                                   f"{out[-3000:]}")
            cached[e.name].append(wall)
    return {"cold": cold, "cached": cached}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cold-runs", type=int, default=2, help="timed --no-cache builds per engine and case (default 2)")
    ap.add_argument("--cached-runs", type=int, default=3, help="timed cached builds per engine and case (default 3)")
    ap.add_argument("--files", type=int, default=5000, help="files in the COPY context (default 5000)")
    ap.add_argument("--file-size", type=int, default=10_000, help="bytes per file (default 10000)")
    ap.add_argument("--quick", action="store_true", help="2 cold + 3 cached runs, 1,000 files / 10 MB")
    add_engine_args(ap)
    args = ap.parse_args()
    if args.quick:
        args.cold_runs, args.cached_runs, args.files = 2, 3, 1000
    if (code := preflight(args, "build_vs_docker")) is not None:
        return code

    m = machine()
    steps = 10
    with Session(args) as s:
        runs_ctx = s.tmp / "runs"
        copy_ctx = s.tmp / "copy"
        make_runs_context(runs_ctx, steps)
        size = make_copy_context(copy_ctx, args.files, args.file_size)
        log(f"10-step RUN Dockerfile: {args.cold_runs} cold + {args.cached_runs} cached builds each, interleaved")
        res_runs = bench_context(s.engines, runs_ctx, "runs:bench", steps, args.cold_runs, args.cached_runs)
        log(f"COPY of {args.files} files / {size / 1e6:.0f} MB: {args.cold_runs} cold + {args.cached_runs} "
            "cached builds each, interleaved")
        res_copy = bench_context(s.engines, copy_ctx, "copy:bench", 1, args.cold_runs, args.cached_runs)
        v = s.versions()
    stamp = s.stamp

    cases = {"runs10": res_runs, "copy": res_copy}
    summary: dict[str, Any] = {}
    for case, res in cases.items():
        for kind in ("cold", "cached"):
            k, d = stats(res[kind]["kobako"]), stats(res[kind]["docker"])
            summary[f"{case}_{kind}"] = {"kobako": {"samples": res[kind]["kobako"], **k},
                                         "docker": {"samples": res[kind]["docker"], **d},
                                         "ratio_median": ratio(k["median"], d["median"])}
    result = {"date": stamp.isoformat(timespec="seconds"), "machine": m, "versions": v,
              "cold_runs": args.cold_runs, "cached_runs": args.cached_runs,
              "copy_context": {"files": args.files, "bytes": size}, "results": summary}
    out = save_result("build_vs_docker", stamp, result)

    print(header(stamp, m, v))
    print(f"{'build (client wall, median)':<40}{'kobako':>10}{'docker':>10}{'ratio':>8}  goal")
    labels = {"runs10_cold": "10x RUN, cold (--no-cache)", "runs10_cached": "10x RUN, cached",
              "copy_cold": f"COPY {args.files} files/{size / 1e6:.0f} MB, cold",
              "copy_cached": f"COPY {args.files} files/{size / 1e6:.0f} MB, cached"}
    for key, label in labels.items():
        r = summary[key]
        goal = 1 / 3 if key.endswith("cached") else 1.0
        verdict = "met" if r["ratio_median"] <= goal else "MISSED"
        print(f"{label:<40}{r['kobako']['median']:>9.2f}s{r['docker']['median']:>9.2f}s"
              f"{r['ratio_median']:>8.2f}  <= {goal:.2f} {verdict}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    run_main(main, "build_vs_docker")
