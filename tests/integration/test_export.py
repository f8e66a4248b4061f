"""`kobako export`: the merged root filesystem as a tar, without whiteouts or /proc content."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import tarfile
import time

from tests.daemon_fixture import KOBAKO, Daemon


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


def test_export_running_and_stopped(daemon: Daemon, tmp_path: object) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "echo new > /newfile; rm /bin/vi; sleep 300")).strip()
    try:
        time.sleep(0.3)
        for _ in range(2):
            data = daemon.kobako("export", cid).stdout
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                names = tf.getnames()
                assert "bin/busybox" in names and "newfile" in names
                assert "bin/vi" not in names
                assert not [n for n in names if ".wh." in n]
                assert not [n for n in names if n.startswith(("proc/", "sys/"))]
                f = tf.extractfile("newfile")
                assert f is not None and f.read() == b"new\n"
            daemon.kobako("stop", "-t", "0", cid)
        target = f"{tmp_path}/out.tar"
        daemon.kobako("export", "-o", target, cid)
        with tarfile.open(target) as tf:
            assert "newfile" in tf.getnames()
    finally:
        daemon.kobako("rm", "-f", cid)


def test_export_refuses_a_terminal(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "true")).strip()
    try:
        master, slave = pty.openpty()
        res = subprocess.run([KOBAKO, "export", cid], env=daemon.env(), stdout=slave, stderr=subprocess.PIPE,
                             timeout=30)
        os.close(slave)
        os.close(master)
        assert res.returncode == 1
        assert b"cowardly refusing to save to a terminal" in res.stderr
    finally:
        daemon.kobako("rm", "-f", cid)
