"""From Docker's container Config + HostConfig and the image config to an OCI runtime spec."""

from __future__ import annotations

from typing import Any

from kobako.errors import InvalidArgument

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000


def merge_config(body: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """The container's effective Config: the request's fields over the image's, as dockerd merges."""
    img = image_config.get("config") or image_config.get("Config") or {}
    cfg = dict(body)
    for key in ("Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "Healthcheck", "ExposedPorts",
                "Volumes", "Shell", "OnBuild"):
        if not cfg.get(key) and img.get(key):
            cfg[key] = img[key]
    if body.get("Entrypoint"):
        # An Entrypoint given at create time drops the image's Cmd, as in Docker.
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
    cid: str, cfg: dict[str, Any], host_config: dict[str, Any], cgroup_parent: str
) -> dict[str, Any]:
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
    linux = spec.setdefault("linux", {})
    linux["resources"] = resources(host_config)
    linux["cgroupsPath"] = f"{cgroup_parent.rstrip('/')}/{cid}"
    if host_config.get("ReadonlyRootfs"):
        spec["root"]["readonly"] = True
    return spec
