"""The init's mount sequence, recorded by RecordingSyscalls on a tmp tree (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kobako.linux.fake import RecordingSyscalls
from kobako.linux.flags import MountFlag as MS
from kobako.linux.flags import UmountFlag
from kobako.mount import Mount
from kobako.runtime import default_spec
from kobako.runtime.rootfs import finish_rootfs, parse_options, pivot, prepare_rootfs, secure_join


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs" / "etc").mkdir(parents=True)
    return tmp_path


def _targets(rec: RecordingSyscalls, root: str) -> list[tuple[str, str | None]]:
    return [(str(c.args[1]).replace(root, "") or "/", c.args[2]) for c in rec.calls if c.name == "mount"]  # type: ignore[misc]


def test_parse_options() -> None:
    flags, prop, data = parse_options(["nosuid", "noexec", "ro", "mode=755", "size=65536k", "rprivate"])
    assert flags == MS.MS_NOSUID | MS.MS_NOEXEC | MS.MS_RDONLY
    assert prop == MS.MS_PRIVATE | MS.MS_REC
    assert data == "mode=755,size=65536k"
    assert parse_options(["ro", "rw"])[0] == 0
    assert parse_options(["rbind"])[0] == MS.MS_BIND | MS.MS_REC


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "escape").symlink_to("/etc")
    (tmp_path / "rel").symlink_to("../../../etc")
    assert secure_join(str(tmp_path), "/escape/passwd") == f"{tmp_path}/etc/passwd"
    assert secure_join(str(tmp_path), "rel") == f"{tmp_path}/etc"
    assert secure_join(str(tmp_path), "/../../x") == f"{tmp_path}/x"


def test_default_sequence_order(bundle: Path) -> None:
    rec = RecordingSyscalls()
    spec = default_spec(["sh"], cwd="/work/dir")
    rootfs = prepare_rootfs(rec, spec, bundle)
    assert rootfs == f"{bundle}/rootfs"
    calls = rec.calls
    # 1. host mounts made private, recursively, before anything else
    assert calls[0].name == "mount" and calls[0].args == (None, "/", None, MS.MS_REC | MS.MS_PRIVATE, None)
    # 2. no rootfs mounts: the rootfs is bind-mounted onto itself (pivot_root needs a mount point)
    assert calls[1].args == (rootfs, rootfs, None, MS.MS_BIND | MS.MS_REC, None)
    # 3. spec mounts in order, then device nodes in the fresh /dev
    assert _targets(rec, rootfs)[2:] == [("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                                         ("/sys", "sysfs"), ("/dev/mqueue", "mqueue"), ("/dev/shm", "tmpfs")]
    sysfs = next(c for c in calls if c.name == "mount" and c.args[2] == "sysfs")
    assert int(sysfs.args[3]) & MS.MS_RDONLY  # type: ignore[call-overload]
    devpts = next(c for c in calls if c.name == "mount" and c.args[2] == "devpts")
    assert "newinstance" in str(devpts.args[4]) and "ptmxmode=0666" in str(devpts.args[4])
    nodes = [os.path.basename(str(c.args[0])) for c in calls if c.name == "mknod"]
    assert nodes == ["null", "zero", "full", "random", "urandom", "tty"]
    assert rec.names().index("mknod") > max(i for i, n in enumerate(rec.names()) if n == "mount")
    dev = Path(rootfs, "dev")
    assert os.readlink(dev / "ptmx") == "pts/ptmx" and os.readlink(dev / "fd") == "/proc/self/fd"
    assert os.readlink(dev / "stderr") == "/proc/self/fd/2"
    assert Path(rootfs, "work/dir").is_dir()  # cwd created like runc


def test_rootfs_mounts_replace_self_bind(bundle: Path) -> None:
    rec = RecordingSyscalls()
    overlay = Mount("overlay", "overlay", ("lowerdir=/l", "upperdir=/u", "workdir=/w"))
    spec = default_spec(["sh"])
    spec["mounts"] = []
    rootfs = prepare_rootfs(rec, spec, bundle, [overlay])
    assert rec.calls[1].args == ("overlay", rootfs, "overlay", 0, "lowerdir=/l,upperdir=/u,workdir=/w")
    assert len(rec.calls) == 2


def test_bind_mount_ro_is_remounted(bundle: Path, tmp_path: Path) -> None:
    src = tmp_path / "data.txt"
    src.write_text("x")
    rec = RecordingSyscalls()
    spec = default_spec(["sh"], mounts=[{"destination": "/etc/data.txt", "type": "bind", "source": str(src),
                                         "options": ["rbind", "ro", "rprivate"]}])
    spec["mounts"] = spec["mounts"][-1:]
    rootfs = prepare_rootfs(rec, spec, bundle)
    target = f"{rootfs}/etc/data.txt"
    assert Path(target).is_file()  # a file source gets a file target
    assert [c.args[:4] for c in rec.calls[2:]] == [
        (str(src), target, None, MS.MS_BIND | MS.MS_REC),
        (None, target, None, MS.MS_BIND | MS.MS_REMOUNT | MS.MS_RDONLY),
        (None, target, None, MS.MS_PRIVATE | MS.MS_REC),
    ]


def test_pivot_the_runc_way() -> None:
    rec = RecordingSyscalls()
    pivot(rec, "/b/rootfs")
    assert [(c.name, c.args) for c in rec.calls] == [
        ("chdir", ("/b/rootfs",)),
        ("pivot_root", (".", ".")),
        ("mount", (None, ".", None, MS.MS_SLAVE | MS.MS_REC, None)),
        ("umount2", (".", UmountFlag.MNT_DETACH)),
        ("chdir", ("/",)),
    ]


def test_finish_masks_and_readonly(tmp_path: Path) -> None:
    (tmp_path / "proc" / "sys").mkdir(parents=True)
    (tmp_path / "proc" / "acpi").mkdir()
    (tmp_path / "proc" / "kcore").write_text("")
    spec = default_spec(["sh"], readonly_rootfs=True)
    rec = RecordingSyscalls()
    finish_rootfs(rec, spec, root=str(tmp_path))
    got = [(c.args[0], str(c.args[1]).replace(str(tmp_path), ""), c.args[2]) for c in rec.calls]
    p = str(tmp_path)
    assert got == [
        (f"{p}/proc/sys", "/proc/sys", None), (f"{p}/proc/sys", "/proc/sys", None),  # bind, then remount ro
        ("tmpfs", "/proc/acpi", "tmpfs"),
        ("/dev/null", "/proc/kcore", None),
        (None, "", None),  # the root, remounted read-only
    ]
    assert int(rec.calls[1].args[3]) & MS.MS_RDONLY and int(rec.calls[-1].args[3]) & MS.MS_RDONLY  # type: ignore[call-overload]
