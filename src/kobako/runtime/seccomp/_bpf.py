"""Classic BPF for seccomp: the few instructions a filter needs, packing, and an interpreter.

A filter sees ``struct seccomp_data`` (include/uapi/linux/seccomp.h)::

    offset 0   u32 nr                   the syscall number
    offset 4   u32 arch                 AUDIT_ARCH_* of the calling ABI
    offset 8   u64 instruction_pointer
    offset 16  u64 args[6]              little-endian on x86: low word at 16+8i, high word at 20+8i

The interpreter (``run``) follows the kernel's semantics for the subset kobako emits and checks what
the kernel's verifier checks (forward jumps inside the program, a return at the end), so unit
tests execute the exact bytes the container will load.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

# opcodes (include/uapi/linux/filter.h, bpf_common.h)
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = u32 at data[k]
ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: A &= k
JA = 0x05  # BPF_JMP | BPF_JA: pc += k
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGT_K = 0x25
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06  # BPF_RET | BPF_K

BPF_MAXINSNS = 4096

# seccomp return values (include/uapi/linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

# AUDIT_ARCH_* (include/uapi/linux/audit.h); x32 shares x86_64's and sets bit 30 in nr
AUDIT_ARCH = {"x86_64": 0xC000003E, "x86": 0x40000003, "x32": 0xC000003E}
X32_SYSCALL_BIT = 0x40000000

_SECCOMP_DATA = struct.Struct("<IIQ6Q")


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``: jt/jf are forward skips taken after the instruction."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.jt <= 255 and 0 <= self.jf <= 255):
            raise ValueError(f"conditional jump too far ({self.jt}, {self.jf}): at most 255 instructions")


def load(offset: int) -> Insn:
    return Insn(LD_W_ABS, k=offset)


def ret(value: int) -> Insn:
    return Insn(RET_K, k=value & 0xFFFFFFFF)


def pack(program: Sequence[Insn]) -> bytes:
    return b"".join(struct.pack("<HBBI", i.code, i.jt, i.jf, i.k & 0xFFFFFFFF) for i in program)


def unpack(raw: bytes) -> list[Insn]:
    return [Insn(*struct.unpack_from("<HBBI", raw, off)) for off in range(0, len(raw), 8)]


def seccomp_data(nr: int, arch: int | str = "x86_64", args: Sequence[int] = (), ip: int = 0) -> bytes:
    """A packed ``struct seccomp_data`` (arch by name or AUDIT_ARCH value; x32 names add the x32 bit)."""
    if isinstance(arch, str):
        if arch == "x32":
            nr |= X32_SYSCALL_BIT
        arch = AUDIT_ARCH[arch]
    full = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    return _SECCOMP_DATA.pack(nr & 0xFFFFFFFF, arch, ip, *full)


def verify(program: Sequence[Insn]) -> None:
    """What the kernel's ``bpf_check_classic``/``seccomp_check_filter`` refuse, as ValueError."""
    if not 0 < len(program) <= BPF_MAXINSNS:
        raise ValueError(f"program length {len(program)} outside 1..{BPF_MAXINSNS}")
    for pc, i in enumerate(program):
        if i.code == JA:
            if pc + 1 + i.k >= len(program):
                raise ValueError(f"jump out of program at {pc}")
        elif i.code in (JEQ_K, JGT_K, JGE_K, JSET_K):
            if pc + 1 + max(i.jt, i.jf) >= len(program):
                raise ValueError(f"jump out of program at {pc}")
        elif i.code == LD_W_ABS:
            if i.k % 4 or i.k + 4 > _SECCOMP_DATA.size:
                raise ValueError(f"load of offset {i.k} outside seccomp_data at {pc}")
        elif i.code not in (ALU_AND_K, RET_K):
            raise ValueError(f"opcode {i.code:#x} not supported at {pc}")
    if program[-1].code != RET_K:
        raise ValueError("program must end with a return")


def run(program: bytes | Sequence[Insn], data: bytes, *, check: bool = True) -> int:
    """Run a filter over one ``seccomp_data``; returns the 32-bit seccomp return value.
    ``check=False`` skips the verifier, for a program already verified (tests that run one many times)."""
    insns = unpack(program) if isinstance(program, bytes) else program
    if check:
        verify(insns)
    a = 0
    pc = 0
    while True:
        i = insns[pc]
        pc += 1
        code = i.code
        if code == LD_W_ABS:
            a = int.from_bytes(data[i.k:i.k + 4], "little")
        elif code == JEQ_K:
            pc += i.jt if a == i.k else i.jf
        elif code == JGE_K:
            pc += i.jt if a >= i.k else i.jf
        elif code == JGT_K:
            pc += i.jt if a > i.k else i.jf
        elif code == JSET_K:
            pc += i.jt if a & i.k else i.jf
        elif code == ALU_AND_K:
            a &= i.k
        elif code == JA:
            pc += i.k
        else:  # RET_K: verify() admits nothing else
            return i.k
