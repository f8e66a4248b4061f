"""NetworkManager: networks, container sandboxes and their endpoints, DNS, published ports.

Lifecycle, as kobakod drives it::

    nm = NetworkManager(NetworkConfig(...))
    await nm.start()                  # networks loaded (bridge/host/none made once), bridges up
    ...containers.restore(): await nm.restore(cid) for each container still running
    await nm.reconcile()              # whatever belongs to no running container is removed:
                                      # sandboxes, veths, addresses, netns files; rules re-rendered
    att = await nm.attach(cid, ...)   # container start: sandbox (netns), endpoints, files, DNS, ports
    await nm.detach(cid)              # container exit/remove: all of it undone, idempotent
    await nm.shutdown()               # bridges and rules removed when no container runs

State on disk (``<data-root>/network``): ``networks/<id>.json``, ``ipam/<id>.json`` (addresses
in use), ``sandboxes/<container id>.json`` (what a running container holds, written before the
kernel objects are made, so a crash at any point is undone by the next ``reconcile``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, InvalidArgument, KobakoError, NotFound, PermissionDenied
from kobako.fsutil import atomic_write, atomic_write_json, read_json
from kobako.ids import new_id

from . import _dns, _files, _firewall, _links, _ports
from ._ipam import DEFAULT_POOLS, AddressPool, PoolSpec, default_gateway, overlaps_any, pick_subnet
from ._model import BUILTIN, Endpoint, Network, NetworkExists, NetworkInUse, NoSuchNetwork, mac_for

log = logging.getLogger("kobako.network")


@dataclass(frozen=True)
class NetworkConfig:
    data_root: Path  # <data-root>/network
    netns_root: Path  # <exec-root>/netns
    prefix: str = "kb"
    pools: tuple[PoolSpec, ...] = DEFAULT_POOLS
    bip: str | None = None  # the default bridge's gateway/prefix, e.g. 172.17.0.1/16
    ip_forward: bool = True
    dns_forward: bool = True
    randomize_subnets: bool = False
    big_tcp: int = 0  # IPv4 GSO/GRO size limit of container veths (BIG TCP) when above 64 KiB; 0: kernel default

    @property
    def default_bridge(self) -> str:
        return "kobako0" if self.prefix == "kb" else f"{self.prefix}0"

    @property
    def table(self) -> str:
        return "kobako" if self.prefix == "kb" else f"kobako_{self.prefix}"


@dataclass
class Sandbox:
    container_id: str
    netns: Path | None
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # network id -> endpoint
    ports: list[_ports.Binding] = field(default_factory=list)
    dns: _dns.DnsServer | None = None
    dns_servers: list[str] = field(default_factory=list)  # --dns: the embedded server's upstreams

    def to_json(self) -> dict[str, Any]:
        return {"ContainerID": self.container_id, "Netns": str(self.netns or ""),
                "Endpoints": [e.to_json() for e in self.endpoints.values()],
                "Ports": [_ports.binding_to_json(b) for b in self.ports], "Dns": self.dns_servers}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Sandbox:
        eps = [Endpoint.from_json(e) for e in obj.get("Endpoints") or []]
        return cls(obj["ContainerID"], Path(obj["Netns"]) if obj.get("Netns") else None,
                   {e.network_id: e for e in eps}, [_ports.binding_from_json(b) for b in obj.get("Ports") or []],
                   dns_servers=list(obj.get("Dns") or []))


@dataclass
class Attachment:
    """What a container start needs: the netns to join, the files to mount, inspect's settings."""

    netns: Path | None
    files: dict[str, Path]  # /etc/hosts etc. -> host file
    endpoints: dict[str, Endpoint]  # network name -> endpoint
    ports: list[_ports.Binding]


def _now() -> str:
    import time

    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


class NetworkManager:
    def __init__(self, config: NetworkConfig) -> None:
        self.cfg = config
        self.networks: dict[str, Network] = {}
        self.pools: dict[str, AddressPool] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self._stale: dict[str, Sandbox] = {}
        self._holder = _ports.PortHolder()
        self._lock = asyncio.Lock()
        self._host_resolv = ""

    # -- paths ---------------------------------------------------------------------------------
    def _net_path(self, nid: str) -> Path:
        return self.cfg.data_root / "networks" / f"{nid}.json"

    def _pool_path(self, nid: str) -> Path:
        return self.cfg.data_root / "ipam" / f"{nid}.json"

    def _sandbox_path(self, cid: str) -> Path:
        return self.cfg.data_root / "sandboxes" / f"{cid}.json"

    def _alias(self, kind: str, *ids: str) -> str:
        return ":".join(("kobako", self.cfg.prefix, kind, *ids))

    # -- start / reconcile / shutdown ------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        async with self._lock:
            for net in list(self.networks.values()):
                if net.driver == "bridge":
                    try:
                        await self._bring_up(net)
                    except (KobakoError, OSError) as exc:  # one broken network must not stop the daemon
                        log.error("network %s: cannot bring up bridge %s: %s", net.name, net.bridge, exc)
        if self.cfg.ip_forward:
            with contextlib.suppress(OSError):
                Path("/proc/sys/net/ipv4/ip_forward").write_text("1")

    def _load(self) -> None:
        for sub in ("networks", "ipam", "sandboxes"):
            (self.cfg.data_root / sub).mkdir(parents=True, exist_ok=True)
        for p in sorted((self.cfg.data_root / "networks").glob("*.json")):
            try:
                net = Network.from_json(read_json(p))
            except (OSError, ValueError, KeyError) as exc:
                log.error("network record %s unreadable: %s", p.name, exc)
                continue
            self.networks[net.id] = net
        have = {n.name for n in self.networks.values()}
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if name not in have:
                net = Network(id=new_id(), name=name, driver=driver, created=_now())
                if name == "bridge":
                    net.bridge = self.cfg.default_bridge
                    net.options = {"com.docker.network.bridge.default_bridge": "true",
                                   "com.docker.network.bridge.enable_icc": "true",
                                   "com.docker.network.bridge.enable_ip_masquerade": "true",
                                   "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                                   "com.docker.network.bridge.name": net.bridge,
                                   "com.docker.network.driver.mtu": "1500"}
                self.networks[net.id] = net
                atomic_write_json(self._net_path(net.id), net.to_json())
        for p in sorted((self.cfg.data_root / "sandboxes").glob("*.json")):
            try:
                sb = Sandbox.from_json(read_json(p))
            except (OSError, ValueError, KeyError) as exc:
                log.error("sandbox record %s unreadable: %s", p.name, exc)
                p.unlink(missing_ok=True)
                continue
            self._stale[sb.container_id] = sb
        try:
            self._host_resolv = Path("/etc/resolv.conf").read_text()
        except OSError:
            self._host_resolv = ""

    async def _bring_up(self, net: Network) -> None:
        """Choose the subnet if it has none (or its old one is taken now), make the bridge."""
        for _attempt in range(8):
            if net.subnet is None or (not net.user_subnet and await self._subnet_taken(net)):
                if net.name == "bridge" and self.cfg.bip:
                    iface = ipaddress.IPv4Interface(self.cfg.bip)
                    net.subnet, net.gateway = iface.network, iface.ip
                else:
                    net.subnet = await self._pick_subnet(exclude=net)
                    net.gateway = default_gateway(net.subnet)
                await asyncio.to_thread(atomic_write_json, self._net_path(net.id), net.to_json())
            assert net.subnet is not None and net.gateway is not None
            if not net.bridge:
                net.bridge = (f"{self.cfg.prefix}-{net.id}")[:15]
            gw = ipaddress.IPv4Interface(f"{net.gateway}/{net.subnet.prefixlen}")
            await asyncio.to_thread(_links.ensure_bridge, net.bridge, self._alias("bridge", net.id), gw,
                                    net.internal)
            # Another daemon may have taken the same block at the same moment: the loser moves.
            if net.user_subnet or net.name == "bridge" and self.cfg.bip or not await self._subnet_taken(net):
                break
            log.warning("network %s: subnet %s taken meanwhile; choosing another", net.name, net.subnet)
            net.subnet = None
        self.pools[net.id] = await asyncio.to_thread(AddressPool.load, self._pool_path(net.id), net.subnet,
                                                     net.gateway)

    async def _subnet_taken(self, net: Network) -> bool:
        assert net.subnet is not None
        used = await asyncio.to_thread(_links.host_subnets, {net.bridge} if net.bridge else set())
        used += [n.subnet for n in self.networks.values() if n.subnet is not None and n.id != net.id]
        return overlaps_any(net.subnet, used)

    async def _pick_subnet(self, exclude: Network | None = None) -> ipaddress.IPv4Network:
        used = await asyncio.to_thread(_links.host_subnets)
        used += [n.subnet for n in self.networks.values() if n.subnet is not None and n is not exclude]
        return pick_subnet(self.cfg.pools, used, randomize=self.cfg.randomize_subnets)

    async def restore(self, cid: str) -> bool:
        """A container found running at daemon start: take its sandbox back (ports, DNS)."""
        sb = self._stale.pop(cid, None)
        if sb is None:
            return False
        self.sandboxes[cid] = sb
        for b in list(sb.ports):
            try:
                self._holder.hold(_ports.Request(b.container_port, b.proto, b.host_ip, b.host_port))
            except KobakoError as exc:
                log.warning("container %s: cannot hold port %s again: %s", cid[:12], b.host_port, exc)
        if sb.netns is not None and any(self.networks[n].user_defined for n in sb.endpoints if n in self.networks):
            try:
                await self._start_dns(sb)
            except OSError as exc:
                log.warning("container %s: embedded DNS not restored: %s", cid[:12], exc)
        return True

    async def reconcile(self) -> None:
        """Remove everything of containers no longer running; re-render the rules."""
        async with self._lock:
            for cid, sb in list(self._stale.items()):
                await self._undo(sb)
                self._stale.pop(cid, None)
            live_eps = {e.veth for sb in self.sandboxes.values() for e in sb.endpoints.values()}
            for lk in await asyncio.to_thread(_links.our_links, self.cfg.prefix):
                parts = lk.alias.split(":")  # kobako:<prefix>:<kind>:<id>...
                kind, rest = (parts[2] if len(parts) > 2 else ""), parts[3:]
                if kind == "bridge" and (not rest or rest[0] not in self.networks):
                    await asyncio.to_thread(_links.delete_link, lk.name)
                elif kind == "veth" and lk.name not in live_eps:
                    await asyncio.to_thread(_links.delete_link, lk.name)
            live_ns = {str(sb.netns) for sb in self.sandboxes.values() if sb.netns}
            if self.cfg.netns_root.exists():
                for p in self.cfg.netns_root.iterdir():
                    if str(p) not in live_ns:
                        await asyncio.to_thread(_links.remove_sandbox, p)
            live = set(self.sandboxes)
            for pool in self.pools.values():
                for owner in pool.owners() - live:
                    await asyncio.to_thread(pool.release_owner, owner)
            await self._apply_rules()

    async def shutdown(self) -> None:
        """Stop serving (DNS, held ports). With no container running, remove bridges and rules too;
        otherwise they stay for the running containers (live restore) until the next daemon."""
        for sb in self.sandboxes.values():
            if sb.dns is not None:
                sb.dns.close()
                sb.dns = None
        self._holder.close()
        if self.sandboxes:
            return
        async with self._lock:
            for lk in await asyncio.to_thread(_links.our_links, self.cfg.prefix):
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(_links.delete_link, lk.name)
            with contextlib.suppress(KobakoError):
                await asyncio.to_thread(_firewall.remove, self.cfg.table)
            if self.cfg.netns_root.exists():
                for p in self.cfg.netns_root.iterdir():
                    await asyncio.to_thread(_links.remove_sandbox, p)
                with contextlib.suppress(OSError):
                    self.cfg.netns_root.rmdir()

    async def _apply_rules(self) -> None:
        bridges = [_firewall.BridgeRule(n.bridge, str(n.subnet), n.internal) for n in self.networks.values()
                   if n.driver == "bridge" and n.subnet is not None]
        rules = []
        for sb in self.sandboxes.values():
            ep = self._publish_endpoint(sb)
            if ep is None:
                continue
            for b in sb.ports:
                rules.append(_firewall.PortRule(b.host_ip, b.host_port, b.proto, str(ep.ip), b.container_port))
        await asyncio.to_thread(_firewall.apply, self.cfg.table, bridges, rules)

    def _publish_endpoint(self, sb: Sandbox) -> Endpoint | None:
        for nid, ep in sb.endpoints.items():
            net = self.networks.get(nid)
            if net is not None and not net.internal:
                return ep
        return None

    # -- lookup ----------------------------------------------------------------------------------
    def get(self, ref: str) -> Network:
        if not ref:
            raise NoSuchNetwork(ref)
        for net in self.networks.values():
            if net.id == ref or net.name == ref:
                return net
        hits = [n for n in self.networks.values() if n.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(hits)} matches found based on ID prefix)")
        raise NoSuchNetwork(ref)

    def containers_of(self, net: Network) -> dict[str, Any]:
        out = {}
        for sb in self.sandboxes.values():
            ep = sb.endpoints.get(net.id)
            if ep is not None:
                out[sb.container_id] = {"Name": ep.name, "EndpointID": ep.id, "MacAddress": ep.mac,
                                        "IPv4Address": f"{ep.ip}/{ep.prefixlen}", "IPv6Address": ""}
        return out

    def inspect(self, ref: str) -> dict[str, Any]:
        net = self.get(ref)
        return net.inspect(self.containers_of(net))

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        out = []
        for net in sorted(self.networks.values(), key=lambda n: n.created):
            if _matches(net, filters or {}, bool(self.containers_of(net))):
                out.append(net.inspect(self.containers_of(net)))
        return out

    # -- create / remove -----------------------------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("Name") or ""
        if not isinstance(name, str) or not name:
            raise InvalidArgument("network name must not be empty")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            if driver in ("host", "null"):
                raise PermissionDenied(f"only one instance of \"{driver}\" network is allowed")
            raise NotFound(f'plugin "{driver}" not found')
        if body.get("EnableIPv6"):
            raise InvalidArgument("kobako networks are IPv4 only (EnableIPv6 is not supported)")
        async with self._lock:
            if any(n.name == name for n in self.networks.values()):
                raise NetworkExists(f"network with name {name} already exists")
            net = Network(id=new_id(), name=name, driver="bridge", created=_now(),
                          internal=bool(body.get("Internal")), attachable=bool(body.get("Attachable")),
                          labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
                          options={str(k): str(v) for k, v in (body.get("Options") or {}).items()})
            configs = ((body.get("IPAM") or {}).get("Config")) or []
            if len(configs) > 1:
                raise InvalidArgument("kobako networks take one IPv4 subnet")
            if configs:
                net.subnet, net.gateway = await self._user_subnet(configs[0])
                net.user_subnet = True
            else:
                net.subnet = await self._pick_subnet()
                net.gateway = default_gateway(net.subnet)
            net.bridge = net.options.get("com.docker.network.bridge.name") or (f"{self.cfg.prefix}-{net.id}")[:15]
            await asyncio.to_thread(atomic_write_json, self._net_path(net.id), net.to_json())
            self.networks[net.id] = net
            try:
                await self._bring_up(net)
                await self._apply_rules()
            except BaseException:
                await self._drop_network(net)
                raise
        return {"Id": net.id, "Warning": ""}

    async def _user_subnet(self, cfg: dict[str, Any]) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
        try:
            subnet = ipaddress.IPv4Network(cfg.get("Subnet") or "", strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid subnet {cfg.get('Subnet')!r} (IPv4 CIDR expected)") from None
        if subnet.prefixlen > 30:
            raise InvalidArgument(f"subnet {subnet} is too small")
        try:
            gateway = ipaddress.IPv4Address(cfg["Gateway"]) if cfg.get("Gateway") else default_gateway(subnet)
        except ValueError:
            raise InvalidArgument(f"invalid gateway {cfg.get('Gateway')!r}") from None
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"gateway {gateway} is not a host address of subnet {subnet}")
        if overlaps_any(subnet, [n.subnet for n in self.networks.values() if n.subnet is not None]):
            raise Conflict(f"invalid pool request: Pool overlaps with other one on this address space ({subnet})")
        if overlaps_any(subnet, await asyncio.to_thread(_links.host_subnets)):
            raise Conflict(f"invalid pool request: {subnet} overlaps with a route of the host")
        return subnet, gateway

    async def remove(self, ref: str) -> None:
        net = self.get(ref)
        if net.builtin:
            raise PermissionDenied(f"{net.name} is a pre-defined network and cannot be removed")
        async with self._lock:
            users = self.containers_of(net)
            if users:
                raise NetworkInUse(f"error while removing network: network {net.name} id {net.id} has active "
                                   "endpoints")
            await self._drop_network(net)
            await self._apply_rules()

    async def _drop_network(self, net: Network) -> None:
        self.networks.pop(net.id, None)
        self.pools.pop(net.id, None)
        if net.bridge:
            await asyncio.to_thread(_links.delete_link, net.bridge)
        await asyncio.to_thread(self._net_path(net.id).unlink, True)
        await asyncio.to_thread(self._pool_path(net.id).unlink, True)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        gone = []
        for net in list(self.networks.values()):
            if net.builtin or self.containers_of(net) or not _matches(net, filters or {}, False, prune=True):
                continue
            with contextlib.suppress(KobakoError):
                await self.remove(net.id)
                gone.append(net.name)
        return gone

    # -- sandboxes -------------------------------------------------------------------------------------
    async def attach(self, cid: str, *, name: str, mode: str, networks: list[tuple[Network, dict[str, Any]]],
                     hostname: str, domainname: str, host_config: dict[str, Any], exposed: Iterable[str],
                     files_dir: Path, userns: Any = None) -> Attachment:
        """Set up a starting container's network: ``mode`` is none, host, or a bridge network's name
        (then ``networks`` lists that one first, then any others it is connected to). ``userns``:
        (uid maps, gid maps) of a remapped container, whose network namespace its user namespace owns."""
        async with self._lock:
            await self._undo_if_any(cid)
            files_dir.mkdir(parents=True, exist_ok=True)
            if mode == "host":
                files = await asyncio.to_thread(self._host_files, files_dir, hostname, host_config)
                return Attachment(None, files, {}, [])
            sb = Sandbox(cid, self.cfg.netns_root / cid, dns_servers=list(host_config.get("Dns") or []))
            self.sandboxes[cid] = sb
            try:
                await asyncio.to_thread(self._save_sandbox, sb)
                assert sb.netns is not None
                await asyncio.to_thread(_links.create_sandbox, sb.netns, userns)
                by_name: dict[str, Endpoint] = {}
                routed = False
                for i, (net, config) in enumerate(networks if mode != "none" else []):
                    ep = await self._add_endpoint(sb, net, config, name, i, default_route=not routed)
                    routed = routed or not net.internal
                    by_name[net.name] = ep
                embedded = any(net.user_defined for net, _ in networks) and mode != "none"
                if embedded:
                    await self._start_dns(sb)
                if mode != "none" and self._publish_endpoint(sb) is not None:
                    reqs = _ports.requests(host_config, exposed)
                    for r in reqs:
                        sb.ports.append(self._holder.hold(r))
                    await asyncio.to_thread(self._save_sandbox, sb)
                    if sb.ports:
                        await self._apply_rules()
                files = await asyncio.to_thread(self._write_files, files_dir, hostname, domainname, host_config,
                                                [str(e.ip) for e in by_name.values()], embedded)
                return Attachment(sb.netns, files, by_name, list(sb.ports))
            except BaseException:
                await self._undo(sb)
                raise

    async def _add_endpoint(self, sb: Sandbox, net: Network, config: dict[str, Any], name: str, index: int,
                            default_route: bool) -> Endpoint:
        pool = self.pools.get(net.id)
        if pool is None or net.subnet is None or sb.netns is None:
            raise Conflict(f"network {net.name} is not ready")
        wanted = ((config.get("IPAMConfig") or {}).get("IPv4Address")) or None
        if wanted and not net.user_defined:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        ip = await asyncio.to_thread(pool.allocate, sb.container_id, wanted)
        eid = new_id()
        aliases = [a for a in (config.get("Aliases") or []) if a] if net.user_defined else []
        ep = Endpoint(id=eid, network_id=net.id, container_id=sb.container_id, name=name, aliases=aliases,
                      ip=ip, prefixlen=net.subnet.prefixlen, gateway=None if net.internal else net.gateway,
                      mac=config.get("MacAddress") or mac_for(ip), ifname=f"eth{index}",
                      veth=(self.cfg.prefix + eid)[:15])
        sb.endpoints[net.id] = ep
        await asyncio.to_thread(self._save_sandbox, sb)
        await asyncio.to_thread(_links.add_endpoint, ep, net.bridge, sb.netns,
                                self._alias("veth", sb.container_id, net.id), default_route and not net.internal,
                                self.cfg.big_tcp)
        return ep

    async def _start_dns(self, sb: Sandbox) -> None:
        from ._netns import run_in

        assert sb.netns is not None
        udp, tcp = await asyncio.to_thread(run_in, sb.netns, _dns.open_sockets)
        cid = sb.container_id
        server = _dns.DnsServer(_dns.Resolver(lambda n: self._lookup(cid, n), lambda ip: self._reverse(cid, ip)),
                                lambda: self._upstreams(cid))
        await server.start(udp, tcp)
        sb.dns = server

    def _user_nets_of(self, cid: str) -> set[str]:
        sb = self.sandboxes.get(cid)
        if sb is None:
            return set()
        return {nid for nid in sb.endpoints if nid in self.networks and self.networks[nid].user_defined}

    def _lookup(self, cid: str, name: str) -> list[str] | None:
        nets = self._user_nets_of(cid)
        ips = [str(ep.ip) for sb in self.sandboxes.values() for nid, ep in sb.endpoints.items()
               if nid in nets and name in (n.lower() for n in ep.dns_names())]
        return ips or None

    def _reverse(self, cid: str, ip: str) -> str | None:
        nets = self._user_nets_of(cid)
        for sb in self.sandboxes.values():
            for nid, ep in sb.endpoints.items():
                if nid in nets and str(ep.ip) == ip:
                    return f"{ep.name}.{self.networks[nid].name}"
        return None

    def _upstreams(self, cid: str) -> list[str]:
        if not self.cfg.dns_forward:
            return []
        sb = self.sandboxes.get(cid)
        return _files.upstream_servers(self._host_resolv, sb.dns_servers if sb else ())

    async def detach(self, cid: str) -> None:
        """Undo a container's sandbox (exit or remove); a no-op when there is none."""
        async with self._lock:
            await self._undo_if_any(cid)

    async def _undo_if_any(self, cid: str) -> None:
        sb = self.sandboxes.get(cid) or self._stale.pop(cid, None)
        if sb is not None:
            await self._undo(sb)

    async def _undo(self, sb: Sandbox) -> None:
        if sb.dns is not None:
            sb.dns.close()
            sb.dns = None
        had_ports = bool(sb.ports)
        for b in sb.ports:
            self._holder.release(b)
        sb.ports = []
        for nid, ep in list(sb.endpoints.items()):
            with contextlib.suppress(OSError):
                await asyncio.to_thread(_links.delete_link, ep.veth)
            pool = self.pools.get(nid)
            if pool is not None:
                await asyncio.to_thread(pool.release, ep.ip)
        if sb.netns is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(_links.remove_sandbox, sb.netns)
        for pool in self.pools.values():
            if sb.container_id in pool.owners():
                await asyncio.to_thread(pool.release_owner, sb.container_id)
        self.sandboxes.pop(sb.container_id, None)
        await asyncio.to_thread(self._sandbox_path(sb.container_id).unlink, True)
        if had_ports:
            with contextlib.suppress(KobakoError):
                await self._apply_rules()

    def _save_sandbox(self, sb: Sandbox) -> None:
        atomic_write_json(self._sandbox_path(sb.container_id), sb.to_json())

    # -- connect / disconnect of a running container -------------------------------------------------
    async def connect(self, cid: str, net: Network, config: dict[str, Any], name: str) -> Endpoint | None:
        """Hot-plug ``net`` into a running container's sandbox (None if it has no sandbox)."""
        async with self._lock:
            sb = self.sandboxes.get(cid)
            if sb is None or sb.netns is None:
                return None
            if net.id in sb.endpoints:
                raise Conflict(f"endpoint with name {name} already exists in network {net.name}")
            index = max((int(e.ifname[3:]) for e in sb.endpoints.values()), default=-1) + 1
            routed = any(not self.networks[n].internal for n in sb.endpoints if n in self.networks)
            try:
                ep = await self._add_endpoint(sb, net, config, name, index, default_route=not routed)
            except BaseException:
                ep0 = sb.endpoints.pop(net.id, None)
                if ep0 is not None:
                    await asyncio.to_thread(self.pools[net.id].release, ep0.ip)
                    await asyncio.to_thread(self._save_sandbox, sb)
                raise
            if net.user_defined and sb.dns is None:
                with contextlib.suppress(OSError):
                    await self._start_dns(sb)
            return ep

    async def disconnect(self, cid: str, net: Network) -> bool:
        async with self._lock:
            sb = self.sandboxes.get(cid)
            if sb is None or net.id not in sb.endpoints:
                return False
            ep = sb.endpoints.pop(net.id)
            await asyncio.to_thread(_links.delete_link, ep.veth)
            await asyncio.to_thread(self.pools[net.id].release, ep.ip)
            await asyncio.to_thread(self._save_sandbox, sb)
            if sb.ports and self._publish_endpoint(sb) is None:
                for b in sb.ports:
                    self._holder.release(b)
                sb.ports = []
            await self._apply_rules()
            return True

    def endpoint(self, cid: str, nid: str) -> Endpoint | None:
        sb = self.sandboxes.get(cid)
        return sb.endpoints.get(nid) if sb else None

    def sandbox_ports(self, cid: str) -> list[_ports.Binding]:
        sb = self.sandboxes.get(cid)
        return list(sb.ports) if sb else []

    # -- files ------------------------------------------------------------------------------------------
    def _host_gateway(self) -> str | None:
        br = next((n for n in self.networks.values() if n.name == "bridge"), None)
        return str(br.gateway) if br and br.gateway else None

    def _extra_hosts(self, host_config: dict[str, Any]) -> list[tuple[str, str]]:
        return [_files.parse_extra_host(h, self._host_gateway()) for h in host_config.get("ExtraHosts") or []]

    def _write_files(self, d: Path, hostname: str, domainname: str, host_config: dict[str, Any],
                     addresses: list[str], embedded: bool) -> dict[str, Path]:
        hosts = _files.hosts_file(hostname, domainname, addresses, self._extra_hosts(host_config))
        resolv = _files.resolv_conf(self._host_resolv, embedded=embedded, dns=host_config.get("Dns") or (),
                                    dns_search=host_config.get("DnsSearch") or (),
                                    dns_options=host_config.get("DnsOptions") or ())
        return self._write(d, hosts, resolv, hostname)

    def _host_files(self, d: Path, hostname: str, host_config: dict[str, Any]) -> dict[str, Path]:
        try:
            hosts = Path("/etc/hosts").read_text()
        except OSError:
            hosts = _files.hosts_file("localhost")
        hosts += "".join(f"{ip}\t{name}\n" for name, ip in self._extra_hosts(host_config))
        resolv = self._host_resolv
        if host_config.get("Dns") or host_config.get("DnsSearch") or host_config.get("DnsOptions"):
            resolv = _files.resolv_conf(self._host_resolv, embedded=False, dns=host_config.get("Dns") or (),
                                        dns_search=host_config.get("DnsSearch") or (),
                                        dns_options=host_config.get("DnsOptions") or ())
        return self._write(d, hosts, resolv, hostname)

    @staticmethod
    def _write(d: Path, hosts: str, resolv: str, hostname: str) -> dict[str, Path]:
        out = {"/etc/hosts": d / "hosts", "/etc/resolv.conf": d / "resolv.conf", "/etc/hostname": d / "hostname"}
        for text, dest in ((hosts, "/etc/hosts"), (resolv, "/etc/resolv.conf"),
                           (_files.hostname_file(hostname), "/etc/hostname")):
            atomic_write(out[dest], text.encode(), sync=False)
        return out


def _matches(net: Network, filters: dict[str, list[str]], in_use: bool, prune: bool = False) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(v in net.name for v in values):
            return False
        if key == "id" and not any(net.id.startswith(v) for v in values):
            return False
        if key == "driver" and net.driver not in values:
            return False
        if key == "type":
            kind = "builtin" if net.builtin else "custom"
            if kind not in values:
                return False
        if key == "dangling":
            want = values[0] in ("true", "1")
            if want == in_use:
                return False
        if key in ("label", "label!"):
            for v in values:
                k, sep, val = v.partition("=")
                has = k in net.labels and (not sep or net.labels[k] == val)
                if has != (key == "label"):
                    return False
        if key == "scope" and "local" not in values:
            return False
        if key == "until" and prune:
            continue
    return True
