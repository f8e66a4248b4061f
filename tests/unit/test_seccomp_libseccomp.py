"""libseccomp (the compiler kobako uses, through pyseccomp) against the pure-Python compiler.

Both compile the same OCI ``linux.seccomp`` objects; both programs then run in the BPF interpreter
over every syscall number of the x86 family's tables (x86_64, i386, x32, an ABI the filter does not
know) and argument values around each rule's boundaries, and must give the same action everywhere.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kobako.runtime.caps import DEFAULT_CAPS
from kobako.runtime.seccomp import (
    RET_ALLOW, RET_ERRNO, SeccompError, compile_pure, default_profile, libseccomp, resolve_profile, run,
    seccomp_data, syscall_table,
)
from kobako.runtime.seccomp import _bpf, _compile, _libseccomp
from kobako.runtime.seccomp._compile import action_value, enosys_stub

lib = libseccomp()
pytestmark = pytest.mark.skipif(lib is None, reason="libseccomp.so.2 or pyseccomp is not installed")

ALL_ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
U64 = (1 << 64) - 1


def docker(caps: list[str]) -> dict[str, Any]:
    return resolve_profile(default_profile(), caps, machine="x86_64", kernel=(6, 1))


def _arg(index: int, op: str, value: int, value_two: int = 0) -> dict[str, Any]:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


OPS = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE"]
# one syscall per operator, with a 64-bit value (high word in play) and a 32-bit one
_ARG_RULES = [{"names": [name], "action": "SCMP_ACT_ALLOW", "args": [_arg(2, op, value)]}
              for name, op, value in zip(["read", "write", "pread64", "pwrite64", "readv", "writev"], OPS,
                                         [0x1_0000_0005] * 6)]
_ARG_RULES += [{"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
                "args": [_arg(1, op, 7)]}
               for name, op in zip(["mkdirat", "unlinkat", "renameat", "linkat", "symlinkat", "fchmodat"],
                                   OPS)]

PROFILES: dict[str, dict[str, Any]] = {
    "docker-default": docker(list(DEFAULT_CAPS)),
    "docker-sys-admin": docker([*DEFAULT_CAPS, "CAP_SYS_ADMIN"]),
    "docker-no-caps": docker([]),
    "errno-actions": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ALL_ARCHES, "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},  # EPERM by default
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
        {"names": ["chdir"], "action": "SCMP_ACT_TRAP"},
        {"names": ["fchdir"], "action": "SCMP_ACT_LOG"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
        {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 3},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},  # the default: redundant, skipped
        {"names": ["no_such_syscall", "umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    ]},
    "arg-ops": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
                "architectures": ALL_ARCHES,
                "syscalls": [*_ARG_RULES,
                             {"names": ["exit_group", "execve", "mmap", "brk"], "action": "SCMP_ACT_ALLOW"}]},
    "masked-eq": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ALL_ARCHES, "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
         "args": [_arg(0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0x10000000)]},
        # a datum with bits outside the mask: libseccomp masks it, so it can never match those bits
        {"names": ["unshare"], "action": "SCMP_ACT_ERRNO",
         "args": [_arg(0, "SCMP_CMP_MASKED_EQ", 0xF0_0000_00F0, 0x1F_0000_0020)]},
        {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOTTY,
         "args": [_arg(1, "SCMP_CMP_MASKED_EQ", 0xFFFF_FF00, 0x5400)]},
    ]},
    "several-args": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ALL_ARCHES, "syscalls": [
        # different arguments: one rule, all must hold
        {"names": ["write"], "action": "SCMP_ACT_ALLOW",
         "args": [_arg(0, "SCMP_CMP_EQ", 1), _arg(2, "SCMP_CMP_LE", 10)]},
        # the same argument twice: runc adds one rule per comparison (either allows)
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [_arg(0, "SCMP_CMP_EQ", 8), _arg(0, "SCMP_CMP_EQ", 0xFFFFFFFF)]},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [_arg(1, "SCMP_CMP_EQ", 0)]},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [_arg(1, "SCMP_CMP_EQ", 15)]},
        {"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    ]},
    "allow-list": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
                   "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
        {"names": sorted(syscall_table("x86_64"))[::3], "action": "SCMP_ACT_ALLOW"},
    ]},
    "deny-list": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                  "syscalls": [
        {"names": ["mount", "umount2", "pivot_root", "keyctl", "unshare", "setns", "bpf", "open_by_handle_at",
                   "umount", "stime"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["kexec_load", "init_module"], "action": "SCMP_ACT_KILL_PROCESS"},
    ]},
    "i386-multiplexed": {"defaultAction": "SCMP_ACT_ALLOW",
                         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                         "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [_arg(0, "SCMP_CMP_EQ", 40)]},
        {"names": ["bind"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
         "args": [_arg(0, "SCMP_CMP_EQ", 2), _arg(2, "SCMP_CMP_GT", 9)]},
        {"names": ["connect", "accept4", "send", "recv", "semop", "semget", "msgget", "shmat", "shmctl"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
         "args": [_arg(0, "SCMP_CMP_EQ", 11)]},
    ]},
    "native-only": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]},
}


def _numbers() -> Iterator[tuple[int, str | int]]:
    for arch in ("x86_64", "x86", "x32"):
        for nr in sorted({*syscall_table(arch).values(), *range(0, 480, 7), 999, 1023}):
            yield nr, arch
    yield 0xFFFF_FFFF, "x86_64"
    yield 0x4000_0000 | 600, "x86_64"  # past x32's table
    yield 0, 0xC00000B7  # aarch64: not in any of these filters
    yield 59, 0x40000028  # arm


def _arg_vectors(profile: dict[str, Any]) -> list[tuple[int, ...]]:
    """Arg 0 from 0 to 24 (the multiplexers' call numbers), then each rule's argument values set
    together, and each in turn moved to a value just below, at and above its boundary (in both
    32-bit words)."""
    # arg 0 over i386's socketcall(2)/ipc(2) call numbers
    vectors: set[tuple[int, ...]] = {(n, 0, 0, 0, 0, 0) for n in range(25)}
    for call in profile.get("syscalls") or ():
        conds = call.get("args") or []
        if not conds:
            continue
        base = [0] * 6
        for c in conds:
            base[c["index"]] = c.get("valueTwo", 0) if c["op"] == "SCMP_CMP_MASKED_EQ" else c["value"]
        vectors.add(tuple(base))
        for c in conds:
            v, v2 = c["value"], c.get("valueTwo", 0)
            for probe in (v - 1, v, v + 1, v | 1 << 32, v & 0xFFFF_FFFF, v >> 32, v + (1 << 32), 0xFFFF_FFFF,
                          U64, 1 << 63, v2, v2 | ~v, v2 ^ 0x10, v2 ^ (1 << 36)):
                moved = list(base)
                moved[c["index"]] = probe & U64
                vectors.add(tuple(moved))
    return sorted(vectors)


def _unknown_to_libseccomp(name: str) -> bool:
    return bool(lib.resolve_syscall(lib.Arch.NATIVE, name) == -1)


def _as_libseccomp_knows(profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` without the names the installed libseccomp does not know (it skips them, as runc
    does; the pure-Python tables may be newer)."""
    calls = [{**c, "names": [n for n in c["names"] if not _unknown_to_libseccomp(n)]}
             for c in profile.get("syscalls") or ()]
    return {**profile, "syscalls": calls}


def test_libseccomp_knows_all_but_the_newest_syscalls() -> None:
    """Debian 12's libseccomp 2.5.4 lacks only the syscalls of the last kernels: a filter made by
    it gives those the default action (EPERM for Docker's profile), as runc would with that library."""
    table = syscall_table("x86_64")
    unknown = {n for n in table if _unknown_to_libseccomp(n)}
    assert all(table[n] >= 455 for n in unknown), sorted(unknown)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_libseccomp_and_pure_python_agree(name: str) -> None:
    profile = PROFILES[name]
    default = action_value(profile["defaultAction"], profile.get("defaultErrnoRet"))
    newest = _libseccomp.newest_syscall(lib, lib.Arch.X86_64)
    # the same ENOSYS stub in front of both (tested on its own below)
    ours = _bpf.unpack(enosys_stub(compile_pure(_as_libseccomp_knows(profile), "x86_64"), "x86_64", newest, default))
    theirs = _bpf.unpack(_libseccomp.compile_bpf(lib, profile, "x86_64"))
    _bpf.verify(theirs)
    _bpf.verify(ours)
    vectors = _arg_vectors(profile)
    few = vectors[:2] + vectors[-2:]  # for calls no argument rule names (all vectors would be slow)
    with_args = {n for c in profile.get("syscalls") or () if c.get("args") for n in c["names"]}
    relevant = {(nr, arch) for arch in ("x86_64", "x86", "x32") for n, nr in syscall_table(arch).items()
                if n in with_args} | {(102, "x86"), (117, "x86")}
    differ = []
    checked = 0
    for nr, arch in _numbers():
        for args in vectors if (nr, arch) in relevant else few:
            data = seccomp_data(nr, arch, args)
            a, b = run(theirs, data, check=False), run(ours, data, check=False)
            checked += 1
            if a != b:
                differ.append((nr, arch, args, hex(a), hex(b)))
    assert not differ[:20], f"{len(differ)} of {checked} verdicts differ (nr, arch, args, libseccomp, ours)"
    assert checked >= 1000


def test_the_cross_check_has_teeth() -> None:
    """The default profile's verdicts are the ones Docker's profile means, through libseccomp."""
    program = _libseccomp.compile_bpf(lib, PROFILES["docker-default"], "x86_64")
    table = syscall_table("x86_64")

    def verdict(name: str, *args: int) -> int:
        return run(program, seccomp_data(table[name], "x86_64", args))

    assert verdict("read") == RET_ALLOW and verdict("mount") == RET_ERRNO | errno.EPERM
    assert verdict("clone", 0x01200011) == RET_ALLOW
    assert verdict("clone", 0x10000000) == RET_ERRNO | errno.EPERM
    assert verdict("clone3") == RET_ERRNO | errno.ENOSYS
    assert verdict("socket", 40) == RET_ERRNO | errno.EPERM and verdict("socket", 2) == RET_ALLOW


def test_compile_filter_uses_libseccomp_and_memoises() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}
    first = _compile.compile_filter(profile, native="x86_64")
    assert first == _libseccomp.compile_bpf(lib, profile, "x86_64")
    assert _compile.compile_filter(dict(profile), native="x86_64") is first


def test_libseccomp_refuses_what_runc_refuses() -> None:
    with pytest.raises(SeccompError, match="unknown architecture"):
        _libseccomp.compile_bpf(lib, {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
                                "x86_64")
    with pytest.raises(SeccompError, match="unsupported operator"):
        _libseccomp.compile_bpf(lib, {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [_arg(0, "SCMP_CMP_WAT", 1)]}]}, "x86_64")


def test_fallback_without_libseccomp(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """No libseccomp: the pure-Python compiler, and one line on stderr saying so."""
    def broken() -> Any:
        raise OSError("libseccomp.so.2: cannot open shared object file")

    monkeypatch.setattr(_libseccomp, "load", broken)
    monkeypatch.setattr(_compile, "_LIBSECCOMP", [])
    monkeypatch.setattr(_compile, "_COMPILED", {})
    profile = PROFILES["errno-actions"]
    assert _compile.compile_filter(profile, native="x86_64") == compile_pure(profile, "x86_64")
    _compile.compile_filter(PROFILES["masked-eq"], native="x86_64")
    err = capsys.readouterr().err
    assert err.count("libseccomp cannot be used") == 1 and "cannot open shared object" in err


def test_compile_time() -> None:
    """libseccomp compiles Docker's default profile in a few tens of milliseconds (done once per
    spawner; memoised after)."""
    profile = PROFILES["docker-default"]
    start = time.perf_counter()
    _libseccomp.compile_bpf(lib, profile, "x86_64")
    took = time.perf_counter() - start
    assert took < 0.5, f"libseccomp took {took * 1000:.0f} ms"


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_the_runtime_does_not_load_libseccomp() -> None:
    code = ("import sys, kobako.runtime.seccomp, kobako.runtime.security, kobako.shim.spawner; "
            "print('pyseccomp' in sys.modules)")
    assert _python(code).strip() == "False"


def test_precompile_keeps_libseccomp_out_of_the_process() -> None:
    """The spawner's pre-compilation: libseccomp runs in a child, only the bytes come back."""
    code = ("import sys; from kobako.runtime.caps import DEFAULT_CAPS; "
            "from kobako.runtime.seccomp import precompile, compile_filter, default_profile, "
            "resolve_profile; "
            "oci = resolve_profile(default_profile(), DEFAULT_CAPS, machine='x86_64', kernel=(6, 1)); "
            "p = precompile(oci, 'x86_64'); "
            "print('pyseccomp' in sys.modules, compile_filter(oci, 'x86_64') is p, "
            "'pyseccomp' in sys.modules, p.hex())")
    loaded, memoised, loaded_after, program = _python(code).split()
    assert (loaded, memoised, loaded_after) == ("False", "True", "False")
    assert bytes.fromhex(program) == _libseccomp.compile_bpf(lib, PROFILES["docker-default"], "x86_64")


def test_loading_leaves_ctypes_util_as_it_was() -> None:
    """load() dlopens by soname, with find_library stood in for during pyseccomp's import only."""
    code = ("import sys; from kobako.runtime.seccomp import _libseccomp; m = _libseccomp.load(); "
            "print('ctypes.util' in sys.modules, m.system_arch()); import ctypes.util; "
            "print(ctypes.util.find_library.__module__, ctypes.util.__file__.endswith('util.py'))")
    assert _python(code).split() == ["False", str(lib.Arch.X86_64), "ctypes.util", "True"]
    code = ("import ctypes.util; real = ctypes.util.find_library; "
            "from kobako.runtime.seccomp import _libseccomp; "
            "_libseccomp.load(); print(ctypes.util.find_library is real)")
    assert _python(code).strip() == "True"


def test_syscalls_newer_than_libseccomp_get_enosys() -> None:
    """runc's patchbpf: a syscall the compiling libseccomp does not know (so the profile could not name
    it) fails with ENOSYS, so glibc falls back, instead of the default action's EPERM."""
    program = _libseccomp.compile_bpf(lib, PROFILES["docker-default"], "x86_64")
    newest = _libseccomp.newest_syscall(lib, lib.Arch.X86_64)
    table = syscall_table("x86_64")
    assert newest == max(nr for n, nr in table.items() if not _unknown_to_libseccomp(n))
    enosys = RET_ERRNO | 38
    for nr in (newest + 1, newest + 5, 1000):
        assert run(program, seccomp_data(nr, "x86_64")) == enosys
    assert run(program, seccomp_data(table["read"], "x86_64")) == RET_ALLOW
    assert run(program, seccomp_data(table["kexec_load"], "x86_64")) == RET_ERRNO | 1  # named: EPERM
    assert run(program, seccomp_data(0xFFFF_FFFF, "x86_64")) != enosys  # -1: the filter decides
    assert run(program, seccomp_data(newest + 1, "x32")) != enosys  # x32 numbers: the filter decides
    allow_all = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    permissive = _libseccomp.compile_bpf(lib, allow_all, "x86_64")
    assert run(permissive, seccomp_data(newest + 1, "x86_64")) == RET_ALLOW  # default allow: no stub
