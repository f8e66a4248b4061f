"""OCI ``linux.seccomp`` → a classic-BPF seccomp program: ``compile_filter`` has libseccomp make it
(``_libseccomp.py``, as runc does); the pure-Python compiler here, laid out the way libseccomp lays
one out, is the fallback when libseccomp cannot be loaded and the unit tests' cross-check (both
programs must give the same action for every syscall, arch and boundary argument).

Shape of the program::

    ld arch
    jeq AUDIT_ARCH_X86_64 → ja x86_64      one dispatch pair per architecture in the filter
    jeq AUDIT_ARCH_I386   → ja x86
    ret KILL                               an ABI the filter does not know: libseccomp's bad-arch action
                                           (SCMP_ACT_KILL, the thread; runc leaves it so)
  x86_64:
    ld nr
    jge X32_SYSCALL_BIT → ja x32 | ret KILL   x32 calls share x86_64's audit arch (without x32 in the
                                              filter, nr -1 still goes on to the rules, as libseccomp)
    jeq nr₁ ?  rule₁ … ret fallback₁        one block per syscall that has rules, in number order
    jeq nr₂ ?  …
    ret default
  x86: …

A syscall's block holds its argument-conditional rules first (each: the comparisons, all of which
must hold, then ``ret action``; a failed comparison skips to the next rule), then the action of its
unconditional rule, or the default. Arguments are compared as 64-bit values, high word first, on
64-bit ABIs and as their low word on 32-bit ones (x86, x32), as libseccomp does. On i386 a rule for
a socket or SysV IPC call is also a rule for socketcall(2)/ipc(2) with the call's number as arg 0.
"""

from __future__ import annotations

import json

import errno as _errno
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from kobako.runtime.seccomp import _bpf
from kobako.runtime.seccomp._bpf import (
    ALU_AND_K, AUDIT_ARCH, JA, JEQ_K, JGE_K, JGT_K, X32_SYSCALL_BIT, Insn, load, ret,
)
from kobako.runtime.seccomp._tables import syscall_table

SCMP_ARCH = {"SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32"}
NATIVE = {"x86_64": "x86_64", "i686": "x86", "i386": "x86"}
_ARCH_BITS = {"x86_64": 64, "x86": 32, "x32": 32}
FILTER_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_NR, _ARCH = 0, 4
_U64 = 0xFFFFFFFFFFFFFFFF
BAD_ARCH = _bpf.RET_KILL_THREAD  # libseccomp's default SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL

Cond = tuple[int, str, int, int]  # (index, op, value, valueTwo)


class SeccompError(ValueError):
    """A profile that cannot be compiled (unknown action, operator, architecture, or too big)."""


def action_value(action: str, errno_ret: int | None = None) -> int:
    """An OCI/libseccomp action name → the seccomp return value (ERRNO defaults to EPERM, as runc)."""
    data = (_errno.EPERM if errno_ret is None else int(errno_ret)) & _bpf.RET_DATA
    values = {
        "SCMP_ACT_KILL": _bpf.RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": _bpf.RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": _bpf.RET_KILL_PROCESS, "SCMP_ACT_TRAP": _bpf.RET_TRAP,
        "SCMP_ACT_ERRNO": _bpf.RET_ERRNO | data, "SCMP_ACT_TRACE": _bpf.RET_TRACE | data,
        "SCMP_ACT_LOG": _bpf.RET_LOG, "SCMP_ACT_ALLOW": _bpf.RET_ALLOW,
    }
    if action not in values:
        raise SeccompError(f"seccomp: unsupported action {action!r}")
    return values[action]


def native_arch() -> str:
    arch = NATIVE.get(platform.machine())
    if arch is None:
        raise SeccompError(f"seccomp: no syscall table for {platform.machine()}")
    return arch


_COMPILED: dict[tuple[str, str], bytes] = {}
_LIBSECCOMP: list[Any] = []  # [pyseccomp module or None], once tried


def compile_filter(seccomp: Mapping[str, Any], native: str | None = None) -> bytes:
    """The packed BPF program for an OCI ``linux.seccomp`` object, made by libseccomp.

    libseccomp (through pyseccomp) is the compiler, as in runc and crun; when it cannot be loaded,
    the pure-Python compiler below is used instead (said once, on stderr). Results are memoised by
    the profile's JSON, and the spawner compiles the default one before it forks shims, so a
    container start finds it ready.
    """
    native = native or native_arch()
    key = (json.dumps(seccomp, sort_keys=True, separators=(",", ":")), native)
    program = _COMPILED.get(key)
    if program is None:
        lib = libseccomp()
        if lib is not None:
            from kobako.runtime.seccomp import _libseccomp  # noqa: PLC0415

            program = _libseccomp.compile_bpf(lib, seccomp, native)
        else:
            program = compile_pure(seccomp, native)
        _COMPILED[key] = program
    return program


ENOSYS = 38


def enosys_stub(program: bytes, native: str, newest: int, default: int) -> bytes:
    """runc's ``patchbpf``, reduced to the native x86_64 ABI: a syscall newer than ``newest`` (the
    last one the compiling libseccomp knows, so the profile could not name it) gets ENOSYS, not the
    default action - glibc and friends then fall back to an older call instead of failing on EPERM.
    x32 numbers and -1 go to the filter as before; a profile whose default allows is left alone.
    The stub is prepended: BPF jumps are relative, so the program after it is unchanged."""
    if native != "x86_64" or default == _bpf.RET_ALLOW:
        return program
    stub = [
        load(4),                                             # arch
        Insn(JEQ_K, 0, 4, AUDIT_ARCH["x86_64"]),             # not x86_64 → the filter
        load(0),                                             # nr
        Insn(JGE_K, 2, 0, X32_SYSCALL_BIT),                  # x32 or -1 → the filter
        Insn(JGT_K, 0, 1, newest),                           # newer than libseccomp knows → ENOSYS
        ret(_bpf.RET_ERRNO | ENOSYS),
    ]
    return _bpf.pack(stub) + program


def precompile(seccomp: Mapping[str, Any], native: str | None = None) -> bytes:
    """Compile ``seccomp`` in a throw-away child and memoise the bytes here, leaving pyseccomp and
    libseccomp out of this process: the spawner does this, so the shims it forks do not carry (and
    dirty, at each collection) libseccomp's Python objects: ≈ 0.4 MiB per shim. A later compile of
    another profile (a container's own) happens in a short-lived creator and imports them there."""
    native = native or native_arch()
    key = (json.dumps(seccomp, sort_keys=True, separators=(",", ":")), native)
    if key in _COMPILED:
        return _COMPILED[key]
    import os  # noqa: PLC0415

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(r)
            program = compile_filter(seccomp, native)
            out = (b"L" if libseccomp() is not None else b"P") + program
            while out:
                out = out[os.write(w, out):]
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported through the exit code and stderr
            import sys  # noqa: PLC0415

            print(f"kobako: seccomp pre-compilation failed: {exc}", file=sys.stderr)
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if os.waitstatus_to_exitcode(status) != 0 or len(data) < 9:
        raise SeccompError("seccomp: pre-compilation in a child failed")
    if data[:1] == b"P" and not _LIBSECCOMP:
        _LIBSECCOMP.append(None)  # the child said why on stderr; do not try again in every creator
    program = _COMPILED[key] = data[1:]
    return program


def libseccomp() -> Any:
    """The pyseccomp module when libseccomp can be loaded, else None (and one line on stderr)."""
    if not _LIBSECCOMP:
        try:
            from kobako.runtime.seccomp import _libseccomp  # noqa: PLC0415

            _LIBSECCOMP.append(_libseccomp.load())
        except Exception as exc:  # noqa: BLE001 - ImportError, OSError from dlopen, RuntimeError
            _LIBSECCOMP.append(None)
            import sys  # noqa: PLC0415

            print(f"kobako: libseccomp cannot be used ({exc}); compiling seccomp filters in pure Python",
                  file=sys.stderr)
    return _LIBSECCOMP[0]


def compile_pure(seccomp: Mapping[str, Any], native: str | None = None) -> bytes:
    """The pure-Python compiler: the fallback without libseccomp, and the tests' cross-check."""
    return _compile(seccomp, native or native_arch())


def _compile(seccomp: Mapping[str, Any], native: str) -> bytes:
    default = action_value(str(seccomp.get("defaultAction") or ""), seccomp.get("defaultErrnoRet"))
    arches = [native]
    for name in seccomp.get("architectures") or ():
        arch = SCMP_ARCH.get(name)
        if arch is not None and arch not in arches:
            arches.append(arch)  # other families (ARM, MIPS...) cannot occur on this machine
    rules_ = rules(seccomp.get("syscalls") or ())
    blocks = {arch: _arch_block(arch, rules_, default, "x32" in arches) for arch in arches if arch != "x32"}
    if "x32" in arches:
        blocks["x32"] = _arch_block("x32", rules_, default, False)
    # dispatch on the audit arch; x32 is reached from the x86_64 block, not from here
    dispatched = [a for a in blocks if a != "x32"]
    head: list[Insn] = [load(_ARCH)]
    for arch in dispatched:
        head += [Insn(JEQ_K, 0, 1, AUDIT_ARCH[arch]), Insn(JA, k=0)]  # k patched below
    head.append(ret(BAD_ARCH))
    program = list(head)
    starts: dict[str, int] = {}
    for arch, block in blocks.items():
        starts[arch] = len(program)
        program += block
    for n, arch in enumerate(dispatched):
        at = 2 + 2 * n
        program[at] = Insn(JA, k=starts[arch] - at - 1)
    if "x32" in blocks:  # the x86_64 block's second instruction jumps to x32
        at = starts["x86_64"] + 2
        program[at] = Insn(JA, k=starts["x32"] - at - 1)
    if len(program) > _bpf.BPF_MAXINSNS:
        raise SeccompError(f"seccomp: filter of {len(program)} instructions exceeds {_bpf.BPF_MAXINSNS}")
    _bpf.verify(program)
    return _bpf.pack(program)


def filter_flags(seccomp: Mapping[str, Any]) -> int:
    flags = 0
    for name in seccomp.get("flags") or ():
        if name not in FILTER_FLAGS:
            raise SeccompError(f"seccomp: unsupported flag {name!r}")
        flags |= FILTER_FLAGS[name]
    return flags


def rules(syscalls: Sequence[Mapping[str, Any]]) -> list[tuple[list[str], tuple[Cond, ...], int]]:
    """``(names, comparisons, action)`` per rule, runc's way: the comparisons of one entry all hold
    in one rule, unless two compare the same argument."""
    out = []
    for sc in syscalls:
        names = list(sc.get("names") or ([sc["name"]] if sc.get("name") else []))
        action = action_value(str(sc.get("action") or ""), sc.get("errnoRet"))
        conds = []
        for a in sc.get("args") or ():
            op = str(a.get("op"))
            if op not in _OPS:
                raise SeccompError(f"seccomp: unsupported operator {op!r}")
            index = int(a.get("index", 0))
            if not 0 <= index < 6:
                raise SeccompError(f"seccomp: argument index {index} out of range")
            conds.append((index, op, int(a.get("value", 0)) & _U64, int(a.get("valueTwo", 0)) & _U64))
        indexes = [c[0] for c in conds]
        if len(set(indexes)) < len(indexes):
            # two comparisons of one argument: runc adds each as a rule of its own (so either matches)
            out += [(names, (c,), action) for c in conds]
        else:
            out.append((names, tuple(conds), action))
    return out


# i386's multiplexed calls: name → (multiplexer, its call number) (linux/net.h SYS_*, linux/ipc.h)
_SOCKETCALLS = ("socket bind connect listen accept getsockname getpeername socketpair send recv sendto "
                "recvfrom shutdown setsockopt getsockopt sendmsg recvmsg accept4 recvmmsg sendmmsg").split()
_MULTIPLEXED = {
    **{name: ("socketcall", n) for n, name in enumerate(_SOCKETCALLS, 1)},
    **{name: ("ipc", n) for name, n in (("semop", 1), ("semget", 2), ("semctl", 3), ("semtimedop", 4),
                                        ("msgsnd", 11), ("msgrcv", 12), ("msgget", 13), ("msgctl", 14),
                                        ("shmat", 21), ("shmdt", 22), ("shmget", 23), ("shmctl", 24))},
}


def _arch_block(arch: str, rules: Sequence[tuple[list[str], tuple[Cond, ...], int]], default: int,
                with_x32: bool) -> list[Insn]:
    table = syscall_table(arch)
    bit = X32_SYSCALL_BIT if arch == "x32" else 0
    per_nr: dict[int, tuple[list[tuple[tuple[Cond, ...], int]], list[int]]] = {}
    for names, conds, action in rules:
        if action == default:
            continue  # redundant (runc skips it): the default applies anyway
        for name in names:
            if arch == "x86" and name in _MULTIPLEXED:
                # i386 also reaches these through socketcall(2)/ipc(2), the call's number in arg 0:
                # libseccomp adds that rule too, arg 0 compared with the number instead
                call, number = _MULTIPLEXED[name]
                mux = ((0, "SCMP_CMP_EQ", number, 0), *(c for c in conds if c[0] != 0))
                per_nr.setdefault(table[call], ([], []))[0].append((mux, action))
            if name not in table:
                continue  # not a syscall of this ABI (runc and libseccomp skip these too)
            conditional, plain = per_nr.setdefault(table[name] | bit, ([], []))
            (conditional.append((conds, action)) if conds else plain.append(action))
    block: list[Insn] = [load(_NR)]
    if arch == "x86_64":
        if with_x32:
            block += [Insn(JGE_K, 0, 1, X32_SYSCALL_BIT), Insn(JA)]  # the JA is patched to the x32 block
        else:  # an x32 call is a bad arch, but nr -1 (a tracer's skipped call) reaches the rules
            block += [Insn(JGE_K, 0, 2, X32_SYSCALL_BIT), Insn(JEQ_K, 1, 0, 0xFFFFFFFF), ret(BAD_ARCH)]
    elif arch == "x32":
        block += [Insn(JGE_K, 1, 0, X32_SYSCALL_BIT), ret(BAD_ARCH)]
    bits = _ARCH_BITS[arch]
    for nr in sorted(per_nr):
        conditional, plain = per_nr[nr]
        if not conditional and plain and plain[0] == default:
            continue  # same as falling through to the default
        body: list[Insn] = []
        for conds, action in conditional:
            body += _rule(conds, action, bits)
        body.append(ret(plain[0] if plain else default))
        if len(body) <= 255:
            block.append(Insn(JEQ_K, 0, len(body), nr))
        else:
            block += [Insn(JEQ_K, 1, 0, nr), Insn(JA, k=len(body))]
        block += body
    block.append(ret(default))
    return block


# Each comparison is code with symbolic targets: "P" (the comparison holds: go on) and "F" (it does not:
# skip the rest of the rule). Words: "hi"/"lo" of the argument and of the value.
_OPS: dict[str, list[tuple[str, ...]]] = {
    "SCMP_CMP_EQ": [("ld", "hi"), ("jeq", "hi", "", "F"), ("ld", "lo"), ("jeq", "lo", "", "F")],
    "SCMP_CMP_NE": [("ld", "hi"), ("jeq", "hi", "", "P"), ("ld", "lo"), ("jeq", "lo", "F", "")],
    "SCMP_CMP_GT": [("ld", "hi"), ("jgt", "hi", "P", ""), ("jeq", "hi", "", "F"), ("ld", "lo"), ("jgt", "lo", "", "F")],
    "SCMP_CMP_GE": [("ld", "hi"), ("jgt", "hi", "P", ""), ("jeq", "hi", "", "F"), ("ld", "lo"), ("jge", "lo", "", "F")],
    "SCMP_CMP_LT": [("ld", "hi"), ("jgt", "hi", "F", ""), ("jeq", "hi", "", "P"), ("ld", "lo"), ("jge", "lo", "F", "")],
    "SCMP_CMP_LE": [("ld", "hi"), ("jgt", "hi", "F", ""), ("jeq", "hi", "", "P"), ("ld", "lo"), ("jgt", "lo", "F", "")],
    "SCMP_CMP_MASKED_EQ": [("ld", "hi"), ("and", "hi"), ("jeq", "hi", "", "F"), ("ld", "lo"), ("and", "lo"),
                           ("jeq", "lo", "", "F")],
}
_JUMPS = {"jeq": JEQ_K, "jgt": JGT_K, "jge": JGE_K}


def _rule(conds: Sequence[Cond], action: int, bits: int) -> list[Insn]:
    """The comparisons of one rule (all must hold) then ``ret action``; a failure skips past the ret."""
    code: list[tuple[int, int, int | str, int | str, int]] = []  # (opcode, k, jt, jf) with symbolic targets
    for index, op, value, value_two in conds:
        steps = _OPS[op]
        if bits == 32:  # only the low word exists: drop the high-word steps and their early exits
            steps = [s for s in steps if s[1] != "hi"]
        words = {"hi": value >> 32 & 0xFFFFFFFF, "lo": value & 0xFFFFFFFF}
        if op == "SCMP_CMP_MASKED_EQ":  # value is the mask, valueTwo the datum (masked, as libseccomp)
            masks = dict(words)
            words = {"hi": (value_two & value) >> 32 & 0xFFFFFFFF, "lo": value_two & value & 0xFFFFFFFF}
        start = len(code)
        for step in steps:
            if step[0] == "ld":
                code.append((_bpf.LD_W_ABS, 16 + 8 * index + (4 if step[1] == "hi" else 0), 0, 0, 0))
            elif step[0] == "and":
                code.append((ALU_AND_K, masks[step[1]], 0, 0, 0))
            else:
                code.append((_JUMPS[step[0]], words[step[1]], step[2] or 0, step[3] or 0, 0))
        end = len(code)  # "P" of this comparison: the first instruction after it
        for i in range(start, end):
            c, k, jt, jf, _ = code[i]
            code[i] = (c, k, end - i - 1 if jt == "P" else jt, end - i - 1 if jf == "P" else jf, 0)
    out = []
    fail = len(code) + 1  # past the ret
    for i, (c, k, jt, jf, _) in enumerate(code):
        out.append(Insn(c, fail - i - 1 if jt == "F" else int(jt), fail - i - 1 if jf == "F" else int(jf), k))
    out.append(ret(action))
    return out
