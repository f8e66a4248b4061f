"""A container's network, between ContainerManager and kobako.network.NetworkManager.

- ``prepare`` (create): the network mode and endpoint configs checked and recorded in the
  container's NetworkSettings (what ``inspect`` shows before start).
- ``setup`` (start): the sandbox made (``NetworkManager.attach``), the spec pointed at its network
  namespace (or at the host's, or another container's) and /etc/hosts, /etc/resolv.conf,
  /etc/hostname bind-mounted; NetworkSettings filled with addresses and ports.
- ``teardown`` (exit, failed start, remove): all of it undone; NetworkSettings keep only the config.
- ``restore`` (daemon start, container still running): the sandbox taken back.

``NetworksBackend`` is what the /networks routes call (connect/disconnect need both managers).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kobako.errors import Conflict, InvalidArgument, KobakoError, NoSuchContainer
from kobako.network import Endpoint, Network, NetworkManager, summary_ports
from kobako.network._ports import ports_view

from ._record import Container

EMPTY_SETTINGS: dict[str, Any] = {
    "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False,
    "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
    "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
    "Networks": {},
}


def network_mode(host_config: dict[str, Any]) -> str:
    mode = host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else str(mode)


def _endpoint_config(cfg: dict[str, Any] | None, net: Network) -> dict[str, Any]:
    """The stored part of an EndpointSettings (what the user asked for), with the runtime part empty."""
    cfg = dict(cfg or {})
    aliases = [a for a in (cfg.get("Aliases") or []) if a]
    if aliases and not net.user_defined:
        raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
    for item in cfg.get("Links") or []:
        parse_link(item)
    ipam = cfg.get("IPAMConfig") or None
    if ipam and ipam.get("IPv4Address") and not net.user_defined:
        raise InvalidArgument("user specified IP address is supported on user defined networks only")
    return {"IPAMConfig": ipam, "Links": cfg.get("Links"), "Aliases": aliases or None,
            "MacAddress": cfg.get("MacAddress") or "", "DriverOpts": cfg.get("DriverOpts"), "GwPriority": 0,
            "NetworkID": net.id, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def _live(config: dict[str, Any], ep: Endpoint, net: Network) -> dict[str, Any]:
    out = dict(config)
    out.update(MacAddress=ep.mac, NetworkID=net.id, EndpointID=ep.id, Gateway=str(ep.gateway or ""),
               IPAddress=str(ep.ip), IPPrefixLen=ep.prefixlen,
               DNSNames=ep.dns_names() if net.user_defined else None)
    return out


def _stopped(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, DNSNames=None)
    if not (config.get("IPAMConfig") or {}).get("IPv4Address"):
        out["MacAddress"] = ""
    return out


class NetJoin:
    def __init__(self, networks: NetworkManager, containers: Any) -> None:
        self.networks = networks
        self.containers = containers

    # -- create -----------------------------------------------------------------------------------
    def prepare(self, cfg: dict[str, Any], host_config: dict[str, Any],
                networking: dict[str, Any] | None) -> dict[str, Any]:
        mode = network_mode(host_config)
        host_config["NetworkMode"] = mode
        endpoints = dict(((networking or {}).get("EndpointsConfig")) or {})
        if "default" in endpoints:  # the docker CLI keys the default network's endpoint "default"
            endpoints.setdefault(mode, endpoints.pop("default"))
        settings = copy.deepcopy(EMPTY_SETTINGS)
        exposed = list((cfg.get("ExposedPorts") or {}).keys())
        for key in (host_config.get("PortBindings") or {}):
            if key not in exposed:
                exposed.append(key)
        if exposed:
            cfg["ExposedPorts"] = {k: {} for k in exposed}
        mac = str(cfg.pop("MacAddress", None) or "")
        if mac and mode.startswith("container:"):
            raise InvalidArgument("conflicting options: mac-address and the network mode")
        links = [parse_link(item) for item in host_config.get("Links") or []]
        if links and mode.startswith("container:"):
            raise InvalidArgument("conflicting options: container type network can't be used with links. "
                                  "This would result in undefined behavior")
        if links and mode == "host":
            raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                                  "This would result in undefined behavior")
        if mode == "bridge":  # legacy links (default bridge only): the target must exist now (moby registerLinks)
            for target, _alias in links:
                try:
                    self.containers.get(target)
                except NoSuchContainer as exc:  # a 400, not a 404: clients read a 404 here as a missing image
                    raise InvalidArgument(f"could not get container for {target}: {exc}") from None
        if mode.startswith("container:"):
            target = mode.split(":", 1)[1]
            self.containers.get(target)  # NoSuchContainer now, not at start
            if host_config.get("PortBindings") or host_config.get("PublishAllPorts"):
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            if host_config.get("Dns") or host_config.get("ExtraHosts"):
                raise InvalidArgument("conflicting options: dns and the network mode")
            return settings
        if mode == "host" and (host_config.get("PortBindings") or host_config.get("PublishAllPorts")):
            host_config["PortBindings"] = {}
            host_config["PublishAllPorts"] = False  # dockerd: "Published ports are discarded when using host network mode"
        primary = self.networks.get(mode)
        if primary.driver in ("host", "null") and any(k not in (mode, primary.name) for k in endpoints):
            raise InvalidArgument(f"container cannot be connected to multiple networks with one of the networks in "
                                  f"private ({primary.name}) mode")
        primary_cfg = endpoints.pop(mode, None) or endpoints.pop(primary.name, None)
        if mac:
            # moby: the container-wide MacAddress (deprecated in API 1.44, what docker-py and compose 1.29
            # send) is the primary network endpoint's; both given must agree.
            if primary.driver != "bridge":
                raise InvalidArgument("conflicting options: mac-address and the network mode")
            primary_cfg = dict(primary_cfg or {})
            if primary_cfg.get("MacAddress") and primary_cfg["MacAddress"].lower() != mac.lower():
                raise InvalidArgument("the container-wide MAC address must match the endpoint-specific MAC "
                                      "address for the main network, or be left empty")
            primary_cfg["MacAddress"] = mac
        ordered = [(primary, primary_cfg)]
        for ref, ecfg in endpoints.items():
            ordered.append((self.networks.get(ref), ecfg))
        for net, ecfg in ordered:
            settings["Networks"][net.name] = _endpoint_config(ecfg, net)
        return settings

    # -- start / exit -------------------------------------------------------------------------------
    async def setup(self, c: Container, spec: dict[str, Any]) -> None:
        mode = network_mode(c.host_config)
        ns = spec.setdefault("linux", {}).setdefault("namespaces", [])
        settings = c.network_settings or copy.deepcopy(EMPTY_SETTINGS)
        if mode.startswith("container:"):
            try:
                other = self.containers.get(mode.split(":", 1)[1])
            except NoSuchContainer:
                raise Conflict(f"cannot join network namespace of a non-existent container: {mode[10:]}") from None
            if not other.alive or not other.state.get("Pid"):
                raise Conflict(f"cannot join network namespace of a non running container: {other.id}")
            _set_netns(ns, f"/proc/{other.state['Pid']}/ns/net")
            files = {d: other.root / n for d, n in (("/etc/hosts", "hosts"), ("/etc/resolv.conf", "resolv.conf"),
                                                    ("/etc/hostname", "hostname"))}
            _add_mounts(spec, {d: p for d, p in files.items() if p.exists()})
            return
        nets = [(self.networks.get(name), cfg) for name, cfg in (settings.get("Networks") or {}).items()]
        # The mode's network first: it gets eth0 and the default route (the record's keys are sorted).
        nets.sort(key=lambda item: item[0].name != mode and item[0].id != mode)
        kind = "host" if mode == "host" else "none" if mode == "none" else "bridge"
        bridge_nets = [(n, cfg) for n, cfg in nets if n.driver == "bridge"]
        host_config = c.host_config
        linked = self._link_hosts(c, mode, bridge_nets) if kind == "bridge" else []
        if linked:
            host_config = {**host_config, "ExtraHosts": [*(host_config.get("ExtraHosts") or []), *linked]}
        att = await self.networks.attach(
            c.id, name=c.name, mode=kind, networks=bridge_nets, hostname=c.config.get("Hostname") or c.id[:12],
            domainname=c.config.get("Domainname") or "", host_config=host_config,
            exposed=list((c.config.get("ExposedPorts") or {}).keys()), files_dir=c.root,
            userns=_userns_maps(spec) if kind != "host" else None)
        try:
            if kind == "host":
                spec["linux"]["namespaces"] = [n for n in ns if n.get("type") != "network"]
            else:
                assert att.netns is not None
                _set_netns(ns, str(att.netns))
            _add_mounts(spec, att.files)
            for net, cfg in nets:
                ep = att.endpoints.get(net.name)
                if ep is not None:
                    settings["Networks"][net.name] = _live(cfg, ep, net)
            settings["Ports"] = ports_view(att.ports, (c.config.get("ExposedPorts") or {}).keys())
            settings["SandboxID"] = c.id if att.netns else ""
            settings["SandboxKey"] = str(att.netns or "")
            _top_level(settings)
            c.network_settings = settings
        except BaseException:
            await self.networks.detach(c.id)
            raise

    def _link_hosts(self, c: Container, mode: str, nets: list[tuple[Network, dict[str, Any]]]) -> list[str]:
        """/etc/hosts lines (as ``names:ip``) for a starting container's links.

        Legacy links (``HostConfig.Links`` on the default bridge) as moby's sandbox options write them:
        ``ip  alias hostname name``, the target running and on the default bridge or the start fails.
        Links of a user-defined network's endpoint (``EndpointSettings.Links``, what ``docker network
        connect --link`` and docker-compose send) make the alias name the target on that network for
        this container only; Docker answers them from its embedded DNS, kobako writes them here, so a
        target that is not running when this container starts stays unresolved under that alias, as
        it would be in Docker's DNS then (its own name still resolves through the DNS).
        """
        out: list[str] = []
        for net, cfg in nets:
            if net.user_defined:
                for target_ref, alias in (parse_link(item) for item in (cfg or {}).get("Links") or []):
                    try:
                        target = self.containers.get(target_ref)
                    except NoSuchContainer:
                        continue
                    ep = self.networks.endpoint(target.id, net.id) if target.alive else None
                    if ep is not None and alias:
                        out.append(f"{alias}:{ep.ip}")
            elif net.name == "bridge" and mode == "bridge":
                for target_ref, alias in (parse_link(item) for item in c.host_config.get("Links") or []):
                    try:
                        target = self.containers.get(target_ref)
                    except NoSuchContainer:
                        raise Conflict(f"cannot link to a non-existent container: {target_ref}") from None
                    if not target.alive:
                        raise Conflict(f"Cannot link to a non running container: /{target.name} AS /{c.name}/{alias}")
                    ep = self.networks.endpoint(target.id, net.id)
                    if ep is None:
                        raise Conflict(f"Cannot link to /{target.name}, as it does not belong to the default network")
                    names = [alias, target.config.get("Hostname") or target.id[:12]]
                    if alias != target.name:
                        names.append(target.name)
                    out.append(f"{' '.join(n for n in names if n)}:{ep.ip}")
        return out

    async def teardown(self, c: Container) -> None:
        await self.networks.detach(c.id)
        settings = c.network_settings
        if not settings:
            return
        settings["Networks"] = {k: _stopped(v) for k, v in (settings.get("Networks") or {}).items()}
        settings.update(Ports={}, SandboxID="", SandboxKey="")
        _top_level(settings)

    async def restore(self, c: Container) -> None:
        await self.networks.restore(c.id)

    def files(self, c: Container) -> dict[str, str]:
        return {key: str(c.root / name) for key, name in (("HostsPath", "hosts"), ("ResolvConfPath", "resolv.conf"),
                                                         ("HostnamePath", "hostname")) if (c.root / name).exists()}


def parse_link(item: str) -> tuple[str, str]:
    """``name:alias`` (or ``name``, aliased as itself; either may carry moby's leading ``/``) -> (name, alias)."""
    if not isinstance(item, str) or not item.strip(":/ "):
        raise InvalidArgument(f"invalid link: {item!r}")
    name, _, alias = item.partition(":")
    name = name.strip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    if not name or not alias:
        raise InvalidArgument(f"invalid link: {item!r}")
    return name, alias


def _userns_maps(spec: dict[str, Any]) -> Any:
    """(uid maps, gid maps) when the container gets a new user namespace (--userns-remap), else None:
    its network namespace is then made owned by such a user namespace, which the runtime joins."""
    linux = spec.get("linux") or {}
    if not any(n.get("type") == "user" and not n.get("path") for n in linux.get("namespaces") or []):
        return None

    def conv(maps: list[dict[str, int]]) -> list[tuple[int, int, int]]:
        return [(int(m["containerID"]), int(m["hostID"]), int(m["size"])) for m in maps]
    return conv(linux.get("uidMappings") or []), conv(linux.get("gidMappings") or [])


def _set_netns(ns: list[dict[str, Any]], path: str) -> None:
    for n in ns:
        if n.get("type") == "network":
            n["path"] = path
            return
    ns.append({"type": "network", "path": path})


def _add_mounts(spec: dict[str, Any], files: dict[str, Any]) -> None:
    taken = {m.get("destination") for m in spec.get("mounts", [])}
    for dest, src in files.items():
        if dest not in taken:
            spec.setdefault("mounts", []).append({"destination": dest, "type": "bind", "source": str(src),
                                                  "options": ["rbind", "rprivate"]})


def _top_level(settings: dict[str, Any]) -> None:
    """The deprecated top-level fields: the default bridge network's endpoint, as dockerd fills them."""
    ep = (settings.get("Networks") or {}).get("bridge") or {}
    settings.update(EndpointID=ep.get("EndpointID", ""), Gateway=ep.get("Gateway", ""),
                    IPAddress=ep.get("IPAddress", ""), IPPrefixLen=ep.get("IPPrefixLen", 0),
                    MacAddress=ep.get("MacAddress", "") if ep.get("EndpointID") else "")


def ps_ports(c: Container) -> list[dict[str, Any]]:
    return summary_ports((c.network_settings or {}).get("Ports") or {})


class NetworksBackend:
    """The /networks API: NetworkManager plus the containers it attaches."""

    def __init__(self, networks: NetworkManager, containers: Any) -> None:
        self.networks = networks
        self.containers = containers

    def list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return self.networks.list(filters)

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.networks.inspect(ref)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidArgument("network config must be a JSON object")
        return await self.networks.create(body)

    async def remove(self, ref: str) -> None:
        await self.networks.remove(ref)

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        return {"NetworksDeleted": await self.networks.prune(filters) or None}

    async def connect(self, ref: str, body: dict[str, Any]) -> None:
        net = self.networks.get(ref)
        c = self.containers.get(str(body.get("Container") or ""))
        mode = network_mode(c.host_config)
        if "host" in (mode, net.name):
            raise Conflict("container cannot be disconnected from host network or connected to host network")
        if mode == "none" or mode.startswith("container:") or net.driver != "bridge":
            raise Conflict("container sharing network namespace with another container or host cannot be "
                           "connected to any other network")
        settings = c.network_settings or copy.deepcopy(EMPTY_SETTINGS)
        if net.name in (settings.get("Networks") or {}):
            raise Conflict(f"endpoint with name {c.name} already exists in network {net.name}")
        config = _endpoint_config(body.get("EndpointConfig"), net)
        if c.alive:
            ep = await self.networks.connect(c.id, net, config, c.name)
            settings["Networks"][net.name] = _live(config, ep, net) if ep is not None else config
        else:
            settings["Networks"][net.name] = config
        c.network_settings = settings
        await asyncio.to_thread(c.save)
        self.containers.events.publish("network", "connect", net.id, {"container": c.id, "name": net.name,
                                                                     "type": net.driver})

    async def disconnect(self, ref: str, body: dict[str, Any]) -> None:
        net = self.networks.get(ref)
        c = self.containers.get(str(body.get("Container") or ""))
        settings = c.network_settings or {}
        if net.name not in (settings.get("Networks") or {}):
            raise Conflict(f"container {c.id} is not connected to network {net.name}")
        try:
            await self.networks.disconnect(c.id, net)
        except KobakoError:
            if not body.get("Force"):
                raise
        del settings["Networks"][net.name]
        _top_level(settings)
        await asyncio.to_thread(c.save)
        self.containers.events.publish("network", "disconnect", net.id, {"container": c.id, "name": net.name,
                                                                        "type": net.driver})
