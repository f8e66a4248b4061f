"""Seccomp for containers: profiles as data, BPF made by libseccomp (or in pure Python without it).

    profile = default_profile()                         # Docker's default, Docker's JSON format
    oci = resolve_profile(profile, bounding=caps)       # → OCI linux.seccomp (done by the daemon)
    program = compile_filter(oci)                       # → packed classic BPF (done by the runtime)
    load(program)                                       # the one syscall, just before execve

``compile_filter`` uses libseccomp through pyseccomp (imported on first use), as runc does;
``compile_pure`` is the pure-Python compiler, the fallback without libseccomp and the tests'
cross-check. ``run(program, seccomp_data(nr, arch, args))`` interprets a program, so tests check
the exact bytes.
"""

from __future__ import annotations

from kobako.runtime.seccomp._bpf import RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, run, seccomp_data
from kobako.runtime.seccomp._compile import (
    SeccompError, action_value, compile_filter, compile_pure, filter_flags, libseccomp, native_arch,
    precompile,
)
from kobako.runtime.seccomp._default import default_profile
from kobako.runtime.seccomp._profile import parse_profile, resolve_profile
from kobako.runtime.seccomp._tables import syscall_table

__all__ = [
    "RET_ALLOW", "RET_ERRNO", "RET_KILL_PROCESS", "SeccompError", "action_value", "compile_filter",
    "compile_pure", "default_profile", "filter_flags", "libseccomp", "native_arch", "parse_profile",
    "precompile", "resolve_profile", "run", "seccomp_data", "syscall_table",
]
