"""Isolation probes: each runs a container and checks one promise of Docker's security defaults.

The probe is busybox in the container, reading /proc/self/status or trying what must be refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from kobako.runtime.caps import CAP_NUMBER, DEFAULT_CAPS, DEFAULT_MASK, host_bounding
from tests.daemon_fixture import Daemon


def run(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return daemon.kobako("run", "--rm", *args, check=check)


def sh(daemon: Daemon, script: str, *flags: str, check: bool = True) -> str:
    return run(daemon, *flags, "busybox", "sh", "-c", script, check=check).stdout.decode()


def status(daemon: Daemon, *flags: str) -> dict[str, str]:
    out = sh(daemon, "cat /proc/self/status", *flags)
    return {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def test_default_capabilities_are_dockers(daemon: Daemon) -> None:
    st = status(daemon)
    for key in ("CapBnd", "CapEff", "CapPrm"):
        assert int(st[key], 16) == DEFAULT_MASK == 0x00000000A80425FB, (key, st[key])
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0


def test_default_seccomp_filter_is_loaded(daemon: Daemon) -> None:
    st = status(daemon)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "0"


def test_mount_is_refused(daemon: Daemon) -> None:
    out = sh(daemon, "mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1; echo rc=$?")
    assert "permission denied" in out and "rc=0" not in out


def test_unshare_is_refused(daemon: Daemon) -> None:
    out = sh(daemon, "unshare -n true 2>&1; echo rc=$?")
    assert "Operation not permitted" in out and out.strip().endswith("rc=1")


def test_seccomp_refuses_what_capabilities_would_allow(daemon: Daemon, tmp_path: Path) -> None:
    # With CAP_SYS_ADMIN granted but a filter denying mount with ENOSPC (to tell it from a capability
    # check's EPERM), mount fails that way: the filter is in force on its own. (keyctl/add_key are denied
    # by the default filter; busybox has no applet for them, so tests/unit/test_seccomp.py checks those.)
    profile = tmp_path / "deny-mount.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}))
    out = sh(daemon, "mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1; echo rc=$?", "--cap-add", "SYS_ADMIN",
             "--security-opt", f"seccomp={profile}")
    assert "rc=0" not in out and "No space left on device" in out, out


@pytest.mark.parametrize("path", ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"])
def test_masked_proc_files_are_empty(daemon: Daemon, path: str) -> None:
    out = sh(daemon, f"test -e {path} || exit 0; wc -c < {path}")
    assert out.strip() in ("", "0")


def test_sys_firmware_is_masked(daemon: Daemon) -> None:
    out = sh(daemon, "ls -A /sys/firmware | wc -l; touch /sys/firmware/x; echo rc=$?")
    assert out.split() == ["0", "rc=1"]


def test_readonly_proc_paths(daemon: Daemon) -> None:
    out = sh(daemon, "echo 1 > /proc/sys/kernel/domainname; echo sys=$?; echo b > /proc/sysrq-trigger; "
                     "echo sysrq=$?")
    assert "sys=1" in out and "sysrq=1" in out


def test_sys_is_read_only(daemon: Daemon) -> None:
    out = sh(daemon, "grep ' /sys ' /proc/mounts; mkdir /sys/fs/x; echo rc=$?")
    assert re.search(r" /sys sysfs ro[, ]", out), out
    assert "rc=1" in out


def test_no_host_block_devices(daemon: Daemon) -> None:
    out = sh(daemon, "ls -l /dev | grep '^b' | wc -l; ls /dev")
    lines = out.split()
    assert lines[0] == "0"
    assert set(lines[1:]) >= {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"}


def test_devices_cgroup_allows_only_defaults(daemon: Daemon) -> None:
    # mknod is allowed (CAP_MKNOD, "m" in the rules); opening a block device is not.
    out = sh(daemon, "mknod /tmp/loop b 7 0 && echo made; head -c1 /tmp/loop >/dev/null; echo rc=$?")
    assert "made" in out and "rc=1" in out


def test_cap_add_sys_admin_allows_mount(daemon: Daemon) -> None:
    out = sh(daemon, "mkdir -p /mnt; mount -t tmpfs none /mnt && grep ' /mnt ' /proc/mounts && echo ok", "--cap-add", "SYS_ADMIN")
    assert "ok" in out
    st = status(daemon, "--cap-add", "cap_sys_admin")
    assert int(st["CapEff"], 16) == DEFAULT_MASK | 1 << CAP_NUMBER["CAP_SYS_ADMIN"]


def test_cap_drop_all(daemon: Daemon) -> None:
    st = status(daemon, "--cap-drop", "ALL")
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0


def test_cap_drop_one_and_add_one(daemon: Daemon) -> None:
    st = status(daemon, "--cap-drop", "CHOWN", "--cap-add", "CAP_NET_ADMIN")
    want = DEFAULT_MASK & ~(1 << CAP_NUMBER["CAP_CHOWN"]) | 1 << CAP_NUMBER["CAP_NET_ADMIN"]
    assert int(st["CapBnd"], 16) == want
    out = sh(daemon, "touch /tmp/f; chown 65534 /tmp/f; echo rc=$?", "--cap-drop", "CHOWN")
    assert "rc=1" in out


def test_unknown_capability_is_refused(daemon: Daemon) -> None:
    res = run(daemon, "--cap-add", "NOT_A_CAP", "busybox", "true", check=False)
    assert res.returncode == 125
    assert b'unknown capability: "CAP_NOT_A_CAP"' in res.stderr


def test_non_root_user_has_no_effective_caps(daemon: Daemon) -> None:
    st = status(daemon, "--user", "65534")
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert int(st["CapBnd"], 16) == DEFAULT_MASK


def test_privileged_lifts_the_limits(daemon: Daemon) -> None:
    st = status(daemon, "--privileged")
    assert int(st["CapBnd"], 16) == host_bounding() and int(st["CapEff"], 16) == host_bounding()
    assert st["Seccomp"] == "0"
    out = sh(daemon, "mkdir -p /mnt; mount -t tmpfs none /mnt && echo mounted; grep ' /sys ' /proc/mounts; "
                     "wc -c < /proc/kcore >/dev/null 2>&1; ls -l /dev | grep -c '^b'", "--privileged")
    assert "mounted" in out
    assert re.search(r" /sys sysfs rw[, ]", out), out
    blocks = sum(1 for p in Path("/dev").iterdir() if p.is_block_device() and not p.is_symlink())
    assert out.split()[-1] == str(blocks)


def test_privileged_reports_what_the_host_cannot_grant(daemon: Daemon) -> None:
    missing = [n for n, b in CAP_NUMBER.items() if not host_bounding() >> b & 1]
    res = daemon.kobako("create", "--privileged", "busybox", "true")
    cid = res.stdout.decode().strip()
    try:
        if missing:
            assert "WARNING: --privileged: the host does not grant" in res.stderr.decode()
            for name in missing:
                assert name in res.stderr.decode()
            assert any(name in line for line in daemon.log.read_text().splitlines() for name in missing)
        else:
            assert b"WARNING" not in res.stderr
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_seccomp_unconfined(daemon: Daemon) -> None:
    st = status(daemon, "--security-opt", "seccomp=unconfined")
    assert st["Seccomp"] == "0"
    assert int(st["CapEff"], 16) == DEFAULT_MASK  # the capabilities stay


def test_seccomp_profile_from_file(daemon: Daemon, tmp_path: Path) -> None:
    # A profile that allows everything but mkdir/mkdirat (EACCES here, to tell it from EPERM).
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(profile))
    out = sh(daemon, "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?",
             "--security-opt", f"seccomp={f}")
    assert "Seccomp:\t2" in out and "Permission denied" in out and "rc=1" in out


def test_custom_profile_denying_mkdir_with_eperm(daemon: Daemon, tmp_path: Path) -> None:
    # Docker's own layout (archMap, names lists, an unknown name skipped), compiled by libseccomp:
    # mkdir is refused with EPERM under it, and allowed under the default profile.
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
               "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]}
    f = tmp_path / "deny-mkdir.json"
    f.write_text(json.dumps(profile))
    script = "mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo touched"
    out = sh(daemon, script, "--security-opt", f"seccomp={f}")
    assert "Operation not permitted" in out and "rc=1" in out and "touched" in out, out
    out = sh(daemon, script)
    assert "rc=0" in out and "touched" in out, out


def test_custom_profile_argument_rules(daemon: Daemon, tmp_path: Path) -> None:
    # chmod's mode checked with SCMP_CMP_MASKED_EQ (mode & 0777 == 0700 → EACCES): the argument
    # comparison runs in the kernel, so `chmod 700` fails and `chmod 755` does not.
    masked = {"op": "SCMP_CMP_MASKED_EQ", "value": 0o777, "valueTwo": 0o700}
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, **masked}]},
        {"names": ["fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 2, **masked}]}]}
    f = tmp_path / "mode.json"
    f.write_text(json.dumps(profile))
    out = sh(daemon, "touch /tmp/a; chmod 700 /tmp/a 2>&1; echo a=$?; chmod 755 /tmp/a 2>&1; echo b=$?; "
                     "stat -c %a /tmp/a", "--security-opt", f"seccomp={f}")
    assert "Permission denied" in out and "a=1" in out and "b=0" in out and out.split()[-1] == "755", out


def test_no_new_privileges(daemon: Daemon) -> None:
    for opt in ("no-new-privileges", "no-new-privileges:true"):
        st = status(daemon, "--security-opt", opt)
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"


def test_read_only_rootfs_with_tmpfs(daemon: Daemon) -> None:
    out = sh(daemon, "touch /x; echo root=$?; touch /tmp/y && echo tmp=0", "--read-only", "--tmpfs", "/tmp")
    assert "root=1" in out and "tmp=0" in out


def test_ulimit_nofile(daemon: Daemon) -> None:
    out = sh(daemon, "ulimit -n; ulimit -Hn", "--ulimit", "nofile=1024:2048")
    assert out.split() == ["1024", "2048"]


def test_ulimit_above_the_hosts_hard_limit_is_reported(daemon: Daemon) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or host_bounding() >> CAP_NUMBER["CAP_SYS_RESOURCE"] & 1:
        pytest.skip("the host can raise hard limits (CAP_SYS_RESOURCE)")
    res = run(daemon, "--ulimit", f"nofile=1024:{hard * 2}", "busybox", "true", check=False)
    assert res.returncode != 0
    assert b"CAP_SYS_RESOURCE" in res.stderr


def test_device_is_added_and_allowed(daemon: Daemon) -> None:
    loop = next((p for p in ("/dev/loop0", "/dev/loop1") if os.path.exists(p)), None)
    if loop is None:
        pytest.skip("needs a /dev/loopN")
    st = os.stat(loop)
    out = sh(daemon, "stat -c '%F %t:%T' /dev/xdev; (exec 3</dev/xdev) 2>&1 && echo opened-r; "
                     "(exec 3>/dev/xdev) 2>&1 && echo opened-w; echo done",
             "--device", f"{loop}:/dev/xdev:r")
    assert out.splitlines()[0] == f"block special file {os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}"
    assert "opened-r" in out and "opened-w" not in out and "Operation not permitted" in out


def test_exec_gets_the_same_confinement(daemon: Daemon) -> None:
    cid = daemon.kobako("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        out = daemon.kobako("exec", cid, "cat", "/proc/self/status").stdout.decode()
        st = {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
        assert int(st["CapBnd"], 16) == DEFAULT_MASK and int(st["CapEff"], 16) == DEFAULT_MASK
        assert st["Seccomp"] == "2"
        out = daemon.kobako("exec", "--privileged", cid, "cat", "/proc/self/status").stdout.decode()
        st = {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
        assert int(st["CapEff"], 16) == host_bounding() and st["Seccomp"] == "2"
        out = daemon.kobako("exec", "-u", "65534", cid, "cat", "/proc/self/status").stdout.decode()
        st = {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
        assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == DEFAULT_MASK
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


# -- --userns-remap (a private kobakod started with it: tests/integration/userns_fixture.py) --------------------
from tests.integration.userns_fixture import HOST_GID, HOST_UID, SIZE, remapped  # noqa: E402, F401


def _id_map(text: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in text.splitlines() if line.strip()]


def test_without_remap_the_container_shares_the_hosts_user_namespace(daemon: Daemon) -> None:
    assert _id_map(sh(daemon, "cat /proc/self/uid_map")) == [[0, 0, 4294967295]]


def test_remapped_root_is_the_subordinate_range(remapped: Daemon) -> None:
    out = sh(remapped, "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g")
    uid_map, gid_map, ids = out.split("--\n")
    assert _id_map(uid_map) == [[0, HOST_UID, SIZE]] and _id_map(gid_map) == [[0, HOST_GID, SIZE]]
    assert ids.split() == ["0", "0"]


def test_remapped_root_owns_named_volume_files_as_the_remapped_uid(remapped: Daemon) -> None:
    remapped.kobako("volume", "create", "ux-probe-vol")
    try:
        sh(remapped, "echo x > /data/by-root; mkdir /data/dir", "-v", "ux-probe-vol:/data")
        mountpoint = Path(json.loads(remapped.kobako("volume", "inspect", "ux-probe-vol").stdout)[0]["Mountpoint"])
        for p in (mountpoint, mountpoint / "by-root", mountpoint / "dir"):
            st = p.stat()
            assert (st.st_uid, st.st_gid) == (HOST_UID, HOST_GID), p
        # inside, the same files are root's
        assert sh(remapped, "stat -c %u:%g /data/by-root", "-v", "ux-probe-vol:/data").strip() == "0:0"
    finally:
        remapped.kobako("volume", "rm", "-f", "ux-probe-vol", check=False)


def test_remapped_root_cannot_do_host_root_things(remapped: Daemon, tmp_path: Path) -> None:
    """Bind mounts are left as they are (as in Docker): a host root-owned 0644 file is readable and not
    writable, a 0600 one not even readable, though the container's root holds its usual capabilities."""
    public, secret = tmp_path / "public", tmp_path / "secret"
    public.write_text("host data\n")
    public.chmod(0o644)
    secret.write_text("host secret\n")
    secret.chmod(0o600)
    os.chown(public, 0, 0)
    os.chown(secret, 0, 0)
    out = sh(remapped, "cat /h/public; echo pwned >> /h/public; echo w=$?; cat /h/secret; echo r=$?; "
                       "chown 0:0 /h/public; echo c=$?; mknod /tmp/sda b 8 0; echo m=$?; "
                       "grep CapEff /proc/self/status",
             "-v", f"{public}:/h/public", "-v", f"{secret}:/h/secret")
    assert "host data" in out and "w=1" in out and "host secret" not in out and "r=1" in out
    assert "c=1" in out and "m=1" in out
    assert int(out.split("CapEff:")[1].split()[0], 16) == DEFAULT_MASK  # the default set, inside
    assert public.read_text() == "host data\n" and secret.read_text() == "host secret\n"
    st = public.stat()
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_remapped_default_capabilities_and_seccomp_still_apply(remapped: Daemon) -> None:
    st = status(remapped)
    for key in ("CapBnd", "CapEff", "CapPrm"):
        assert int(st[key], 16) == DEFAULT_MASK, (key, st[key])
    assert st["Seccomp"] == "2"
    # CAP_SYS_ADMIN is not in the set: mount is refused even inside the user namespace
    out = sh(remapped, "mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1; echo rc=$?")
    assert "rc=0" not in out


def test_userns_host_opts_out(remapped: Daemon) -> None:
    assert _id_map(sh(remapped, "cat /proc/self/uid_map", "--userns=host")) == [[0, 0, 4294967295]]
    # and only with it may a container be privileged or share the host's network
    for flags, message in ((("--privileged",), "privileged mode is incompatible with user namespaces"),
                           (("--network", "host"), "cannot share the host's network namespace")):
        r = run(remapped, *flags, "busybox", "true", check=False)
        assert r.returncode == 125 and message in r.stderr.decode()
    assert run(remapped, "--privileged", "--userns=host", "busybox", "true").returncode == 0
    r = run(remapped, "--userns=bogus", "busybox", "true", check=False)
    assert r.returncode == 125 and "invalid USER mode" in r.stderr.decode()


def test_filter_verdicts_on_the_kernel_enosys_for_newer_syscalls() -> None:
    """The default filter loaded into a forked child on this kernel: a syscall newer than the compiling
    libseccomp knows fails with ENOSYS (runc's stub), a named privileged one with EPERM, getpid works."""
    from kobako.runtime.seccomp import compile_filter, default_profile, libseccomp, resolve_profile

    if libseccomp() is None:
        pytest.skip("needs libseccomp")
    from kobako.runtime.seccomp._libseccomp import newest_syscall

    program = compile_filter(resolve_profile(default_profile(), DEFAULT_CAPS, machine="x86_64",
                                             kernel=(6, 1)), native="x86_64")
    lib = libseccomp()
    newer = newest_syscall(lib, lib.Arch.X86_64) + 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no_new_privs, the filter, three calls, their errnos to the parent
        try:
            import ctypes

            from kobako.linux.syscalls import seccomp_set_filter

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            seccomp_set_filter(program)
            out = []
            for nr in (newer, 246, 39):  # newer than libseccomp; kexec_load; getpid
                ctypes.set_errno(0)
                rc = libc.syscall(ctypes.c_long(nr), 0, 0, 0, 0)
                out.append(f"{rc}:{ctypes.get_errno()}")
            os.write(w, " ".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = f.read().decode().split()
    os.waitpid(pid, 0)
    assert got[0] == f"-1:{38}" and got[1] == "-1:1" and got[2] == f"{pid}:0", got
