"""Volumes, binds and tmpfs on a real kobakod: sharing, read-only, copy-up, rm -v, 409, prune, restarts."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon, daemon_session


def out(res: Any) -> str:
    return str(res.stdout.decode())


def err(res: Any) -> str:
    return str(res.stderr.decode())


def _mounted(path: str | Path) -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[1].startswith(str(path)) for line in f)


@pytest.fixture
def vol(daemon: Daemon) -> Iterator[str]:
    """A fresh volume name; the volume (if made) is removed afterwards."""
    name = "itvol-" + secrets.token_hex(3)
    yield name
    daemon.kobako("volume", "rm", "-f", name, check=False)


def _volumes(d: Daemon, *args: str) -> list[str]:
    return out(d.kobako("volume", "ls", "-q", *args)).split()


def test_volume_crud_and_output_shapes(daemon: Daemon, vol: str) -> None:
    assert out(daemon.kobako("volume", "create", "--label", "team=a", vol)) == vol + "\n"
    assert out(daemon.kobako("volume", "create", vol)) == vol + "\n"  # idempotent
    table = out(daemon.kobako("volume", "ls", "-f", f"name={vol}")).splitlines()
    assert table[0] == "DRIVER    VOLUME NAME" and table[1].split() == ["local", vol]
    info = json.loads(out(daemon.kobako("volume", "inspect", vol)))[0]
    assert (info["Name"], info["Driver"], info["Scope"], info["Labels"]) == (vol, "local", "local", {"team": "a"})
    assert info["Mountpoint"] == str(daemon.data_root / "volumes" / vol / "_data")
    assert vol in _volumes(daemon, "-f", "label=team=a") and vol not in _volumes(daemon, "-f", "label=team=b")
    assert vol in _volumes(daemon, "-f", "dangling=true")
    usage = daemon.client().json("GET", f"/volumes/{vol}", query={"size": 1})["UsageData"]
    assert usage == {"Size": 0, "RefCount": 0}
    df = daemon.client().json("GET", "/system/df", query={"type": "volume"})
    assert any(v["Name"] == vol and v["UsageData"]["RefCount"] == 0 for v in df["Volumes"])
    assert out(daemon.kobako("volume", "rm", vol)) == vol + "\n"
    res = daemon.kobako("volume", "inspect", vol, check=False)
    assert res.returncode == 1 and "No such volume" in err(res)
    res = daemon.kobako("volume", "rm", vol, check=False)
    assert res.returncode == 1 and f"get {vol}: no such volume" in err(res)
    daemon.kobako("volume", "rm", "-f", vol)  # -f: a missing volume is no error
    res = daemon.kobako("volume", "create", "-o", "bogus=1", vol, check=False)
    assert res.returncode == 1 and 'invalid option key: "bogus"' in err(res)


def test_written_by_one_read_by_another_and_shared_while_running(daemon: Daemon, vol: str) -> None:
    daemon.kobako("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo hello > /data/msg")
    assert vol in _volumes(daemon)  # -v NAME made the volume
    assert out(daemon.kobako("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/msg")) == "hello\n"
    a = out(daemon.kobako("run", "-d", "-v", f"{vol}:/data", "busybox", "sleep", "60")).strip()
    b = out(daemon.kobako("run", "-d", "-v", f"{vol}:/data", "busybox", "sleep", "60")).strip()
    try:
        daemon.kobako("exec", a, "sh", "-c", "echo from-a > /data/live")
        assert out(daemon.kobako("exec", b, "cat", "/data/live")) == "from-a\n"
        mounts = json.loads(out(daemon.kobako("inspect", "-f", "{{json .Mounts}}", a)))
        assert mounts == [{"Type": "volume", "Name": vol, "Source": str(daemon.data_root / "volumes" / vol / "_data"),
                           "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}]
        assert json.loads(out(daemon.kobako("inspect", "-f", "{{json .HostConfig.Binds}}", a))) == [f"{vol}:/data"]
        assert out(daemon.kobako("ps", "--filter", f"id={a}", "--format", "{{.Mounts}}")).strip() == vol
        # in use, even by a stopped container: 409 with the users
        res = daemon.kobako("volume", "rm", vol, check=False)
        assert res.returncode == 1 and f"remove {vol}: volume is in use - [" in err(res) and a in err(res)
        status, _, _ = daemon.client().request("DELETE", f"/volumes/{vol}")
        assert status == 409
        assert vol not in _volumes(daemon, "-f", "dangling=true")
    finally:
        daemon.kobako("rm", "-f", a, b)
    # the data outlives both containers
    assert out(daemon.kobako("run", "--rm", "-v", f"{vol}:/d", "busybox", "cat", "/d/msg", "/d/live")) == \
        "hello\nfrom-a\n"


def test_read_only_is_enforced(daemon: Daemon, vol: str) -> None:
    res = daemon.kobako("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "sh", "-c", "touch /data/x", check=False)
    assert res.returncode == 1 and "Read-only file system" in err(res)
    res = daemon.kobako("run", "--rm", "--mount", f"type=volume,src={vol},dst=/data,readonly", "busybox",
                        "touch", "/data/x", check=False)
    assert res.returncode == 1 and "Read-only file system" in err(res)


def test_bind_host_dir(daemon: Daemon) -> None:
    host = Path(tempfile.mkdtemp(prefix="kobako-bind-"))
    try:
        (host / "in").write_text("from host\n")
        res = daemon.kobako("run", "--rm", "-v", f"{host}:/h:z", "busybox", "sh", "-c", "cat /h/in; echo out > /h/out")
        assert out(res) == "from host\n" and (host / "out").read_text() == "out\n"
        res = daemon.kobako("run", "--rm", "-v", f"{host}:/h:ro", "busybox", "touch", "/h/x", check=False)
        assert "Read-only file system" in err(res)
        assert out(daemon.kobako("run", "--rm", "--mount", f"type=bind,source={host}/in,target=/etc/in,readonly",
                                 "busybox", "cat", "/etc/in")) == "from host\n"  # a single file
        # -v makes a missing host directory; --mount type=bind refuses it, as docker does
        daemon.kobako("run", "--rm", "-v", f"{host}/made:/m", "busybox", "true")
        assert (host / "made").is_dir()
        res = daemon.kobako("run", "--rm", "--mount", f"type=bind,src={host}/missing,dst=/m", "busybox", "true",
                            check=False)
        assert res.returncode == 125 and f"bind source path does not exist: {host}/missing" in err(res)
        res = daemon.kobako("run", "--rm", "-v", "bad:name:/x", "busybox", "true", check=False)
        assert res.returncode == 125 and "invalid" in err(res)
        # a local volume that binds a host directory (type=none,o=bind,device=): bound in the container only
        bv = "bindvol-" + secrets.token_hex(3)
        daemon.kobako("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", bv)
        try:
            assert out(daemon.kobako("run", "--rm", "-v", f"{bv}:/b", "busybox", "cat", "/b/in")) == "from host\n"
            assert not _mounted(daemon.data_root / "volumes" / bv)
        finally:
            daemon.kobako("volume", "rm", bv)
    finally:
        shutil.rmtree(host)


def test_tmpfs_mounts_and_tmpfs_volume(daemon: Daemon, vol: str) -> None:
    line = out(daemon.kobako("run", "--rm", "--tmpfs", "/scratch:size=1m,mode=1777", "busybox", "sh", "-c",
                             "grep ' /scratch ' /proc/mounts; stat -c %a /scratch"))
    assert "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec" in line and "size=1024k" in line and line.endswith("1777\n")
    line = out(daemon.kobako("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=2m", "busybox", "grep",
                             " /t ", "/proc/mounts"))
    assert "size=2048k" in line
    # a tmpfs volume: one filesystem shared by its users, unmounted when the last stops
    daemon.kobako("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=4m", vol)
    mountpoint = daemon.data_root / "volumes" / vol / "_data"
    a = out(daemon.kobako("run", "-d", "-v", f"{vol}:/v", "busybox", "sleep", "60")).strip()
    try:
        assert _mounted(mountpoint)
        daemon.kobako("run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c", "echo x > /v/f")
        assert out(daemon.kobako("exec", a, "cat", "/v/f")) == "x\n"
        assert "size=4096k" in out(daemon.kobako("exec", a, "grep", " /v ", "/proc/mounts"))
    finally:
        daemon.kobako("rm", "-f", a)
    assert not _mounted(mountpoint)
    assert out(daemon.kobako("run", "--rm", "-v", f"{vol}:/v", "busybox", "ls", "/v")) == ""  # tmpfs: gone
    assert not _mounted(mountpoint)


def test_image_volume_copy_up_and_rm_v(daemon: Daemon, vol: str) -> None:
    src = out(daemon.kobako("run", "-d", "busybox", "sh", "-c",
                            "mkdir -p /data && echo seed > /data/seed && chmod 750 /data && sleep 60")).strip()
    image = "volimg-" + secrets.token_hex(3)
    try:
        time.sleep(0.3)
        daemon.kobako("commit", "-c", "VOLUME /data", src, image)
    finally:
        daemon.kobako("rm", "-f", src)
    try:
        before = set(_volumes(daemon))
        c = out(daemon.kobako("create", image, "sh", "-c", "cat /data/seed; stat -c %a /data")).strip()
        anon = [v for v in _volumes(daemon) if v not in before]
        assert len(anon) == 1 and len(anon[0]) == 64
        info = json.loads(out(daemon.kobako("volume", "inspect", anon[0])))[0]
        assert info["Labels"] == {"com.docker.volume.anonymous": ""}
        assert out(daemon.kobako("start", "-a", c)) == "seed\n750\n"  # copied up, mode included
        daemon.kobako("rm", c)  # without -v the anonymous volume stays
        assert anon[0] in _volumes(daemon)
        daemon.kobako("volume", "rm", anon[0])
        # a named, empty volume is filled too; nocopy leaves it empty; a volume with content is kept as is
        assert out(daemon.kobako("run", "--rm", "-v", f"{vol}:/data", image, "cat", "/data/seed")) == "seed\n"
        daemon.kobako("run", "--rm", "-v", f"{vol}:/data", image, "sh", "-c", "echo mine > /data/seed")
        assert out(daemon.kobako("run", "--rm", "-v", f"{vol}:/data", image, "cat", "/data/seed")) == "mine\n"
        res = daemon.kobako("run", "--rm", "-v", "/data:nocopy", image, "ls", "/data", check=False)
        assert res.returncode == 125  # "/data:nocopy": a mode needs a source, as in docker
        assert out(daemon.kobako("run", "--rm", "--mount", "type=volume,dst=/data,volume-nocopy", image,
                                 "ls", "/data")) == ""
        # rm -v and --rm remove anonymous volumes (image VOLUME and -v /path), never named ones
        before = set(_volumes(daemon))
        c = out(daemon.kobako("run", "-d", "-v", "/extra", "-v", f"{vol}:/named", image, "true")).strip()
        daemon.kobako("wait", c)
        assert len(set(_volumes(daemon)) - before) == 2
        daemon.kobako("rm", "-v", c)
        assert set(_volumes(daemon)) == before and vol in before
        daemon.kobako("run", "--rm", "-v", "/extra", image, "true")
        assert set(_volumes(daemon)) == before
    finally:
        daemon.kobako("rmi", "-f", image, check=False)


def test_volumes_from(daemon: Daemon, vol: str) -> None:
    a = out(daemon.kobako("create", "-v", f"{vol}:/data", "-v", "/anon", "busybox", "true")).strip()
    try:
        daemon.kobako("run", "--rm", "--volumes-from", a, "busybox", "sh", "-c", "echo 1 > /data/f; echo 2 > /anon/g")
        assert out(daemon.kobako("run", "--rm", "--volumes-from", a, "busybox", "cat", "/data/f", "/anon/g")) == "1\n2\n"
        res = daemon.kobako("run", "--rm", "--volumes-from", f"{a}:ro", "busybox", "touch", "/data/x", check=False)
        assert "Read-only file system" in err(res)
        res = daemon.kobako("run", "--rm", "--volumes-from", "no-such-container-x", "busybox", "true", check=False)
        assert res.returncode == 125 and "No such container: no-such-container-x" in err(res)
    finally:
        daemon.kobako("rm", "-v", a)
    assert vol in _volumes(daemon)


def test_prune(daemon: Daemon) -> None:
    named, used = "prune-" + secrets.token_hex(3), "pruneu-" + secrets.token_hex(3)
    daemon.kobako("volume", "create", named)
    c = out(daemon.kobako("create", "-v", "/anon", "-v", f"{used}:/u", "busybox", "true")).strip()
    anon = daemon.client().json("GET", f"/containers/{c}/json")["Mounts"]
    anon_name = next(m["Name"] for m in anon if m["Destination"] == "/anon")
    try:
        daemon.kobako("rm", c)  # the anonymous volume is now unused
        d = daemon.kobako("volume", "create", "--label", "keep=1")  # a named (generated) one
        keep = out(d).strip()
        res = out(daemon.kobako("volume", "prune", "-f"))
        assert anon_name in res and named not in res and res.startswith("Deleted Volumes:\n")
        assert res.rstrip().endswith("Total reclaimed space: 0B")
        res = out(daemon.kobako("volume", "prune", "-a", "-f", "--filter", "label!=keep"))
        assert named in res and used in res and keep not in res
        assert set(_volumes(daemon)) & {anon_name, named, used} == set() and keep in _volumes(daemon)
        daemon.kobako("volume", "rm", keep)
    finally:
        daemon.kobako("volume", "rm", "-f", named, used, check=False)


def test_volume_events(daemon: Daemon, vol: str) -> None:
    since = str(time.time() - 1)
    daemon.kobako("volume", "create", vol)
    daemon.kobako("run", "--rm", "-v", f"{vol}:/d", "busybox", "true")
    daemon.kobako("volume", "rm", vol)
    res = daemon.kobako("events", "--since", since, "--until", str(time.time() + 0.5), "--filter", "type=volume",
                        "--filter", f"volume={vol}", "--format", "{{.Action}}")
    assert out(res).split() == ["create", "mount", "unmount", "destroy"]


def test_data_and_mounts_survive_a_daemon_restart(tmp_path: Path) -> None:
    for d in daemon_session(tmp_path / "restart"):
        d.kobako("image", "bootstrap", "busybox")
        d.kobako("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        d.kobako("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tmpv")
        runner = out(d.kobako("run", "-d", "-v", "tmpv:/t", "busybox", "sh", "-c",
                              "echo live > /t/f; sleep 60")).strip()
        mountpoint = d.data_root / "volumes" / "tmpv" / "_data"
        d.kill9()
        d.start()
        assert out(d.kobako("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f")) == "kept\n"
        # the running container kept its tmpfs volume across the restart; its stop unmounts it
        assert _mounted(mountpoint)
        assert out(d.kobako("run", "--rm", "-v", "tmpv:/t", "busybox", "cat", "/t/f")) == "live\n"
        res = d.kobako("volume", "rm", "tmpv", check=False)
        assert "volume is in use" in err(res)
        d.kobako("rm", "-f", runner)
        assert not _mounted(mountpoint)
        # a host mount left by a daemon that died with no user is unmounted at the next start
        c = out(d.kobako("run", "-d", "-v", "tmpv:/t", "busybox", "sleep", "60")).strip()
        d.kill9()
        from tests.daemon_fixture import _kill_shims

        _kill_shims(d.exec_root)
        time.sleep(0.5)
        d.start()
        assert not _mounted(mountpoint)
        d.kobako("rm", "-f", c)
        d.kobako("volume", "rm", "keep", "tmpv")
        assert not _mounted(d.base)


def test_inspect_finds_a_volume_by_name(daemon: Daemon, vol: str) -> None:
    daemon.kobako("volume", "create", vol)
    found = json.loads(daemon.kobako("inspect", vol).stdout)
    assert [v["Name"] for v in found] == [vol] and found[0]["Driver"] == "local"
    assert daemon.kobako("inspect", "--type", "volume", "-f", "{{.Name}}", vol).stdout.decode().strip() == vol
    res = daemon.kobako("inspect", "--type", "image", vol, check=False)
    assert res.returncode == 1 and f"No such object: {vol}" in res.stderr.decode()
