"""OCI ``linux.seccomp`` → BPF through libseccomp (the library runc, crun and Docker use), via pyseccomp.

The translation is runc's (``libcontainer/seccomp/seccomp_linux.go``): a filter whose default is
``defaultAction``, every listed architecture added, then one rule per syscall name: a rule whose
action is the default is skipped, a name libseccomp cannot resolve is skipped, an entry's ``args``
become one rule whose comparisons must all hold (or one rule per comparison when two compare the
same argument, as runc does; ``_compile._rules`` makes that split for both compilers). libseccomp
lays out the program (per-arch dispatch, x32, the socketcall/ipc multiplexers of x86) and
``seccomp_export_bpf`` writes it to a memfd, read back here: the caller loads the bytes itself, in
runc's order, so no libseccomp call is made in the container's init.

pyseccomp is imported only when a filter is compiled (``load()``), never by the CLI.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping
from typing import Any

from kobako.runtime.seccomp._compile import SeccompError, action_value, enosys_stub, rules

# OCI/libseccomp comparison names → libseccomp's enum scmp_compare
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name's "no such syscall" (other negatives are pseudo-calls)


# The sonames are the libraries' ABI: dlopen finds them without ``ctypes.util.find_library``, whose
# import (shutil, subprocess...) and ``ldconfig -p`` run were 18 of the 20 ms pyseccomp's import took
# in a container's creator (which imports it when the container's profile is not the default one).
_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


def load() -> Any:
    """The pyseccomp module (its import dlopens libseccomp.so.2), or an exception saying why
    libseccomp cannot be used."""
    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes  # noqa: PLC0415

    real = sys.modules.get("ctypes.util")
    if real is not None:
        saved = real.find_library
        real.find_library = _SONAMES.get  # type: ignore[assignment]
    else:
        stub = types.ModuleType("ctypes.util")
        stub.find_library = _SONAMES.get  # type: ignore[attr-defined]
        sys.modules["ctypes.util"] = ctypes.util = stub  # type: ignore[attr-defined]
    try:
        import pyseccomp  # noqa: PLC0415
    finally:
        if real is not None:
            real.find_library = saved  # type: ignore[method-assign]
        else:  # the real ctypes.util is imported by whoever asks for it next
            del sys.modules["ctypes.util"]
            del ctypes.util  # type: ignore[attr-defined]
    return pyseccomp


def _arches(lib: Any) -> dict[str, int]:
    a = lib.Arch
    return {"SCMP_ARCH_X86": a.X86, "SCMP_ARCH_X86_64": a.X86_64, "SCMP_ARCH_X32": a.X32,
            "SCMP_ARCH_ARM": a.ARM, "SCMP_ARCH_AARCH64": a.AARCH64, "SCMP_ARCH_MIPS": a.MIPS,
            "SCMP_ARCH_MIPS64": a.MIPS64, "SCMP_ARCH_MIPS64N32": a.MIPS64N32, "SCMP_ARCH_MIPSEL": a.MIPSEL,
            "SCMP_ARCH_MIPSEL64": a.MIPSEL64, "SCMP_ARCH_MIPSEL64N32": a.MIPSEL64N32,
            "SCMP_ARCH_PPC": a.PPC, "SCMP_ARCH_PPC64": a.PPC64, "SCMP_ARCH_PPC64LE": a.PPC64LE,
            "SCMP_ARCH_S390": a.S390, "SCMP_ARCH_S390X": a.S390X, "SCMP_ARCH_PARISC": a.PARISC,
            "SCMP_ARCH_PARISC64": a.PARISC64, "SCMP_ARCH_RISCV64": a.RISCV64}


_NATIVE = {"x86_64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32"}


def compile_bpf(lib: Any, seccomp: Mapping[str, Any], native: str) -> bytes:
    """The packed BPF program libseccomp makes for ``seccomp`` on the ``native`` ABI."""
    arch_ids = _arches(lib)
    default = action_value(str(seccomp.get("defaultAction") or ""), seccomp.get("defaultErrnoRet"))
    parsed = rules(seccomp.get("syscalls") or ())  # validates actions, operators and indexes first
    try:
        filt = lib.SyscallFilter(default)
    except OSError as exc:
        raise SeccompError(f"seccomp: libseccomp refused default action {seccomp.get('defaultAction')!r}: "
                           f"{exc.strerror}") from None
    native_id = arch_ids[_NATIVE[native]]
    if lib.system_arch() != native_id:  # only when asked for another ABI (tests); the filter starts native
        filt.add_arch(native_id)
        filt.remove_arch(lib.Arch.NATIVE)
    for name in seccomp.get("architectures") or ():
        arch = arch_ids.get(name)
        if arch is None:
            raise SeccompError(f"seccomp: unknown architecture {name!r}")
        if not filt.exist_arch(arch):
            filt.add_arch(arch)
    # runc turns libseccomp's binary-tree layout on for long lists (> 32 entries); its behaviour is
    # the same, only the order of the comparisons changes.
    if len(seccomp.get("syscalls") or ()) > 32:
        filt.set_attr(lib.Attr.CTL_OPTIMIZE, 2)
    for names, conds, action in parsed:
        if action == default:
            continue  # redundant; libseccomp would refuse it
        args = [lib.Arg(index, _OPS[op], value, value_two) for index, op, value, value_two in conds]
        for name in names:
            nr = lib.resolve_syscall(lib.Arch.NATIVE, name)
            if nr == _NR_SCMP_ERROR:
                continue  # unknown to libseccomp: not a syscall of this kernel (runc skips it too)
            try:
                filt.add_rule(action, nr, *args)
            except OSError as exc:
                raise SeccompError(f"seccomp: libseccomp refused the rule for {name!r}: "
                                   f"{exc.strerror}") from None
    fd = os.memfd_create("kobako-seccomp", os.MFD_CLOEXEC)
    try:
        filt.export_bpf(_Fd(fd))
        size = os.lseek(fd, 0, os.SEEK_END)
        program = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    if not program or len(program) % 8:
        raise SeccompError(f"seccomp: libseccomp exported {len(program)} bytes, not a BPF program")
    return enosys_stub(program, native, newest_syscall(lib, native_id), default)


_NEWEST: dict[int, int] = {}


def newest_syscall(lib: Any, arch: int) -> int:
    """The highest syscall number this libseccomp knows on ``arch`` (Debian 12's 2.5.4: 456 on x86_64)."""
    if arch not in _NEWEST:
        newest = 0
        for nr in range(1024):
            try:
                lib.resolve_syscall(arch, nr)
            except (ValueError, OSError):
                continue
            newest = nr
        _NEWEST[arch] = newest
    return _NEWEST[arch]


class _Fd:
    """What ``export_bpf`` wants: something with ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd
