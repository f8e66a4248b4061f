"""The multi-stage build people use: compile a C program in a Debian stage, ship the static binary
on busybox.

The Debian base is made locally, not pulled: ``scripts/make-debian-rootfs`` (run by ``scripts/test`` as
set-up, like the apt packages) debootstraps a bookworm minbase with gcc and libc6-dev from Debian's
packages, once per machine, into ``/var/cache/kobako-test`` (or ``$KOBAKO_TEST_CACHE``); the test
``kobako import``-s it as ``debian:bookworm`` and needs no network. Marked slow (about a minute).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.root]

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

DOCKERFILE = r"""FROM debian:bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN dpkg-query -W -f='${Package} ${Version} installed from Debian\n' gcc libc6-dev
WORKDIR /src
COPY hello.c .
RUN mkdir -p /out && gcc -static -O2 -o /out/hello hello.c && /out/hello

FROM busybox
COPY --from=build /out/hello /hello
CMD ["/hello", "one", "two"]
"""


def debian_rootfs_tar() -> Path:
    tar = CACHE / f"debian-{SUITE}-gcc.tar"
    if not tar.is_file():
        pytest.skip(f"no {tar}: scripts/make-debian-rootfs makes it (scripts/test runs it; it needs the Debian "
                    "mirror and says why when it could not)")
    return tar


def test_static_c_program_built_in_debian_runs_on_busybox(daemon: Daemon, tmp_path: Path) -> None:
    tar = debian_rootfs_tar()
    daemon.kobako("import", str(tar), "debian:bookworm", timeout=900)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.c").write_text(HELLO_C)
    try:
        res = daemon.kobako("build", "-t", "kb-hello", str(ctx), check=False, timeout=900)
        out = res.stdout.decode(errors="replace")
        assert res.returncode == 0, out[-3000:] + res.stderr.decode(errors="replace")
        assert "gcc 4:12" in out and "installed from Debian" in out
        assert "hello from a static binary, 1 args, on Linux" in out
        run = daemon.kobako("run", "--rm", "kb-hello")
        assert run.stdout == b"hello from a static binary, 3 args, on Linux\n"
        # busybox has no libc: the binary runs there only because it is static; and only it was copied
        ls = daemon.kobako("run", "--rm", "kb-hello", "ls", "/usr/lib", check=False)
        assert ls.returncode != 0 or b"gcc" not in ls.stdout
        again = daemon.kobako("build", "-t", "kb-hello", str(ctx), timeout=300).stdout.decode()
        assert "Running in" not in again and again.count(" ---> Using cache") == 7
    finally:
        daemon.kobako("rmi", "-f", "kb-hello", "debian:bookworm", check=False)
