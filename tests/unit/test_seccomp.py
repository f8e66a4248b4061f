"""The seccomp BPF assembler, run in the Python BPF interpreter over sample ``seccomp_data``."""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest

from kobako.runtime.caps import DEFAULT_CAPS
from kobako.runtime.seccomp import (
    RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, SeccompError, compile_filter, compile_pure, default_profile,
    parse_profile,
    resolve_profile, run, seccomp_data, syscall_table,
)
from kobako.runtime.seccomp import _bpf

EPERM = RET_ERRNO | errno.EPERM


def verdict(program: bytes, name: str, args: tuple[int, ...] = (), arch: str = "x86_64") -> int:
    return run(program, seccomp_data(syscall_table(arch)[name], arch, args))


@pytest.fixture(scope="module")
def default_filter() -> bytes:
    return compile_filter(resolve_profile(default_profile(), DEFAULT_CAPS, machine="x86_64", kernel=(6, 1)),
                          native="x86_64")


@pytest.fixture(scope="module")
def admin_filter() -> bytes:
    caps = [*DEFAULT_CAPS, "CAP_SYS_ADMIN"]
    return compile_filter(resolve_profile(default_profile(), caps, machine="x86_64", kernel=(6, 1)), native="x86_64")


# -- the assembler and the interpreter ---------------------------------------------------------
def test_instructions_pack_as_sock_filter() -> None:
    insn = _bpf.Insn(_bpf.JEQ_K, 1, 2, 0xC000003E)
    assert _bpf.pack([insn]) == bytes.fromhex("1500" "01" "02" "3e0000c0")
    assert _bpf.unpack(_bpf.pack([insn])) == [insn]


def test_conditional_jumps_are_limited_to_255() -> None:
    with pytest.raises(ValueError):
        _bpf.Insn(_bpf.JEQ_K, 256, 0, 1)


@pytest.mark.parametrize("program", [
    [],
    [_bpf.load(0)],  # no return at the end
    [_bpf.Insn(_bpf.JEQ_K, 5, 0, 1), _bpf.ret(0)],  # jump out of the program
    [_bpf.load(64), _bpf.ret(0)],  # past seccomp_data
    [_bpf.Insn(0x07), _bpf.ret(0)],  # an opcode the filter never uses
])
def test_verifier_refuses_what_the_kernel_refuses(program: list[_bpf.Insn]) -> None:
    with pytest.raises(ValueError):
        _bpf.verify(program)


def test_seccomp_data_layout() -> None:
    data = seccomp_data(59, "x86_64", (1, 1 << 40))
    assert len(data) == 64
    assert data[:4] == (59).to_bytes(4, "little") and data[4:8] == (0xC000003E).to_bytes(4, "little")
    assert data[16:24] == (1).to_bytes(8, "little") and data[24:32] == (1 << 40).to_bytes(8, "little")
    assert seccomp_data(0, "x32")[:4] == (0x40000000).to_bytes(4, "little")


# -- the default profile -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "exit_group", "futex", "clone",
                                  "capset", "setuid", "prctl", "fchmodat2", "arch_prctl", "chroot"])
def test_default_allows_ordinary_calls(default_filter: bytes, name: str) -> None:
    assert verdict(default_filter, name) == RET_ALLOW


@pytest.mark.parametrize("name", ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key",
                                  "kexec_load", "init_module", "reboot", "swapon",
                                  "open_by_handle_at", "bpf", "perf_event_open", "settimeofday", "acct",
                                  "sethostname", "userfaultfd", "syslog", "iopl"])
def test_default_refuses_privileged_calls_with_eperm(default_filter: bytes, name: str) -> None:
    assert verdict(default_filter, name) == EPERM


def test_clone_without_namespace_flags_only(default_filter: bytes, admin_filter: bytes) -> None:
    fork_flags = 0x01200011  # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
    assert verdict(default_filter, "clone", (fork_flags,)) == RET_ALLOW
    for ns in (0x00020000, 0x10000000, 0x20000000, 0x40000000):
        assert verdict(default_filter, "clone", (fork_flags | ns,)) == EPERM
    # a high word set cannot sneak past the masked comparison either
    assert verdict(default_filter, "clone", ((1 << 32) | 0x40000000,)) == EPERM
    assert verdict(admin_filter, "clone", (0x40000000,)) == RET_ALLOW


def test_clone3_is_enosys_without_sys_admin(default_filter: bytes, admin_filter: bytes) -> None:
    assert verdict(default_filter, "clone3") == RET_ERRNO | errno.ENOSYS
    assert verdict(admin_filter, "clone3") == RET_ALLOW


def test_personality_only_to_the_usual_domains(default_filter: bytes) -> None:
    for ok in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert verdict(default_filter, "personality", (ok,)) == RET_ALLOW
    for bad in (1, 0x0040000, 0x1_0000_0000):
        assert verdict(default_filter, "personality", (bad,)) == EPERM


def test_socket_but_vsock(default_filter: bytes) -> None:
    assert verdict(default_filter, "socket", (2, 1, 0)) == RET_ALLOW
    assert verdict(default_filter, "socket", (40, 1, 0)) == EPERM
    assert verdict(default_filter, "socket", ((1 << 32) | 40,)) == RET_ALLOW  # 64-bit: a different value


def test_capability_conditional_rules(default_filter: bytes, admin_filter: bytes) -> None:
    assert verdict(admin_filter, "mount") == RET_ALLOW and verdict(admin_filter, "unshare") == RET_ALLOW
    assert verdict(default_filter, "chroot") == RET_ALLOW  # CAP_SYS_CHROOT is a default cap
    no_chroot = compile_filter(resolve_profile(default_profile(), ["CAP_CHOWN"], machine="x86_64"), native="x86_64")
    assert verdict(no_chroot, "chroot") == EPERM


def test_i386_and_x32_are_filtered_too(default_filter: bytes) -> None:
    assert verdict(default_filter, "read", arch="x86") == RET_ALLOW
    assert verdict(default_filter, "mount", arch="x86") == EPERM
    assert verdict(default_filter, "socketcall", arch="x86") == RET_ALLOW
    assert verdict(default_filter, "read", arch="x32") == RET_ALLOW
    assert verdict(default_filter, "mount", arch="x32") == EPERM
    # 32-bit ABIs compare the low word only, as libseccomp does
    assert verdict(default_filter, "personality", (8,), arch="x86") == RET_ALLOW


def test_wrong_arch_is_killed(default_filter: bytes) -> None:
    # libseccomp's bad-arch action, SCMP_ACT_KILL (the thread: the whole of a single-threaded process)
    assert run(default_filter, seccomp_data(0, 0xC00000B7)) == _bpf.RET_KILL_THREAD  # aarch64
    only64 = compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]},
                            native="x86_64")
    assert run(only64, seccomp_data(0, "x86")) == _bpf.RET_KILL_THREAD
    assert run(only64, seccomp_data(0, "x32")) == _bpf.RET_KILL_THREAD  # x32 is its own ABI
    assert run(only64, seccomp_data(0, "x86_64")) == RET_ALLOW


def test_unknown_syscall_numbers_get_the_default(default_filter: bytes) -> None:
    # newer than the compiler knows: ENOSYS through libseccomp (runc's stub), the default without it
    from kobako.runtime.seccomp import libseccomp

    assert run(default_filter, seccomp_data(999, "x86_64")) == (
        _bpf.RET_ERRNO | 38 if libseccomp() is not None else EPERM)
    pure = compile_pure(resolve_profile(default_profile(), DEFAULT_CAPS, machine="x86_64", kernel=(6, 1)), "x86_64")
    assert run(pure, seccomp_data(999, "x86_64")) == EPERM
    assert run(default_filter, seccomp_data(0xFFFFFFFF, "x86_64")) == EPERM  # via the x32 block


def test_filter_fits_the_kernel_limit(default_filter: bytes) -> None:
    assert 0 < len(default_filter) // 8 <= _bpf.BPF_MAXINSNS


# -- argument comparisons on 64-bit values -----------------------------------------------------
def _one(op: str, value: int, value_two: int = 0) -> bytes:
    rule = {"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 2, "value": value, "valueTwo": value_two, "op": op}]}
    return compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule]}, native="x86_64")


BIG = 0x1_0000_0005


@pytest.mark.parametrize(("op", "value", "arg", "ok"), [
    ("SCMP_CMP_EQ", BIG, BIG, True), ("SCMP_CMP_EQ", BIG, 5, False), ("SCMP_CMP_EQ", 5, BIG, False),
    ("SCMP_CMP_NE", BIG, 5, True), ("SCMP_CMP_NE", BIG, BIG, False), ("SCMP_CMP_NE", 5, BIG, True),
    ("SCMP_CMP_GT", BIG, BIG + 1, True), ("SCMP_CMP_GT", BIG, BIG, False), ("SCMP_CMP_GT", BIG, 0x2_0000_0000, True),
    ("SCMP_CMP_GT", BIG, 0xFFFF_FFFF, False),
    ("SCMP_CMP_GE", BIG, BIG, True), ("SCMP_CMP_GE", BIG, BIG - 1, False), ("SCMP_CMP_GE", BIG, 1 << 40, True),
    ("SCMP_CMP_LT", BIG, BIG - 1, True), ("SCMP_CMP_LT", BIG, BIG, False), ("SCMP_CMP_LT", BIG, 0xFFFF_FFFF, True),
    ("SCMP_CMP_LT", BIG, 0x2_0000_0000, False),
    ("SCMP_CMP_LE", BIG, BIG, True), ("SCMP_CMP_LE", BIG, BIG + 1, False), ("SCMP_CMP_LE", BIG, 7, True),
])
def test_64_bit_comparisons(op: str, value: int, arg: int, ok: bool) -> None:
    got = run(_one(op, value), seccomp_data(0, "x86_64", (0, 0, arg)))
    assert (got == RET_ALLOW) is ok


def test_masked_equal() -> None:
    prog = _one("SCMP_CMP_MASKED_EQ", 0xF0_0000_00F0, 0x10_0000_0020)
    assert run(prog, seccomp_data(0, "x86_64", (0, 0, 0x10_0000_0020))) == RET_ALLOW
    assert run(prog, seccomp_data(0, "x86_64", (0, 0, 0x1F_0000_002F))) == RET_ALLOW  # bits outside the mask
    assert run(prog, seccomp_data(0, "x86_64", (0, 0, 0x20_0000_0020))) == EPERM


def test_several_args_must_all_hold_and_rules_are_alternatives() -> None:
    both = {"names": ["write"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 10, "op": "SCMP_CMP_LE"}]}
    other = {"names": ["write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
    prog = compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [both, other]}, native="x86_64")
    assert verdict(prog, "write", (1, 0, 10)) == RET_ALLOW
    assert verdict(prog, "write", (1, 0, 11)) == EPERM
    assert verdict(prog, "write", (2, 0, 99)) == RET_ALLOW
    assert verdict(prog, "write", (3, 0, 0)) == EPERM


def test_actions_and_errno() -> None:
    prog = compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["rmdir"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["chdir"], "action": "SCMP_ACT_TRAP"},
        {"names": ["fchdir"], "action": "SCMP_ACT_LOG"},
        {"names": ["not_a_syscall"], "action": "SCMP_ACT_KILL"},
    ]}, native="x86_64")
    assert verdict(prog, "mkdir") == RET_ERRNO | 13
    assert verdict(prog, "rmdir") == RET_KILL_PROCESS
    assert verdict(prog, "chdir") == 0x00030000
    assert verdict(prog, "fchdir") == 0x7FFC0000
    assert verdict(prog, "read") == RET_ALLOW


@pytest.mark.parametrize("bad", [
    {"defaultAction": "SCMP_ACT_NOPE"},
    {"defaultAction": "SCMP_ACT_NOTIFY"},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WAT"}]}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
])
def test_bad_profiles_are_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(SeccompError):
        compile_filter(bad, native="x86_64")


# -- Docker's JSON format → OCI ----------------------------------------------------------------------
def test_resolve_uses_the_arch_map_and_conditions() -> None:
    oci = resolve_profile(default_profile(), DEFAULT_CAPS, machine="x86_64", kernel=(6, 1))
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = {n for s in oci["syscalls"] for n in s["names"]}
    assert "arch_prctl" in names and "chroot" in names and "mount" not in names and "set_tls" not in names
    assert all("includes" not in s and "excludes" not in s for s in oci["syscalls"])
    old = resolve_profile(default_profile(), DEFAULT_CAPS, machine="x86_64", kernel=(4, 4))
    assert "ptrace" not in {n for s in old["syscalls"] for n in s["names"]}
    json.dumps(oci)


def test_parse_profile_errors() -> None:
    with pytest.raises(SeccompError, match="decoding seccomp profile failed"):
        parse_profile("{not json")
    with pytest.raises(SeccompError, match="use either"):
        parse_profile(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                  "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}))
