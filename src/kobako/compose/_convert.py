"""A normalised service as an Engine API ``POST /containers/create`` body (what compose sends)."""

from __future__ import annotations

from kobako.compose._errors import ComposeError
from kobako.compose._units import parse_bytes, parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kobako.compose.model import Project

_NS = 1_000_000_000


def _ns(value: Any, where: str) -> int:
    return int(parse_duration(value, where) * _NS)


def healthcheck(hc: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    if hc is None:
        return None
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    test = hc.get("test")
    if test is not None:
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ComposeError(f"{where}.test must start with CMD, CMD-SHELL or NONE")
        out["Test"] = list(test)
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                     ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[api] = _ns(hc[key], f"{where}.{key}")
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def restart_policy(value: str | None) -> dict[str, Any]:
    if not value:
        return {"Name": "no"}
    name, _, count = value.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def port_bindings(ports: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in ports:
        key = f"{p['target']}/{p.get('protocol', 'tcp')}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": p.get("host_ip", ""), "HostPort": str(p.get("published", ""))})
    return exposed, bindings


def mounts(project: Project, service: str) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """(Binds, Mounts, Tmpfs): short-syntax binds as Binds (the daemon makes a missing host path,
    as compose asks with create_host_path); volumes and long binds as Mounts; tmpfs as Tmpfs; secrets
    and configs from files as read-only bind Mounts."""
    svc = project.services[service]
    binds: list[str] = []
    out: list[dict[str, Any]] = []
    tmpfs = {path: opts for path, _, opts in (t.partition(":") for t in svc.get("tmpfs") or [])}
    for v in svc.get("volumes") or []:
        kind, target, ro = v["type"], v["target"], bool(v.get("read_only"))
        if kind == "bind":
            if (v.get("bind") or {}).get("create_host_path"):
                opts = ["ro" if ro else "rw"]
                prop = (v.get("bind") or {}).get("propagation")
                if prop:
                    opts.append(prop)
                binds.append(f"{v['source']}:{target}:{','.join(opts)}")
            else:
                m: dict[str, Any] = {"Type": "bind", "Source": v["source"], "Target": target, "ReadOnly": ro}
                if (v.get("bind") or {}).get("propagation"):
                    m["BindOptions"] = {"Propagation": v["bind"]["propagation"]}
                out.append(m)
        elif kind == "volume":
            m = {"Type": "volume", "Target": target, "ReadOnly": ro}
            if v.get("source"):
                m["Source"] = project.volume_name(v["source"])
            if (v.get("volume") or {}).get("nocopy"):
                m["VolumeOptions"] = {"NoCopy": True}
            out.append(m)
        elif kind == "tmpfs":
            m = {"Type": "tmpfs", "Target": target}
            t = v.get("tmpfs") or {}
            if t:
                topts: dict[str, Any] = {}
                if t.get("size") is not None:
                    topts["SizeBytes"] = parse_bytes(t["size"], f"volumes {target} tmpfs.size")
                if t.get("mode") is not None:
                    topts["Mode"] = int(t["mode"])
                m["TmpfsOptions"] = topts
            out.append(m)
        else:
            raise ComposeError(f"volume type {kind!r} is not supported by kobako compose")
    for f in project.file_mounts(service):
        if "file" in f:
            out.append({"Type": "bind", "Source": f["file"], "Target": f["target"], "ReadOnly": True})
    return binds, out, tmpfs


def create_body(project: Project, service: str, number: int, *, labels: dict[str, str],
                network_mode: str, first_network: tuple[str, dict[str, Any]] | None,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The create body; ``network_mode`` resolved by the caller (``container:<id>`` for ``service:x``)."""
    svc = project.services[service]
    where = f"services.{service}"
    overrides = overrides or {}
    env = svc.get("environment") or {}
    config: dict[str, Any] = {
        "Image": project.image_name(service),
        "Env": [f"{k}={v}" for k, v in env.items() if v is not None] + overrides.get("env", []),
        "Labels": labels,
        "Tty": bool(overrides.get("tty", svc.get("tty", False))),
        "OpenStdin": bool(overrides.get("stdin_open", svc.get("stdin_open", False))),
        "AttachStdin": bool(overrides.get("attach_stdin", False)),
        "AttachStdout": bool(overrides.get("attach", False)),
        "AttachStderr": bool(overrides.get("attach", False)),
        "StdinOnce": bool(overrides.get("attach_stdin", False)),
    }
    if overrides.get("command") is not None:
        config["Cmd"] = overrides["command"]
    elif svc.get("command") is not None:
        config["Cmd"] = list(svc["command"])
    if overrides.get("entrypoint") is not None:
        config["Entrypoint"] = overrides["entrypoint"]
    elif svc.get("entrypoint") is not None:
        config["Entrypoint"] = list(svc["entrypoint"])
    for key, api in (("working_dir", "WorkingDir"), ("user", "User"), ("domainname", "Domainname"),
                     ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        value = overrides.get(key, svc.get(key))
        if value:
            config[api] = str(value)
    if svc.get("hostname") and not network_mode.startswith("container:"):
        config["Hostname"] = svc["hostname"]
    if svc.get("stop_grace_period") is not None:
        config["StopTimeout"] = int(parse_duration(svc["stop_grace_period"], f"{where}.stop_grace_period"))
    hc = healthcheck(svc.get("healthcheck"), f"{where}.healthcheck")
    if hc is not None:
        config["Healthcheck"] = hc
    ports = [] if overrides.get("no_ports") else (svc.get("ports") or [])
    exposed, bindings = port_bindings(ports)
    for e in svc.get("expose") or []:
        exposed[e if "/" in e else f"{e}/tcp"] = {}
    if exposed:
        config["ExposedPorts"] = exposed
    binds, mount_list, tmpfs = mounts(project, service)
    host: dict[str, Any] = {
        "NetworkMode": network_mode,
        "RestartPolicy": restart_policy(None if overrides.get("oneoff") else svc.get("restart")),
        "PortBindings": bindings,
        "Binds": binds,
        "Mounts": mount_list,
        "Privileged": bool(svc.get("privileged", False)),
        "ReadonlyRootfs": bool(svc.get("read_only", False)),
        "CapAdd": svc.get("cap_add") or None,
        "CapDrop": svc.get("cap_drop") or None,
        "Dns": svc.get("dns") or None,
        "DnsSearch": svc.get("dns_search") or None,
        "DnsOptions": svc.get("dns_opt") or None,
        "ExtraHosts": [f"{h}:{ip}" for h, ip in (svc.get("extra_hosts") or {}).items()] or None,
        "SecurityOpt": svc.get("security_opt") or None,
        "GroupAdd": [str(g) for g in svc.get("group_add") or []] or None,
    }
    if tmpfs:
        host["Tmpfs"] = tmpfs
    if svc.get("init") is not None:
        host["Init"] = bool(svc["init"])
    if svc.get("ulimits"):
        host["Ulimits"] = [{"Name": n, "Soft": int(u["soft"]), "Hard": int(u["hard"])}
                           for n, u in svc["ulimits"].items()]
    if svc.get("sysctls"):
        host["Sysctls"] = dict(svc["sysctls"])
    if svc.get("shm_size") is not None:
        host["ShmSize"] = parse_bytes(svc["shm_size"], f"{where}.shm_size")
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = svc.get("mem_limit", limits.get("memory"))
    if memory is not None:
        host["Memory"] = parse_bytes(memory, f"{where}.mem_limit")
    if svc.get("memswap_limit") is not None:
        host["MemorySwap"] = parse_bytes(svc["memswap_limit"], f"{where}.memswap_limit")
    if svc.get("mem_reservation") is not None:
        host["MemoryReservation"] = parse_bytes(svc["mem_reservation"], f"{where}.mem_reservation")
    cpus = svc.get("cpus", limits.get("cpus"))
    if cpus is not None:
        try:
            host["NanoCpus"] = int(float(cpus) * 1e9)
        except ValueError:
            raise ComposeError(f"{where}.cpus: invalid value {cpus!r}") from None
    pids = svc.get("pids_limit", limits.get("pids"))
    if pids is not None:
        host["PidsLimit"] = int(pids)
    if svc.get("cpu_shares") is not None:
        host["CpuShares"] = int(svc["cpu_shares"])
    if svc.get("oom_score_adj") is not None:
        host["OomScoreAdj"] = int(svc["oom_score_adj"])
    for key, api in (("ipc", "IpcMode"), ("pid", "PidMode")):
        if svc.get(key):
            host[api] = svc[key]
    if svc.get("logging"):
        host["LogConfig"] = {"Type": svc["logging"].get("driver", "json-file"),
                             "Config": {k: str(v) for k, v in (svc["logging"].get("options") or {}).items()}}
    if overrides.get("auto_remove"):
        host["AutoRemove"] = True
    config["HostConfig"] = {k: v for k, v in host.items() if v is not None}
    if first_network is not None:
        net_name, endpoint = first_network
        config["NetworkingConfig"] = {"EndpointsConfig": {net_name: endpoint}}
    return config


def files_tar(entries: list[dict[str, Any]]) -> bytes:
    """A tar (for ``PUT /containers/{id}/archive?path=/``) of the secrets and configs given as data."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for e in entries:
            parts = e["target"].strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(e["data"]), e["mode"]
            info.uid, info.gid = int(e["uid"]), int(e["gid"])
            tar.addfile(info, io.BytesIO(e["data"]))
    return buf.getvalue()


def endpoint(service: str, conf: dict[str, Any] | None, *, oneoff: bool = False) -> dict[str, Any]:
    """EndpointSettings: the service name as an alias (how services find each other), plus its own."""
    conf = conf or {}
    aliases = [] if oneoff else [service]
    aliases += [a for a in conf.get("aliases") or [] if a not in aliases]
    ep: dict[str, Any] = {"Aliases": aliases}
    ipam = {}
    if conf.get("ipv4_address"):
        ipam["IPv4Address"] = conf["ipv4_address"]
    if conf.get("ipv6_address"):
        ipam["IPv6Address"] = conf["ipv6_address"]
    if ipam:
        ep["IPAMConfig"] = ipam
    return ep
