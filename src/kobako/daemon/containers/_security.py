"""HostConfig security fields → the OCI spec (moby ``daemon/oci_linux.go``: WithCapabilities,
WithSeccomp, WithDevices, WithRlimits, and the privileged special cases).

    CapAdd/CapDrop   Docker's default set tweaked (``ALL`` either way); a non-root numeric user gets the
                     bounding set only. Caps the daemon does not hold itself are reported as warnings.
    Privileged       every capability the host grants, no seccomp (unless a profile is named), no
                     masked/read-only paths, every host device, /sys read-write.
    SecurityOpt      ``seccomp=unconfined|<profile JSON>`` (the CLI sends the file's content, as docker
                     does), ``no-new-privileges[:true|false]``, ``systempaths=unconfined``;
                     ``apparmor=``/``label=`` are accepted and have no effect here.
    Ulimits          process.rlimits.
    Devices          linux.devices plus a devices-cgroup allow rule each; DeviceCgroupRules as given.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from typing import Any

from kobako.errors import InvalidArgument

log = logging.getLogger("kobako.containers")

_SKIP_DEV_DIRS = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev")
_RULE = re.compile(r"^([acb]) (\*|\d+):(\*|\d+) ([rwm]{1,3})$")


def container_caps(host_config: dict[str, Any]) -> list[str]:
    """The capability names the container asks for (before intersecting with what the host grants)."""
    from kobako.runtime.caps import CAPABILITIES, DEFAULT_CAPS, tweak

    if host_config.get("Privileged"):
        return list(CAPABILITIES)
    try:
        return tweak(DEFAULT_CAPS, _strings(host_config, "CapAdd"), _strings(host_config, "CapDrop"), CAPABILITIES)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid CapAdd/CapDrop: {exc}") from None


def security_warnings(host_config: dict[str, Any]) -> list[str]:
    """What the container asked for and will not get on this host; logged, and returned for Warnings."""
    from kobako.runtime.caps import host_bounding, mask, names

    missing = names(mask(container_caps(host_config)) & ~host_bounding())
    if not missing:
        return []
    what = "--privileged" if host_config.get("Privileged") else "--cap-add"
    msg = (f"{what}: the host does not grant {', '.join(missing)} (not in the daemon's capability bounding "
           "set); the container runs without " + ("it" if len(missing) == 1 else "them"))
    log.warning("%s", msg)
    return [msg]


def apply_security(spec: dict[str, Any], cfg: dict[str, Any], host_config: dict[str, Any]) -> None:
    """Fill the security parts of ``spec`` (built by ``default_spec``) from ``host_config``."""
    from kobako.runtime.caps import host_bounding, mask, names, oci_capabilities

    privileged = bool(host_config.get("Privileged"))
    opts = _security_opts(host_config)
    process = spec["process"]
    linux = spec.setdefault("linux", {})
    granted = [c for c in container_caps(host_config) if c in names(host_bounding())]
    process["capabilities"] = oci_capabilities(granted, root=not _numeric_non_root(cfg.get("User") or ""))
    process["noNewPrivileges"] = opts["no_new_privileges"]
    seccomp = opts["seccomp"]
    if seccomp != "unconfined" and not (privileged and seccomp is None):
        from kobako.runtime.seccomp import SeccompError, default_profile, parse_profile, resolve_profile

        try:
            profile = default_profile() if seccomp is None else parse_profile(seccomp)
            linux["seccomp"] = resolve_profile(profile, names(mask(granted)))
        except SeccompError as exc:
            raise InvalidArgument(str(exc)) from None
    else:
        linux.pop("seccomp", None)
    if privileged or opts["systempaths_unconfined"]:
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
    rlimits = ulimits_to_rlimits(host_config.get("Ulimits") or [])
    if rlimits:
        process["rlimits"] = rlimits
    resources = linux.setdefault("resources", {})
    devices: list[dict[str, Any]] = []
    if privileged:
        devices = host_devices("/dev")
        rules: list[dict[str, Any]] = [{"allow": True, "access": "rwm"}]
        for m in spec.get("mounts", []):
            if m.get("destination") == "/sys":
                m["options"] = [o for o in m.get("options", []) if o != "ro"]
    else:
        from kobako.runtime.spec import DEFAULT_DEVICE_RULES

        rules = [dict(r) for r in DEFAULT_DEVICE_RULES]
    for d in host_config.get("Devices") or []:
        for dev in _devices_for(d):
            devices.append(dev)
            rules.append({"allow": True, "type": dev["type"], "major": dev["major"], "minor": dev["minor"],
                          "access": (d.get("CgroupPermissions") or "rwm")})
    for rule in host_config.get("DeviceCgroupRules") or []:
        rules.append(parse_cgroup_rule(str(rule)))
    if devices:
        linux["devices"] = _dedup(devices)
    resources["devices"] = rules


def _strings(host_config: dict[str, Any], key: str) -> list[str]:
    value = host_config.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{key} must be a list of strings")
    return value


def _numeric_non_root(user: str) -> bool:
    name = user.partition(":")[0]
    return name.isdigit() and int(name) != 0


def _security_opts(host_config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"seccomp": None, "no_new_privileges": False, "systempaths_unconfined": False}
    for opt in _strings(host_config, "SecurityOpt"):
        if opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            out["no_new_privileges"] = True
            continue
        if opt in ("no-new-privileges:false", "no-new-privileges=false"):
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")  # the legacy "seccomp:unconfined" form
        if not sep:
            raise InvalidArgument(f"Invalid --security-opt: {opt!r}")
        if key == "seccomp":
            out["seccomp"] = "unconfined" if value == "unconfined" else value
        elif key == "systempaths" and value == "unconfined":
            out["systempaths_unconfined"] = True
        elif key in ("apparmor", "label"):
            continue  # no AppArmor/SELinux support here: accepted, like dockerd on a host without them
        else:
            raise InvalidArgument(f"Invalid --security-opt: {opt!r}")
    return out


def ulimits_to_rlimits(ulimits: list[Any]) -> list[dict[str, Any]]:
    out = []
    for u in ulimits:
        if not isinstance(u, dict) or not isinstance(u.get("Name"), str):
            raise InvalidArgument("invalid Ulimits: each needs Name, Soft and Hard")
        name = u["Name"].lower()
        if name not in _ULIMITS:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        if soft > hard >= 0:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        out.append({"type": f"RLIMIT_{name.upper()}", "soft": soft, "hard": hard})
    return out


_ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
            "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``c 1:3 rwm`` / ``b *:* m`` / ``a *:* rwm`` → an OCI device-cgroup rule."""
    m = _RULE.match(rule.strip())
    if not m:
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    type_, major, minor, access = m.groups()
    return {"allow": True, "type": type_, "major": None if major == "*" else int(major),
            "minor": None if minor == "*" else int(minor), "access": access}


def _device(path: str, in_container: str) -> dict[str, Any] | None:
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        type_ = "c"
    elif stat.S_ISBLK(st.st_mode):
        type_ = "b"
    else:
        return None
    return {"path": in_container, "type": type_, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _devices_for(d: Any) -> list[dict[str, Any]]:
    """One ``HostConfig.Devices`` entry → linux.devices entries (a directory gives all devices in it)."""
    if not isinstance(d, dict) or not d.get("PathOnHost"):
        raise InvalidArgument("invalid Devices entry: PathOnHost is required")
    host = str(d["PathOnHost"])
    inside = str(d.get("PathInContainer") or host)
    perms = d.get("CgroupPermissions") or "rwm"
    if not re.fullmatch(r"[rwm]{1,3}", perms):
        raise InvalidArgument(f"invalid device mode: {perms}")
    try:
        dev = _device(host, inside)
    except OSError as exc:
        raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                              f"{(exc.strerror or str(exc)).lower()}") from None
    if dev is not None:
        return [dev]
    if os.path.isdir(host):
        return [dict(x, path=os.path.join(inside, os.path.relpath(x["path"], host))) for x in host_devices(host)]
    raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                          "not a device node")


def host_devices(root: str) -> list[dict[str, Any]]:
    """Every char/block device under ``root`` (runc ``devices.HostDevices``), skipping pts/shm/mqueue."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [n for n in dirnames if os.path.join(dirpath, n) not in _SKIP_DEV_DIRS]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name == "console" or os.path.islink(path):
                continue
            try:
                dev = _device(path, path)
            except OSError:
                continue
            if dev is not None:
                out.append(dev)
    return out


def _dedup(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for d in devices:
        seen[d["path"]] = d
    return list(seen.values())
