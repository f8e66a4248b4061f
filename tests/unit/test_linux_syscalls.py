from __future__ import annotations

import errno
import os

import pytest

from kobako import linux
from kobako.linux.flags import SYS_CLONE, CloneFlag, MountFlag


def test_flag_values_match_kernel_headers() -> None:
    assert CloneFlag.CLONE_NEWNS == 0x20000 and CloneFlag.CLONE_NEWPID == 0x20000000
    assert MountFlag.MS_REC | MountFlag.MS_PRIVATE == 0x44000
    assert os.uname().machine in SYS_CLONE


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the unprivileged error path")
def test_errors_are_oserrors_naming_the_path() -> None:
    with pytest.raises(OSError) as ei:
        linux.umount2("/definitely/not/mounted")
    assert ei.value.errno in (errno.EPERM, errno.EINVAL, errno.ENOENT)
    assert ei.value.filename == "/definitely/not/mounted"


def test_umount_of_non_mount_fails_with_path(tmp_path: object) -> None:
    with pytest.raises(OSError) as ei:
        linux.umount2(str(tmp_path))
    assert ei.value.errno in (errno.EPERM, errno.EINVAL)
    assert ei.value.filename == str(tmp_path)


def test_prctl_and_set_name() -> None:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            linux.set_name("kobako-x")
            with open("/proc/self/comm") as f:
                code = 0 if f.read().strip() == "kobako-x" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_clone_without_flags_is_fork() -> None:
    r, w = os.pipe()
    pid = linux.clone(0)
    if pid == 0:
        os.write(w, str(os.getpid()).encode())
        os._exit(7)
    os.close(w)
    assert int(os.read(r, 32)) == pid
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
