"""The last steps before execve, shared by the container init and ``exec``: user, capabilities,
no_new_privs and seccomp, in runc's order (``standard_init_linux.go``/``finalizeNamespace``)::

    prepare(spec)        compile the seccomp filter early, while errors can still be reported cleanly
    switch_user(...)     [seccomp, when no_new_privs is off: loading needs CAP_SYS_ADMIN, gone below]
                         bounding set, keepcaps, setgroups/setgid/setuid, capset, no_new_privs
    before_exec(...)     [seccomp, when no_new_privs is on: as late as possible, so as few of our own
                         syscalls as possible run under the container's filter]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kobako.errors import RuntimeFailure
from kobako.linux.syscalls import Syscalls
from kobako.runtime import caps as _caps
from kobako.runtime.seccomp import SeccompError, compile_filter, filter_flags


@dataclass(frozen=True, slots=True)
class Security:
    capabilities: Mapping[str, Any] | None = None
    seccomp: bytes | None = None  # a packed BPF program
    seccomp_flags: int = 0
    no_new_privs: bool = False


def prepare(spec: Mapping[str, Any], *, privileged_caps: bool = False) -> Security:
    """What ``spec`` asks for, with the seccomp filter compiled. ``privileged_caps`` (``exec
    --privileged``) replaces the capabilities with every one the caller holds."""
    proc = spec.get("process") or {}
    caps = proc.get("capabilities")
    if privileged_caps:
        held = _caps.names(_caps.host_bounding())
        caps = {s: held for s in ("bounding", "effective", "permitted")}
    seccomp = (spec.get("linux") or {}).get("seccomp")
    program = None
    flags = 0
    if seccomp:
        try:
            program = compile_filter(seccomp)
            flags = filter_flags(seccomp)
        except SeccompError as exc:
            raise RuntimeFailure(f"error loading seccomp filter: {exc}", "InvalidArgument") from None
    return Security(caps, program, flags, bool(proc.get("noNewPrivileges")))


def switch_user(sys: Syscalls, sec: Security, uid: int, gid: int, groups: list[int]) -> None:
    if sec.seccomp is not None and not sec.no_new_privs:
        sys.seccomp_set_filter(sec.seccomp, sec.seccomp_flags)
    # PR_CAPBSET_DROP needs CAP_SETPCAP, which the user switch and capset may take away.
    _caps.drop_bounding(sys, sec.capabilities)
    # Keep the permitted set across setuid() away from root, so capset can pick from it.
    sys.set_keepcaps(True)
    sys.setgroups(groups)
    sys.setgid(gid)
    sys.setuid(uid)
    sys.set_keepcaps(False)
    _caps.apply(sys, sec.capabilities)
    if sec.no_new_privs:
        sys.set_no_new_privs()


def before_exec(sys: Syscalls, sec: Security) -> None:
    if sec.seccomp is not None and sec.no_new_privs:
        sys.seccomp_set_filter(sec.seccomp, sec.seccomp_flags)
