"""The copy-based snapshotter (for hosts without overlayfs) runs containers the same way."""

from __future__ import annotations

from pathlib import Path

from tests.daemon_fixture import daemon_session


def test_copy_driver_runs_and_isolates_writes(tmp_path: Path) -> None:
    for d in daemon_session(tmp_path / "copy", extra_args=("--storage-driver", "copy")):
        d.kobako("image", "bootstrap", "busybox")
        assert d.kobako("info", "--format", "{{.Driver}}").stdout.decode().strip() == "copy"
        res = d.kobako("run", "--rm", "busybox", "sh", "-c", "echo changed > /etc/motd; rm /bin/ls; cat /etc/motd")
        assert res.stdout == b"changed\n"
        # the image itself is untouched: a new container sees the original files
        res = d.kobako("run", "--rm", "busybox", "sh", "-c", "test -e /bin/ls && test ! -e /etc/motd && echo clean")
        assert res.stdout == b"clean\n"


def test_overlay_writes_stay_in_the_container(tmp_path: Path) -> None:
    for d in daemon_session(tmp_path / "ovl"):
        d.kobako("image", "bootstrap", "busybox")
        cid = d.kobako("run", "-d", "busybox", "sh", "-c", "rm /bin/ls; echo x > /new").stdout.decode().strip()
        d.kobako("wait", cid)
        res = d.kobako("run", "--rm", "busybox", "sh", "-c", "test -e /bin/ls && test ! -e /new && echo clean")
        assert res.stdout == b"clean\n"
        d.kobako("rm", cid)
