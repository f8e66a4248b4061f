#!/usr/bin/env python3
"""Push and pull of an image with one 200 MB layer, kobako + `kobako registry serve` against docker +
Debian's `docker-registry` (distribution 2.8), and each registry's throughput under 8 concurrent blob
downloads, in the same run (issue 5).

Run as root from the checkout:

    /work/main/.venv/bin/python bench/registry_vs_docker.py [--runs 2] [--size-mb 200] [--quick]

Set-up (bench/_engines.py gives both engines a private daemon):

* one tar holding a single 200 MB file (bytes from a seeded PRNG: the same every run, incompressible),
  imported into each engine (``kobako import`` / ``docker import``, timed for information: kobako
  gzips the layer at import, docker at push);
* kobako's registry: ``kobako registry serve --addr 127.0.0.1:P --root <tmp>/...``; Docker's:
  ``docker-registry serve <tmp>/config.yml`` (filesystem storage under the temp dir, ``127.0.0.1:Q``);
  both plain HTTP on loopback, which both engines allow without configuration.

Measured, interleaved kobako/docker, whole client processes:

* push: ``kobako push 127.0.0.1:P/bench/big:1`` / ``docker push 127.0.0.1:Q/bench/big:1``, each run into a
  freshly started, empty registry (so every byte is uploaded, no mount or skip);
* pull: the image removed from the engine first (every tag, so the layer is gone), then
  ``pull`` of the same reference from the registry it was pushed to;
* MB/s = 200 MB (the layer's uncompressed size, 10^6 bytes per MB) / wall time; the blob sizes actually
  sent are recorded too;
* concurrent: 8 threads each ``GET /v2/bench/big/blobs/<layer digest>`` from the registry (plain HTTP,
  1 MiB reads, bytes discarded); MB/s = all bytes received / wall time from the first request to the last
  byte; also 1 thread for reference.

Goal (issue 5): kobako's throughput at least Docker's. Results go to
``bench/results/registry_vs_docker-<UTC time>.json``; everything (registries, daemons, temp dirs) is
cleaned up at the end.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engines import (  # noqa: E402
    run_main,
    VENV_BIN, Engine, Kobako, Session, add_engine_args, header, log, machine, preflight, ratio, run,
    save_result, stats, stop_process,
)

DOCKER_REGISTRY = "/usr/bin/docker-registry"
REPO_NAME = "bench/big"
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tar(path: Path, size: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    chunk = 8 << 20
    with open(path, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("big.bin")
        info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000

        class Gen(io.RawIOBase):
            left = size

            def readable(self) -> bool:
                return True

            def readinto(self, b: Any) -> int:
                n = min(len(b), chunk, self.left)
                b[:n] = rng.randbytes(n)
                self.left -= n
                return n

        tf.addfile(info, io.BufferedReader(Gen(), chunk))


class Registry:
    """One registry on 127.0.0.1:port, restartable with an empty root."""

    def __init__(self, s: Session, kind: str) -> None:
        self.s, self.kind = s, kind
        self.port = free_port()
        self.root = s.tmp / f"{kind}-registry"
        self.proc: subprocess.Popen[bytes] | None = None
        self.gen = 0

    def argv(self) -> list[str]:
        if self.kind == "kobako":
            return [str(VENV_BIN / "kobako"), "registry", "serve", "--addr", f"127.0.0.1:{self.port}",
                    "--root", str(self.root)]
        cfg = self.s.tmp / "docker-registry.yml"
        cfg.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.root)}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }))
        return [DOCKER_REGISTRY, "serve", str(cfg)]

    def start_empty(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.gen += 1
        env = self.s.kobako.client_env() if self.kind == "kobako" else None
        self.proc = self.s.spawn(self.argv(), f"{self.kind}-registry-{self.gen}", env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} registry exited {self.proc.returncode}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/v2/")
                if c.getresponse().status == 200:
                    c.close()
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} registry did not come up on 127.0.0.1:{self.port}")

    def ref(self) -> str:
        return f"127.0.0.1:{self.port}/{REPO_NAME}:1"

    def layer(self) -> tuple[str, int]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", f"/v2/{REPO_NAME}/manifests/1", headers={"Accept": MANIFEST_ACCEPT})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"{self.kind} registry: manifest answered {r.status}: {body[:300]!r}")
        layers = json.loads(body)["layers"]
        return layers[0]["digest"], int(layers[0]["size"])


def concurrent_get(port: int, digest: str, threads: int) -> tuple[float, int]:
    total = [0] * threads
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.request("GET", f"/v2/{REPO_NAME}/blobs/{digest}")
            r = c.getresponse()
            if r.status != 200:
                errors.append(f"status {r.status}")
                return
            while chunk := r.read(1 << 20):
                total[i] += len(chunk)
            c.close()
        except OSError as exc:
            errors.append(repr(exc))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"concurrent GET on port {port}: {errors[:3]}")
    return wall, sum(total)


def upload_blob(port: int, size: int, seed: int = 7) -> tuple[str, int]:
    """Store ``size`` PRNG bytes as a blob of REPO_NAME straight through the registry API (POST, then PUT
    ?digest= with the whole body): the --get-only set-up, no engine involved."""
    import hashlib

    data = random.Random(seed).randbytes(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", f"/v2/{REPO_NAME}/blobs/uploads/", body=b"")
    r = c.getresponse()
    r.read()
    location = r.getheader("Location") or ""
    if r.status != 202 or not location:
        raise RuntimeError(f"upload start on port {port} answered {r.status}")
    sep = "&" if "?" in location else "?"
    path = location.split("://", 1)[-1].split("/", 1)[-1]
    c.request("PUT", f"/{path}{sep}digest={digest}", body=data,
              headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 201:
        raise RuntimeError(f"upload on port {port} answered {r.status}: {body[:300]!r}")
    return digest, size


def get_rounds(regs: dict[str, "Registry"], blobs: dict[str, tuple[str, int]], threads: int,
               rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``rounds`` rounds of ``threads`` concurrent GETs (then 1 GET) per registry, alternating who goes first."""
    conc: dict[str, list[float]] = {name: [] for name in regs}
    single: dict[str, list[float]] = {name: [] for name in regs}
    for i in range(rounds):
        for name in (["kobako", "docker"] if i % 2 == 0 else ["docker", "kobako"]):
            digest, bsize = blobs[name]
            wall, got = concurrent_get(regs[name].port, digest, threads)
            if got != bsize * threads:
                raise RuntimeError(f"{name}: got {got} bytes, expected {bsize * threads}")
            conc[name].append(got / 1e6 / wall)
            wall1, got1 = concurrent_get(regs[name].port, digest, 1)
            single[name].append(got1 / 1e6 / wall1)
    return conc, single


class RegistriesOnly:
    """What ``Registry`` needs of a ``Session`` without starting kobakod or dockerd (--get-only), so it
    runs next to another bench; the registries are stopped and the temp dir removed on exit."""

    def __init__(self, args: argparse.Namespace) -> None:
        import tempfile

        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="kobako-bench-get-"))
        self.kobako = self
        self.procs: list[subprocess.Popen[bytes]] = []

    def client_env(self) -> dict[str, str]:
        import os

        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{name}.log", "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "RegistriesOnly":
        run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "src")],
            check=False, timeout=300)
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in self.procs:
            stop_process(proc, timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def get_only(args: argparse.Namespace) -> int:
    """Only the registries' concurrent blob GETs, on a blob uploaded through the API (no engines)."""
    from datetime import datetime, timezone

    m = machine()
    size = args.size_mb * 1_000_000
    stamp = datetime.now(timezone.utc)
    with RegistriesOnly(args) as s:
        regs = {"kobako": Registry(s, "kobako"), "docker": Registry(s, "docker")}  # type: ignore[arg-type]
        blobs = {}
        for name, reg in regs.items():
            reg.start_empty()
            blobs[name] = upload_blob(reg.port, size)
        log(f"concurrent: {args.concurrent_runs} rounds of {args.threads} parallel blob GETs per registry")
        conc, single = get_rounds(regs, blobs, args.threads, args.concurrent_runs)
    head = run(["git", "-C", str(Path(__file__).resolve().parents[1]), "rev-parse", "--short", "HEAD"],
               check=False).stdout.decode().strip()
    v = {"kobako_src": f"checkout at {head}", "docker_registry": DOCKER_REGISTRY}
    out_res: dict[str, Any] = {}
    for label, d in (("concurrent_MBps", conc), ("single_get_MBps", single)):
        out_res[label] = {k: {"samples": x, **stats(x)} for k, x in d.items()}
        out_res[label]["ratio_median"] = ratio(stats(d["kobako"])["median"], stats(d["docker"])["median"])
    result = {"date": stamp.isoformat(timespec="seconds"), "machine": m, "versions": v, "mode": "get-only",
              "size_bytes": size, "threads": args.threads, "results": out_res}
    out = save_result("registry_vs_docker", stamp, result)
    print(f"{stamp:%Y-%m-%d %H:%M} UTC, load {m['loadavg_start'][0]:.1f} at start, {v['kobako_src']}")
    print(f"blob {size / 1e6:.0f} MB uploaded through the registry API (--get-only)")
    print(f"{'throughput (median MB/s)':<44}{'kobako':>9}{'docker':>9}{'ratio':>8}  goal >= 1")
    for label, key in ((f"registry, {args.threads} concurrent blob GETs", "concurrent_MBps"),
                       ("registry, 1 blob GET (info)", "single_get_MBps")):
        r = out_res[key]
        verdict = "" if "info" in label else ("  met" if r["ratio_median"] >= 1 else "  MISSED")
        print(f"{label:<44}{r['kobako']['median']:>9.1f}{r['docker']['median']:>9.1f}{r['ratio_median']:>8.2f}"
              f"{verdict}  samples kobako {[round(x) for x in r['kobako']['samples']]}"
              f" docker {[round(x) for x in r['docker']['samples']]}")
    print(f"results: {out}")
    return 0


def client(e: Engine, *args: str, timeout: float = 900) -> tuple[float, str]:
    argv = e.cli(*args)
    t0 = time.perf_counter()
    res = run(argv, env=e.client_env(), check=False, timeout=timeout)
    wall = time.perf_counter() - t0
    out = (res.stdout + res.stderr).decode(errors="replace")
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}:\n{out[-3000:]}")
    return wall, out


def remove_image(e: Engine, ref: str, layer_digest: str) -> None:
    iid = run(e.cli("image", "inspect", "--format", "{{.Id}}", ref), env=e.client_env()).stdout.decode().strip()
    run(e.cli("rmi", "-f", iid), env=e.client_env(), timeout=300)
    if run(e.cli("image", "inspect", iid), env=e.client_env(), check=False).returncode == 0:
        raise RuntimeError(f"{e.name}: image {iid} still there after rmi -f")
    if isinstance(e, Kobako):
        # kobako's rmi collects the content blobs no image uses: the layer blob must be gone, so
        # that the pull downloads it, as docker's does
        blob = e.data / "content" / "sha256" / layer_digest.split(":", 1)[1]
        if blob.exists():
            raise RuntimeError(f"kobako: rmi left the layer blob {blob}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="timed pushes and pulls per engine (default 2)")
    ap.add_argument("--size-mb", type=int, default=200, help="layer size in MB (default 200)")
    ap.add_argument("--threads", type=int, default=8, help="concurrent blob downloads (default 8)")
    ap.add_argument("--concurrent-runs", type=int, default=3, help="rounds of concurrent downloads (default 3)")
    ap.add_argument("--quick", action="store_true", help="50 MB, 1 run, 2 concurrent rounds")
    ap.add_argument("--get-only", action="store_true",
                    help="only the concurrent blob GETs, on a blob uploaded through the registry API")
    add_engine_args(ap)
    args = ap.parse_args()
    if args.quick:
        args.size_mb, args.runs, args.concurrent_runs = 50, 1, 2
    if (code := preflight(args, "registry_vs_docker", (DOCKER_REGISTRY,))) is not None:
        print("  (apt-get install -y docker-registry)", file=sys.stderr)
        return code
    if args.get_only:
        return get_only(args)

    m = machine()
    size = args.size_mb * 1_000_000
    mb = size / 1e6
    with Session(args, load_image=False) as s:
        tar = s.tmp / "big.tar"
        log(f"writing a {args.size_mb} MB layer tar")
        make_tar(tar, size)
        regs = {"kobako": Registry(s, "kobako"), "docker": Registry(s, "docker")}
        imports: dict[str, float] = {}
        for e in s.engines:
            t0 = time.perf_counter()
            run(e.cli("import", str(tar), "bench/big:src"), env=e.client_env(), timeout=600)
            imports[e.name] = time.perf_counter() - t0
        tar.unlink()

        push: dict[str, list[float]] = {e.name: [] for e in s.engines}
        pull: dict[str, list[float]] = {e.name: [] for e in s.engines}
        log(f"push: {args.runs} runs each into an empty registry, interleaved")
        for i in range(args.runs):
            for e in (s.engines if i % 2 == 0 else list(reversed(s.engines))):
                reg = regs[e.name]
                reg.start_empty()
                run(e.cli("tag", "bench/big:src", reg.ref()), env=e.client_env())
                wall, _ = client(e, "push", reg.ref())
                push[e.name].append(wall)
        blobs = {name: reg.layer() for name, reg in regs.items()}
        log(f"pull: {args.runs} runs each after removing the image, interleaved")
        for i in range(args.runs):
            for e in (s.engines if i % 2 == 0 else list(reversed(s.engines))):
                ref = regs[e.name].ref()
                remove_image(e, ref if i else "bench/big:src", blobs[e.name][0])
                wall, out = client(e, "pull", ref)
                if "Already exists" in out:
                    raise RuntimeError(f"{e.name} pull reused a local layer:\n{out[-2000:]}")
                pull[e.name].append(wall)
        log(f"concurrent: {args.concurrent_runs} rounds of {args.threads} parallel blob GETs per registry")
        conc, single = get_rounds(regs, blobs, args.threads, args.concurrent_runs)
        v = s.versions()
    stamp = s.stamp

    push_mbs = {k: [mb / w for w in x] for k, x in push.items()}
    pull_mbs = {k: [mb / w for w in x] for k, x in pull.items()}
    out_res: dict[str, Any] = {}
    for label, d in (("push_MBps", push_mbs), ("pull_MBps", pull_mbs), ("concurrent_MBps", conc),
                     ("single_get_MBps", single)):
        out_res[label] = {k: {"samples": x, **stats(x)} for k, x in d.items()}
        out_res[label]["ratio_median"] = ratio(stats(d["kobako"])["median"], stats(d["docker"])["median"])
    result = {"date": stamp.isoformat(timespec="seconds"), "machine": m, "versions": v,
              "size_bytes": size, "runs": args.runs, "threads": args.threads,
              "blob_sizes": {k: b[1] for k, b in blobs.items()},
              "push_wall_s": push, "pull_wall_s": pull, "import_wall_s": imports, "results": out_res}
    out = save_result("registry_vs_docker", stamp, result)

    print(header(stamp, m, v))
    print(f"layer {mb:.0f} MB; blobs stored: kobako {blobs['kobako'][1] / 1e6:.1f} MB, "
          f"docker {blobs['docker'][1] / 1e6:.1f} MB; import: kobako {imports['kobako']:.1f} s, "
          f"docker {imports['docker']:.1f} s")
    print(f"{'throughput (median MB/s)':<44}{'kobako':>9}{'docker':>9}{'ratio':>8}  goal >= 1")
    for label, key in (("push (client wall)", "push_MBps"), ("pull (client wall, incl. unpack)", "pull_MBps"),
                       (f"registry, {args.threads} concurrent blob GETs", "concurrent_MBps"),
                       ("registry, 1 blob GET (info)", "single_get_MBps")):
        r = out_res[key]
        verdict = "" if "info" in label else ("  met" if r["ratio_median"] >= 1 else "  MISSED")
        print(f"{label:<44}{r['kobako']['median']:>9.1f}{r['docker']['median']:>9.1f}{r['ratio_median']:>8.2f}"
              f"{verdict}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    run_main(main, "registry_vs_docker")
