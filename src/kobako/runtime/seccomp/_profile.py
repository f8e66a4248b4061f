"""A Docker seccomp profile (JSON) → the OCI ``linux.seccomp`` for one container (moby ``setupSeccomp``).

Docker's format adds to OCI's: ``archMap`` (native architecture → its sub-architectures) and, per
entry, ``includes``/``excludes`` on capabilities (checked against the container's *bounding* set),
Go architecture names and a minimum kernel. Resolving them here, where the container's capabilities
are known, leaves the runtime (ours, runc or crun) a flat OCI list.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kobako.runtime.seccomp._compile import SeccompError

# uname machine → (Go GOARCH, SCMP_ARCH of the native ABI)
_NATIVE = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
           "i686": ("386", "SCMP_ARCH_X86"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
           "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE")}


def kernel_version(release: str | None = None) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release or platform.release())
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def parse_profile(text: str) -> dict[str, Any]:
    """A profile from ``--security-opt seccomp=...`` JSON; InvalidArgument-style SeccompError on junk."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise SeccompError(f"decoding seccomp profile failed: {exc}") from None
    if not isinstance(profile, dict):
        raise SeccompError("decoding seccomp profile failed: not a JSON object")
    if profile.get("archMap") and profile.get("architectures"):
        raise SeccompError("'architectures' and 'archMap' were specified in the seccomp profile, use either "
                           "'architectures' or 'archMap'")
    return profile


def resolve_profile(profile: Mapping[str, Any], bounding: Iterable[str], machine: str | None = None,
                    kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` for a container whose bounding set is ``bounding`` (CAP_* names)."""
    machine = machine or os.uname().machine
    goarch, native = _NATIVE.get(machine, (machine, ""))
    kernel = kernel or kernel_version()
    caps = set(bounding)
    if profile.get("defaultAction") in (None, ""):
        raise SeccompError("seccomp profile: defaultAction is required")
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    arches: list[str] = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == native:
            arches = [native, *(entry.get("subArchitectures") or [])]
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    syscalls = []
    for entry in profile.get("syscalls") or ():
        if not _applies(entry, caps, goarch, kernel):
            continue
        names = list(entry.get("names") or ([entry["name"]] if entry.get("name") else []))
        if not names:
            raise SeccompError("seccomp profile: a syscall entry has no names")
        call: dict[str, Any] = {"names": names, "action": entry.get("action")}
        if entry.get("errnoRet") is not None:
            call["errnoRet"] = int(entry["errnoRet"])
        if entry.get("args"):
            call["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a} for a in entry["args"]]
        syscalls.append(call)
    out["syscalls"] = syscalls
    return out


def _applies(entry: Mapping[str, Any], caps: set[str], goarch: str, kernel: tuple[int, int]) -> bool:
    inc = entry.get("includes") or {}
    exc = entry.get("excludes") or {}
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("minKernel") and kernel < kernel_version(str(inc["minKernel"])):
        return False
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    return True
