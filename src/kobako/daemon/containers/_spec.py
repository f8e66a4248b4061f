"""From Docker's container Config + HostConfig and the image config to an OCI runtime spec."""

from __future__ import annotations

import os
from typing import Any

from kobako.errors import InvalidArgument

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000


def merge_config(body: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """The container's effective Config: the request's fields over the image's, as dockerd merges."""
    img = image_config.get("config") or image_config.get("Config") or {}
    cfg = dict(body)
    reset_entrypoint = body.get("Entrypoint") == [""]  # `--entrypoint ""`: no entrypoint at all
    if reset_entrypoint:
        cfg["Entrypoint"] = None
    for key in ("Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "ExposedPorts",
                "Volumes", "Shell", "OnBuild"):
        if key == "Entrypoint" and reset_entrypoint:
            continue
        if not cfg.get(key) and img.get(key):
            cfg[key] = img[key]
    if body.get("Volumes") and img.get("Volumes"):  # moby Merge: the image's VOLUMEs and the request's
        cfg["Volumes"] = {**img["Volumes"], **body["Volumes"]}
    from ._health import merge_healthcheck

    hc = merge_healthcheck(body.get("Healthcheck"), img.get("Healthcheck"))
    if hc:
        cfg["Healthcheck"] = hc
    if body.get("Entrypoint") or reset_entrypoint:
        # An Entrypoint given (or reset) at create time drops the image's Cmd, as in Docker.
        cfg["Cmd"] = body.get("Cmd") or None
    env: dict[str, str] = {}
    for item in list(img.get("Env") or []) + list(body.get("Env") or []):
        k, sep, v = item.partition("=")
        if not sep:
            continue
        env[k] = v
    cfg["Env"] = [f"{k}={v}" for k, v in env.items()] or None
    labels = dict(img.get("Labels") or {})
    labels.update(body.get("Labels") or {})
    cfg["Labels"] = labels
    for key, default in (("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False),
                         ("AttachStdout", False), ("AttachStderr", False), ("Tty", False),
                         ("OpenStdin", False), ("StdinOnce", False), ("WorkingDir", ""),
                         ("Entrypoint", None), ("Cmd", None), ("Image", ""), ("OnBuild", None)):
        cfg.setdefault(key, default)
    return cfg


def command_of(cfg: dict[str, Any]) -> list[str]:
    entry = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    if isinstance(entry, str):
        entry = ["/bin/sh", "-c", entry]
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    argv = list(entry) + list(cmd)
    if not argv:
        raise InvalidArgument("no command specified")
    return argv


def resources(host_config: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    memory = int(host_config.get("Memory") or 0)
    if memory < 0:
        raise InvalidArgument("invalid memory limit: must be a positive number")
    if memory:
        if memory < 6 * 1024 * 1024:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        res["memory"] = {"limit": memory}
        swap = int(host_config.get("MemorySwap") or 0)
        if swap > 0:
            if swap < memory:
                raise InvalidArgument(
                    "Minimum memoryswap limit should be larger than memory limit, see usage"
                )
            res["memory"]["swap"] = swap
        elif swap == 0:
            res["memory"]["swap"] = memory * 2
    nano = int(host_config.get("NanoCpus") or 0)
    quota = int(host_config.get("CpuQuota") or 0)
    period = int(host_config.get("CpuPeriod") or 0)
    if nano and (quota or period):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")
    if nano:
        if nano < 10_000_000:
            raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
        res["cpu"] = {"quota": nano * CPU_PERIOD // 1_000_000_000, "period": CPU_PERIOD}
    elif quota or period:
        res["cpu"] = {"quota": quota or -1, "period": period or CPU_PERIOD}
    shares = int(host_config.get("CpuShares") or 0)
    if shares:
        res.setdefault("cpu", {})["shares"] = shares
    pids = host_config.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        res["pids"] = {"limit": int(pids)}
    return res


def build_spec(
    cid: str, cfg: dict[str, Any], host_config: dict[str, Any], cgroup_parent: str, remap: Any = None
) -> dict[str, Any]:
    """The OCI spec; ``remap`` is the daemon's ``--userns-remap`` (a ``kobako.daemon._userns.Remap``)."""
    from kobako.runtime import default_spec

    argv = command_of(cfg)
    hostname = cfg.get("Hostname") or cid[:12]
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    env.insert(1 if env and env[0].startswith("PATH=") else 0, f"HOSTNAME={hostname}")
    if cfg.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    spec = default_spec(
        args=argv,
        env=env,
        cwd=cfg.get("WorkingDir") or "/",
        hostname=hostname,
        terminal=bool(cfg.get("Tty")),
    )
    user = cfg.get("User") or ""
    if user:
        spec.setdefault("annotations", {})["org.kobako.user"] = user
    group_add = host_config.get("GroupAdd") or []
    if group_add:  # resolved by the init against the container's /etc/group
        if not isinstance(group_add, list) or not all(isinstance(g, str) and g and "," not in g for g in group_add):
            raise InvalidArgument("HostConfig.GroupAdd: must be a list of group names or ids")
        from kobako.runtime.user import GROUP_ADD_ANNOTATION

        spec.setdefault("annotations", {})[GROUP_ADD_ANNOTATION] = ",".join(group_add)
    oom = int(host_config.get("OomScoreAdj") or 0)
    if not -1000 <= oom <= 1000:
        raise InvalidArgument(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    if oom:
        spec["process"]["oomScoreAdj"] = oom
    linux = spec.setdefault("linux", {})
    linux["resources"] = resources(host_config)
    linux["cgroupsPath"] = f"{cgroup_parent.rstrip('/')}/{cid}"
    if host_config.get("ReadonlyRootfs"):
        spec["root"]["readonly"] = True
    from ._security import apply_security

    apply_security(spec, cfg, host_config)  # capabilities, seccomp, devices, rlimits, privileged
    from .._userns import apply as apply_userns

    apply_userns(spec, host_config, remap)  # user namespace and id maps, unless --userns=host
    from ._nsmodes import apply as apply_modes

    apply_modes(spec, host_config)  # /dev/shm size, --pid/--ipc host|none, --init
    linux["sysctl"] = sysctls(host_config, remap)
    return spec


def sysctls(host_config: dict[str, Any], remap: Any = None) -> dict[str, str]:
    """moby's defaults for a container with a network namespace of its own (ports below 1024 and ICMP
    echo sockets without capabilities; no ping range in a remapped user namespace), then
    HostConfig.Sysctls, each checked to belong to a namespace the container has of its own."""
    from kobako.runtime.sysctl import check, path_of

    mode = str(host_config.get("NetworkMode") or "default")
    own_net = mode != "host" and not mode.startswith("container:")
    out: dict[str, str] = {}
    if own_net:
        remapped = remap is not None and host_config.get("UsernsMode") != "host"
        if not remapped and os.path.exists(path_of("net.ipv4.ping_group_range")):
            out["net.ipv4.ping_group_range"] = "0 2147483647"
        if os.path.exists(path_of("net.ipv4.ip_unprivileged_port_start")):
            out["net.ipv4.ip_unprivileged_port_start"] = "0"
    wanted = host_config.get("Sysctls") or {}
    if not isinstance(wanted, dict):
        raise InvalidArgument("HostConfig.Sysctls: must be an object of strings")
    own_ipc = host_config.get("IpcMode") != "host"  # moby: no IPC sysctls in the host's IPC namespace
    namespaces = ([{"type": "ipc"}] if own_ipc else []) + [{"type": "uts"}] + \
        ([] if mode == "host" else [{"type": "network"}])
    check(wanted, namespaces)
    out.update(wanted)
    return out


# -- update (moby container_unix.go UpdateContainer) ------------------------------------------------
_INT_FIELDS = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "Memory", "MemorySwap",
               "MemoryReservation")


def default_memory_swap(host_config: dict[str, Any]) -> None:
    """moby ``adaptContainerSettings``: MemorySwap defaults to twice Memory, and is recorded so."""
    if int(host_config.get("Memory") or 0) > 0 and int(host_config.get("MemorySwap") or 0) == 0:
        host_config["MemorySwap"] = int(host_config["Memory"]) * 2


def merge_update(host_config: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig after ``POST /containers/{id}/update``; raises Conflict as moby does."""
    from kobako.errors import Conflict

    from ._restart import is_none, validate_policy

    def num(d: dict[str, Any], key: str) -> int:
        try:
            return int(d.get(key) or 0)
        except (TypeError, ValueError):
            raise InvalidArgument(f"invalid value for {key}: {d.get(key)!r}") from None

    cur = host_config
    conflicts = (
        ("NanoCpus", "CpuPeriod", "Nano CPUs cannot be updated as CPU Period has already been set"),
        ("NanoCpus", "CpuQuota", "Nano CPUs cannot be updated as CPU Quota has already been set"),
        ("CpuPeriod", "NanoCpus", "CPU Period cannot be updated as NanoCPUs has already been set"),
        ("CpuQuota", "NanoCpus", "CPU Quota cannot be updated as NanoCPUs has already been set"),
    )
    for new_key, old_key, msg in conflicts:
        if num(body, new_key) > 0 and num(cur, old_key) > 0:
            raise Conflict(f"Conflicting options: {msg}")
    new = dict(cur)
    for key in _INT_FIELDS:
        if num(body, key) != 0:
            if key == "Memory" and num(body, "Memory") > num(cur, "MemorySwap") and num(body, "MemorySwap") == 0:
                raise Conflict("Memory limit should be smaller than already set memoryswap limit, "
                               "update the memoryswap at the same time")
            new[key] = num(body, key)
    for key in ("CpusetCpus", "CpusetMems"):
        if body.get(key):
            new[key] = body[key]
    if body.get("PidsLimit") is not None:
        new["PidsLimit"] = num(body, "PidsLimit")
    policy = body.get("RestartPolicy") or {}
    if policy.get("Name"):
        policy = validate_policy(policy)
        if cur.get("AutoRemove") and not is_none(policy):
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        new["RestartPolicy"] = policy
    return new


def update_resources(body: dict[str, Any], host_config: dict[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` to write to a live cgroup for the fields the update names."""
    full = resources(host_config)
    out: dict[str, Any] = {}
    if int(body.get("Memory") or 0) or int(body.get("MemorySwap") or 0):
        mem = dict(full.get("memory") or {})
        if int(host_config.get("MemorySwap") or 0) < 0:
            mem["swap"] = -1
        out["memory"] = mem
    if any(int(body.get(k) or 0) for k in ("NanoCpus", "CpuPeriod", "CpuQuota", "CpuShares")):
        out["cpu"] = dict(full.get("cpu") or {})
    if body.get("PidsLimit") is not None:
        limit = int(body.get("PidsLimit") or 0)
        out["pids"] = {"limit": limit if limit > 0 else 0}
    return out
