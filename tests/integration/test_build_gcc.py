"""The multi-stage build people use: compile a C program in a Debian stage, ship the static binary
on busybox.

The Debian base is made here, not pulled: ``debootstrap --variant=minbase bookworm`` from the
machine's own Debian mirror (the one apt uses), tarred once into a per-machine cache
(``/var/cache/kobako-test``, or ``$KOBAKO_TEST_CACHE``) so reruns skip it, and ``kobako import``-ed
as ``debian:bookworm``. gcc comes from Debian's packages, installed by a RUN step with
``--network host`` (the build's containers have no other network yet).

Slow (measured: 4 min with a cold cache, 1.6 min with a warm one, on a loaded 2-core machine), so
it runs only with ``KOBAKO_SLOW_TESTS=1``; it is skipped, saying why, when debootstrap cannot reach
the mirror.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, _unmount_under

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KOBAKO_SLOW_TESTS") != "1",
                       reason="slow (a Debian rootfs, gcc from Debian's mirror): set KOBAKO_SLOW_TESTS=1 to run it"),
]

CACHE = Path(os.environ.get("KOBAKO_TEST_CACHE", "/var/cache/kobako-test"))
SUITE = "bookworm"

HELLO_C = r"""
#include <stdio.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("hello from a static binary, %d args, on %s\n", argc, u.sysname);
    return 0;
}
"""

DOCKERFILE = """\
FROM debian:bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hello.c .
RUN mkdir -p /out && gcc -static -O2 -o /out/hello hello.c && /out/hello

FROM busybox
COPY --from=build /out/hello /hello
CMD ["/hello", "one", "two"]
"""


def debian_mirror() -> str:
    """The first Debian mirror apt uses here (deb822 ``.sources`` or one-line ``.list``)."""
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        if not f.is_file() or f.suffix not in (".list", ".sources"):
            continue
        text = f.read_text(errors="replace")
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)",
                                                                            text, re.M):
            if re.search(r"/debian/?$", uri):
                return uri
    return "http://deb.debian.org/debian"


def _debootstrap() -> str:
    found = shutil.which("debootstrap")
    if found:
        return found
    res = subprocess.run(["apt-get", "install", "-y", "debootstrap"], capture_output=True, timeout=600,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("debootstrap")
    if res.returncode != 0 or not found:
        pytest.skip(f"debootstrap is not installed and apt-get could not install it: "
                    f"{res.stderr.decode(errors='replace')[-300:]}")
    return found


def debian_rootfs_tar() -> Path:
    """A ``debootstrap --variant=minbase`` rootfs as a tar, made once per machine."""
    tar = CACHE / f"debian-{SUITE}-minbase.tar"
    if tar.is_file():
        return tar
    debootstrap = _debootstrap()
    mirror = debian_mirror()
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE))
    try:
        rootfs = work / "rootfs"
        res = subprocess.run([debootstrap, "--variant=minbase", SUITE, str(rootfs), mirror],
                             capture_output=True, timeout=1800)
        if res.returncode != 0:
            tail = (res.stdout + res.stderr).decode(errors="replace").strip().splitlines()[-3:]
            pytest.skip(f"debootstrap could not make a {SUITE} rootfs from {mirror}: {' / '.join(tail)}")
        part = work / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(part), "."], check=True,
                       capture_output=True, timeout=600)
        os.replace(part, tar)  # whole or absent: a killed run leaves no half tarball to reuse
    finally:
        _unmount_under(work)  # debootstrap mounts /proc and /sys in the rootfs while it works
        shutil.rmtree(work, ignore_errors=True)
    return tar


def test_static_c_program_built_in_debian_runs_on_busybox(daemon: Daemon, tmp_path: Path) -> None:
    tar = debian_rootfs_tar()
    daemon.kobako("import", str(tar), "debian:bookworm", timeout=900)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.c").write_text(HELLO_C)
    try:
        res = daemon.kobako("build", "--network", "host", "-t", "kb-hello", str(ctx), check=False, timeout=1800)
        out = res.stdout.decode(errors="replace")
        assert res.returncode == 0, out[-3000:] + res.stderr.decode(errors="replace")
        assert "Setting up gcc" in out and "hello from a static binary, 1 args, on Linux" in out
        run = daemon.kobako("run", "--rm", "kb-hello")
        assert run.stdout == b"hello from a static binary, 3 args, on Linux\n"
        # busybox has no libc: the binary runs there only because it is static; and only it was copied
        ls = daemon.kobako("run", "--rm", "kb-hello", "ls", "/usr/lib", check=False)
        assert ls.returncode != 0 or b"gcc" not in ls.stdout
        again = daemon.kobako("build", "--network", "host", "-t", "kb-hello", str(ctx), timeout=300).stdout.decode()
        assert "Running in" not in again and again.count(" ---> Using cache") == 7
    finally:
        daemon.kobako("rmi", "-f", "kb-hello", "debian:bookworm", check=False)
