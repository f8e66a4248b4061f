"""Security flags of ``run``/``create``: --cap-add/--cap-drop, --privileged, --security-opt, --ulimit,
--device, --device-cgroup-rule, --userns, --sysctl → HostConfig (docker/cli ``opts.go``, ``parse.go``)."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_security_flags(p: _args.ArgumentParser) -> None:
    p.add_argument("--cap-add", action="append", default=[], help="Add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to this container")
    p.add_argument("--security-opt", action="append", default=[], help="Security Options")
    p.add_argument("--ulimit", action="append", default=[], help="Ulimit options")
    p.add_argument("--device", action="append", default=[], help="Add a host device to the container")
    p.add_argument("--device-cgroup-rule", action="append", default=[],
                   help="Add a rule to the cgroup allowed devices list")
    p.add_argument("--userns", default="", help="User namespace to use")
    p.add_argument("--sysctl", action="append", default=[], help="Sysctl options")


def security_flags(args: _args.Namespace, host_config: dict[str, Any]) -> None:
    if args.cap_add:
        host_config["CapAdd"] = list(args.cap_add)
    if args.cap_drop:
        host_config["CapDrop"] = list(args.cap_drop)
    if args.privileged:
        host_config["Privileged"] = True
    if args.security_opt:
        host_config["SecurityOpt"] = [security_opt(o) for o in args.security_opt]
    if args.ulimit:
        host_config["Ulimits"] = [ulimit(u) for u in args.ulimit]
    if args.device:
        host_config["Devices"] = [device(d) for d in args.device]
    if args.device_cgroup_rule:
        host_config["DeviceCgroupRules"] = list(args.device_cgroup_rule)
    if args.userns:
        if args.userns not in ("host", "private"):  # docker/cli: UsernsMode.Valid()
            raise CommandError("--userns: invalid USER mode", 125)
        host_config["UsernsMode"] = args.userns
    if args.sysctl:
        host_config["Sysctls"] = dict(sysctl(s) for s in args.sysctl)


def security_opt(opt: str) -> str:
    """docker/cli ``parseSecurityOpts``: a seccomp profile path is sent as its (compacted) JSON content."""
    key, sep, value = opt.partition("=")
    if not sep:
        key, sep, value = opt.partition(":")
    if key == "seccomp" and value and value != "unconfined":
        import json

        try:
            with open(value, encoding="utf-8") as f:
                content = json.load(f)
        except OSError as exc:
            raise CommandError(f"opening seccomp profile ({value}) failed: {exc.strerror or exc}", 125) from None
        except ValueError as exc:
            raise CommandError(f"compacting json for seccomp profile ({value}) failed: {exc}", 125) from None
        return "seccomp=" + json.dumps(content, separators=(",", ":"))
    return opt


def sysctl(value: str) -> tuple[str, str]:
    """docker/cli ``ValidateSysctl``: KEY=VALUE, and only parameters of a namespace a container owns."""
    from kobako.sysctls import namespace_of

    key, sep, val = value.partition("=")
    if not sep or not key or namespace_of(key) is None:
        raise CommandError(f'invalid argument "{value}" for "--sysctl" flag: sysctl \'{value}\' is not allowed', 125)
    return key, val


def ulimit(value: str) -> dict[str, Any]:
    """``nofile=1024[:2048]`` → {"Name", "Soft", "Hard"} (go-units ``ParseUlimit``)."""
    name, sep, limits = value.partition("=")
    if not sep or not name:
        raise CommandError(f'invalid argument "{value}" for "--ulimit" flag: invalid ulimit argument: {value}', 125)
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise CommandError(f'invalid argument "{value}" for "--ulimit" flag: invalid ulimit value', 125) from None
    if s > h:
        raise CommandError(f'invalid argument "{value}" for "--ulimit" flag: ulimit soft limit must be less than '
                           f"or equal to hard limit: {s} > {h}", 125)
    return {"Name": name, "Soft": s, "Hard": h}


def device(value: str) -> dict[str, str]:
    """``/dev/x[:/dev/y][:rwm]`` → {"PathOnHost", "PathInContainer", "CgroupPermissions"}."""
    parts = value.split(":")
    perms = "rwm"
    if len(parts) > 1 and all(c in "rwm" for c in parts[-1]) and parts[-1]:
        perms = parts.pop()
    if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise CommandError(f'invalid argument "{value}" for "--device" flag: bad format for path: {value}', 125)
    return {"PathOnHost": parts[0], "PathInContainer": parts[1] if len(parts) == 2 else parts[0],
            "CgroupPermissions": perms}
