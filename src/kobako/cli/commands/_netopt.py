"""Network flags of ``run``/``create`` (docker/cli ``opts`` and ``nat.ParsePortSpec``), to the create body."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_network_flags(p: _args.ArgumentParser) -> None:
    p.add_argument("--network", "--net", default="default", help="Connect a container to a network")
    p.add_argument("--network-alias", "--net-alias", action="append", default=[],
                   help="Add network-scoped alias for the container")
    p.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    p.add_argument("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    p.add_argument("--dns", action="append", default=[], help="Set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    p.add_argument("--dns-option", "--dns-opt", action="append", default=[], help="Set DNS options")
    p.add_argument("-p", "--publish", action="append", default=[], help="Publish a container's port(s) to the host")
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="Publish all exposed ports to random ports")
    p.add_argument("--expose", action="append", default=[], help="Expose a port or a range of ports")


def _range(text: str, what: str, spec: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    if not lo.isdigit() or (sep and not hi.isdigit()):
        raise CommandError(f"invalid {what} port in {spec!r}", 125)
    a, b = int(lo), int(hi) if sep else int(lo)
    if b < a or b > 65535:
        raise CommandError(f"invalid {what} port range in {spec!r}", 125)
    return list(range(a, b + 1))


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """``[ip:][hostport:]containerport[/proto]`` → [("80/tcp", {"HostIp": ..., "HostPort": ...})]."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise CommandError(f"invalid proto: {proto}", 125)
    ip = ""
    if rest.startswith("["):
        end = rest.find("]")
        ip, rest = rest[1:end], rest[end + 2:]
    parts = rest.split(":")
    if len(parts) == 3:
        ip, host, cont = parts
    elif len(parts) == 2:
        host, cont = parts
    elif len(parts) == 1:
        host, cont = "", parts[0]
    else:
        raise CommandError(f"invalid port format: {spec!r}", 125)
    cports = _range(cont, "container", spec)
    if not host:
        return [(f"{c}/{proto}", {"HostIp": ip, "HostPort": ""}) for c in cports]
    hports = _range(host, "host", spec)
    if len(hports) == len(cports):
        return [(f"{c}/{proto}", {"HostIp": ip, "HostPort": str(h)}) for c, h in zip(cports, hports)]
    if len(cports) == 1:  # a host range for one container port: any port of the range
        return [(f"{cports[0]}/{proto}", {"HostIp": ip, "HostPort": host})]
    raise CommandError(f"invalid ranges specified for container and host Ports: {cont} and {host}", 125)


def network_flags(args: _args.Namespace, host_config: dict[str, Any], body: dict[str, Any]) -> None:
    host_config["NetworkMode"] = args.network or "default"
    if args.add_host:
        host_config["ExtraHosts"] = list(args.add_host)
    if args.dns:
        host_config["Dns"] = list(args.dns)
    if args.dns_search:
        host_config["DnsSearch"] = list(args.dns_search)
    if args.dns_option:
        host_config["DnsOptions"] = list(args.dns_option)
    exposed: dict[str, Any] = {}
    for e in args.expose:
        num, _, proto = e.partition("/")
        for port in _range(num, "exposed", e):
            exposed[f"{port}/{proto or 'tcp'}"] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in args.publish:
        for key, binding in parse_publish(spec):
            bindings.setdefault(key, []).append(binding)
            exposed[key] = {}
    if bindings:
        host_config["PortBindings"] = bindings
    if args.publish_all:
        host_config["PublishAllPorts"] = True
    if exposed:
        body["ExposedPorts"] = exposed
    endpoint: dict[str, Any] = {}
    if args.network_alias:
        endpoint["Aliases"] = list(args.network_alias)
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    if args.mac_address:
        endpoint["MacAddress"] = args.mac_address
    if endpoint:
        if args.network in ("default", "bridge", "host", "none") or args.network.startswith("container:"):
            if args.network_alias:
                raise CommandError("network-scoped aliases are only supported for user-defined networks", 125)
        body["NetworkingConfig"] = {"EndpointsConfig": {args.network: endpoint}}


def ports_text(ports: list[dict[str, Any]]) -> str:
    """docker's PORTS column: ``0.0.0.0:32768->80/tcp, 443/tcp``."""
    items = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("PublicPort", 0))):
        if p.get("PublicPort"):
            items.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p.get('Type', 'tcp')}")
        else:
            items.append(f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
    return ", ".join(dict.fromkeys(items))
