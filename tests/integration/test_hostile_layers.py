"""Device nodes in image layers: created (as root, as dockerd does), and useless to the container,
because its devices cgroup allows only the default devices.  A layer cannot hand a container the
host's memory or disks."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


DEVICES = (("hostmem", tarfile.CHRTYPE, 1, 1), ("hostloop", tarfile.BLKTYPE, 7, 0))


def test_device_nodes_from_a_layer_cannot_be_opened(daemon: Daemon, tmp_path: Path) -> None:
    # busybox's root filesystem plus two device nodes, imported as a one-layer image
    cid = daemon.kobako("create", "busybox").stdout.decode().strip()
    rootfs = tmp_path / "rootfs.tar"
    try:
        daemon.kobako("export", "-o", str(rootfs), cid)
    finally:
        daemon.kobako("rm", cid)
    with tarfile.open(rootfs, "a") as tf:
        for name, kind, major, minor in DEVICES:
            ti = tarfile.TarInfo(name)
            ti.type, ti.devmajor, ti.devminor, ti.mode = kind, major, minor, 0o666
            tf.addfile(ti)
    daemon.kobako("import", str(rootfs), "kb-hostile-dev")
    try:
        res = daemon.kobako("run", "--rm", "kb-hostile-dev", "sh", "-c",
                            "ls -l /hostmem /hostloop; head -c 1 /hostmem; echo rc=$?; head -c 1 /hostloop; echo rc=$?",
                            check=False)
        out = res.stdout.decode() + res.stderr.decode()
        assert "No such file" not in out and out.count("rc=1") == 2, out  # the nodes are there, and refused
        assert out.count("Operation not permitted") == 2, out
    finally:
        daemon.kobako("rmi", "-f", "kb-hostile-dev", check=False)
