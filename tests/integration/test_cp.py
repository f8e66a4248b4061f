"""`kobako cp` and the archive API on the real kernel: running and stopped containers, tar
streams, and symlinks inside a container that must never lead to the host."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


@pytest.fixture
def box(daemon: Daemon) -> Iterator[str]:
    """A running container with /data, /dir/sub/f and /escape -> /."""
    script = "echo hi > /data; mkdir -p /dir/sub; echo f > /dir/sub/f; ln -s / /escape; ln -s /dir /dirlink; " \
             "touch /ready; exec sleep 300"
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", script)).strip()
    deadline = time.monotonic() + 10
    while daemon.kobako("exec", cid, "test", "-e", "/ready", check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield cid
    daemon.kobako("rm", "-f", cid, check=False)


def _no_leftovers(daemon: Daemon, cid: str) -> None:
    """No mount of the container on the host, and no files helper of this daemon still alive."""
    with open("/proc/self/mounts") as f:
        assert cid not in f.read()
    assert daemon.proc is not None
    helpers = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == daemon.proc.pid
               and "kobako.daemon.files._helper" in _cmdline(p)]
    assert helpers == []


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_cp_file_and_dir_out_of_running_container(daemon: Daemon, box: str, tmp_path: Path) -> None:
    daemon.kobako("cp", f"{box}:/data", str(tmp_path / "data"))
    assert (tmp_path / "data").read_text() == "hi\n"
    daemon.kobako("cp", f"{box}:/dir", str(tmp_path))  # into an existing dir: tmp/dir/...
    assert (tmp_path / "dir/sub/f").read_text() == "f\n"
    daemon.kobako("cp", f"{box}:/dir", str(tmp_path / "renamed"))  # to a new name
    assert (tmp_path / "renamed/sub/f").read_text() == "f\n"
    (tmp_path / "contents").mkdir()
    daemon.kobako("cp", f"{box}:/dir/.", str(tmp_path / "contents"))  # its contents
    assert (tmp_path / "contents/sub/f").read_text() == "f\n"
    res = daemon.kobako("cp", f"{box}:/dir", str(tmp_path / "data"), check=False)
    assert res.returncode == 1 and "cannot copy directory" in res.stderr.decode()


def test_cp_into_running_container(daemon: Daemon, box: str, tmp_path: Path) -> None:
    (tmp_path / "src/inner").mkdir(parents=True)
    (tmp_path / "src/inner/file").write_text("in")
    (tmp_path / "one").write_text("one")
    daemon.kobako("cp", str(tmp_path / "one"), f"{box}:/dir/")
    daemon.kobako("cp", str(tmp_path / "src"), f"{box}:/newdir")
    daemon.kobako("cp", str(tmp_path / "src"), f"{box}:/dir")
    res = daemon.kobako("exec", box, "cat", "/dir/one", "/newdir/inner/file", "/dir/src/inner/file")
    assert out(res) == "oneinin"
    res = daemon.kobako("cp", str(tmp_path / "one"), f"{box}:/missing/", check=False)
    assert res.returncode == 1


def test_cp_follow_link_and_symlinked_dir(daemon: Daemon, box: str, tmp_path: Path) -> None:
    daemon.kobako("cp", f"{box}:/dirlink", str(tmp_path / "nofollow"))
    assert (tmp_path / "nofollow").is_symlink()
    daemon.kobako("cp", "-L", f"{box}:/dirlink", str(tmp_path / "follow"))
    assert (tmp_path / "follow/sub/f").read_text() == "f\n"


def test_tar_streams_both_ways(daemon: Daemon, box: str) -> None:
    res = daemon.kobako("cp", f"{box}:/dir", "-")
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        assert tf.getnames() == ["dir", "dir/sub", "dir/sub/f"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("streamed/x")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    daemon.kobako("cp", "-", f"{box}:/dir", input=buf.getvalue())
    assert out(daemon.kobako("exec", box, "cat", "/dir/streamed/x")) == "abc"
    res = daemon.kobako("cp", "-", f"{box}:/data", input=buf.getvalue(), check=False)
    assert res.returncode == 1 and "must be a directory" in res.stderr.decode()


def test_cp_errors_use_dockers_words(daemon: Daemon, box: str, tmp_path: Path) -> None:
    res = daemon.kobako("cp", f"{box}:/nope", str(tmp_path), check=False)
    assert res.returncode == 1
    assert f"Could not find the file /nope in container {box}" in res.stderr.decode()
    res = daemon.kobako("cp", "a", "b", check=False)
    assert "must specify at least one container source" in res.stderr.decode()
    res = daemon.kobako("cp", f"{box}:/a", f"{box}:/b", check=False)
    assert "copying between containers is not supported" in res.stderr.decode()
    res = daemon.kobako("cp", f"no-such-container-{secrets.token_hex(2)}:/a", str(tmp_path), check=False)
    assert "No such container" in res.stderr.decode()


def test_archive_api_head_and_put_errors(daemon: Daemon, box: str) -> None:
    c = daemon.client()
    status, headers, _ = c.request("HEAD", f"/containers/{box}/archive", query={"path": "/dir"})
    assert status == 200
    stat = json.loads(base64.b64decode({k.lower(): v for k, v in headers.items()}["x-docker-container-path-stat"]))
    assert stat["name"] == "dir" and stat["mode"] & (1 << 31)
    status, headers, _ = c.request("HEAD", f"/containers/{box}/archive", query={"path": "/escape"})
    stat = json.loads(base64.b64decode({k.lower(): v for k, v in headers.items()}["x-docker-container-path-stat"]))
    assert stat["mode"] & (1 << 27) and stat["linkTarget"] == "/"
    status, _, _ = c.request("HEAD", f"/containers/{box}/archive", query={"path": "/nope"})
    assert status == 404
    status, _, body = c.request("PUT", f"/containers/{box}/archive", query={"path": "/data"}, body=b"")
    assert status == 400 and b"extraction point is not a directory" in body
    status, _, body = c.request("PUT", f"/containers/{box}/archive", query={"path": "/nope"}, body=b"")
    assert status == 404 and b"Could not find the file /nope" in body
    c.close()


def test_symlinks_never_reach_the_host(daemon: Daemon, box: str, tmp_path: Path) -> None:
    """/escape -> / inside the container: reading or writing through it stays in the container."""
    marker = Path("/tmp") / f"kobako-host-secret-{secrets.token_hex(4)}"
    marker.write_text("host secret")
    try:
        res = daemon.kobako("cp", f"{box}:/escape{marker}", str(tmp_path / "got"), check=False)
        assert res.returncode == 1 and "Could not find the file" in res.stderr.decode()
        res = daemon.kobako("cp", f"{box}:/escape/../../../..{marker}", "-", check=False)
        assert res.returncode == 1
        (tmp_path / "pwned").write_text("pwned")
        daemon.kobako("cp", str(tmp_path / "pwned"), f"{box}:/escape/tmp/")
        daemon.kobako("cp", str(tmp_path / "pwned"), f"{box}:/escape/../../tmp/pwned2")
        assert not Path("/tmp/pwned").exists() and not Path("/tmp/pwned2").exists()
        assert out(daemon.kobako("exec", box, "cat", "/tmp/pwned", "/tmp/pwned2")) == "pwnedpwned"
        # a tar whose symlink points at / and then writes below it: still the container's /tmp
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            link = tarfile.TarInfo("hop")
            link.type, link.linkname = tarfile.SYMTYPE, "/"
            tf.addfile(link)
            f = tarfile.TarInfo("hop/tmp/through-link")
            f.size = 1
            tf.addfile(f, io.BytesIO(b"x"))
        daemon.kobako("cp", "-", f"{box}:/dir", input=buf.getvalue())
        assert not Path("/tmp/through-link").exists()
        assert out(daemon.kobako("exec", box, "cat", "/tmp/through-link")) == "x"
    finally:
        marker.unlink()


def test_cp_with_a_stopped_and_a_created_container(daemon: Daemon, box: str, tmp_path: Path) -> None:
    daemon.kobako("stop", "-t", "0", box)
    (tmp_path / "late").write_text("late")
    daemon.kobako("cp", str(tmp_path / "late"), f"{box}:/dir/")
    daemon.kobako("cp", f"{box}:/dir", str(tmp_path / "back"))
    assert (tmp_path / "back/late").read_text() == "late"
    assert (tmp_path / "back/sub/f").read_text() == "f\n"
    _no_leftovers(daemon, box)
    daemon.kobako("start", box)
    assert out(daemon.kobako("exec", box, "cat", "/dir/late")) == "late"
    created = out(daemon.kobako("create", "busybox", "true")).strip()
    try:
        daemon.kobako("cp", str(tmp_path / "late"), f"{created}:/")
        daemon.kobako("cp", f"{created}:/late", str(tmp_path / "from-created"))
        assert (tmp_path / "from-created").read_text() == "late"
        _no_leftovers(daemon, created)
    finally:
        daemon.kobako("rm", "-f", created)


def test_cp_with_a_paused_container(daemon: Daemon, box: str, tmp_path: Path) -> None:
    daemon.kobako("pause", box)
    try:
        daemon.kobako("cp", f"{box}:/data", str(tmp_path / "data"))
        assert (tmp_path / "data").read_text() == "hi\n"
    finally:
        daemon.kobako("unpause", box)
