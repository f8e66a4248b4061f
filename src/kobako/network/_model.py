"""Networks and endpoints as records, and their Docker-shaped JSON views."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from kobako.errors import Conflict, NotFound, PermissionDenied


class NoSuchNetwork(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found")


class NetworkExists(Conflict):
    pass


class NetworkInUse(PermissionDenied):
    """dockerd answers 403 for removing a network with active endpoints."""


BUILTIN = ("bridge", "host", "none")


@dataclass
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created: str
    subnet: ipaddress.IPv4Network | None = None
    gateway: ipaddress.IPv4Address | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str = ""
    user_subnet: bool = False  # --subnet given: --ip allowed, subnet kept across restarts as given

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN

    @property
    def user_defined(self) -> bool:
        """Docker: embedded DNS and aliases only on user-defined networks."""
        return self.driver == "bridge" and self.name != "bridge"

    def to_json(self) -> dict[str, Any]:
        return {"Id": self.id, "Name": self.name, "Driver": self.driver, "Created": self.created,
                "Subnet": str(self.subnet) if self.subnet else "",
                "Gateway": str(self.gateway) if self.gateway else "", "Internal": self.internal,
                "Attachable": self.attachable, "Labels": self.labels, "Options": self.options,
                "Bridge": self.bridge, "UserSubnet": self.user_subnet}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Network:
        return cls(id=obj["Id"], name=obj["Name"], driver=obj["Driver"], created=obj["Created"],
                   subnet=ipaddress.IPv4Network(obj["Subnet"]) if obj.get("Subnet") else None,
                   gateway=ipaddress.IPv4Address(obj["Gateway"]) if obj.get("Gateway") else None,
                   internal=bool(obj.get("Internal")), attachable=bool(obj.get("Attachable")),
                   labels=dict(obj.get("Labels") or {}), options=dict(obj.get("Options") or {}),
                   bridge=obj.get("Bridge") or "", user_subnet=bool(obj.get("UserSubnet")))

    def inspect(self, containers: dict[str, Any] | None = None) -> dict[str, Any]:
        config = []
        if self.subnet is not None:
            config.append({"Subnet": str(self.subnet), "Gateway": str(self.gateway or "")})
        # Docker shows only the options the network was made with (the default bridge records its own):
        # compose compares them with its file and would recreate a network that shows more.
        opts = dict(self.options)
        return {
            "Name": self.name, "Id": self.id, "Created": self.created, "Scope": "local", "Driver": self.driver,
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if self.builtin else {}, "Config": config},
            "Internal": self.internal, "Attachable": self.attachable, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers or {},
            "Options": opts, "Labels": self.labels,
        }


@dataclass
class Endpoint:
    """One container's attachment to one bridge network while it runs."""

    id: str
    network_id: str
    container_id: str
    name: str  # the container's name (DNS)
    aliases: list[str]
    ip: ipaddress.IPv4Address
    prefixlen: int
    gateway: ipaddress.IPv4Address | None
    mac: str
    ifname: str  # in the container: eth0, eth1, ...
    veth: str  # on the host

    def dns_names(self) -> list[str]:
        return [self.name, *self.aliases, self.container_id[:12]]

    def settings(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Docker's ``EndpointSettings`` (NetworkSettings.Networks[name])."""
        config = config or {}
        return {
            "IPAMConfig": config.get("IPAMConfig"), "Links": None, "Aliases": config.get("Aliases") or None,
            "MacAddress": self.mac, "DriverOpts": None, "GwPriority": 0, "NetworkID": self.network_id,
            "EndpointID": self.id, "Gateway": str(self.gateway or ""), "IPAddress": str(self.ip),
            "IPPrefixLen": self.prefixlen, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": self.dns_names() if config.get("_user_defined") else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {"Id": self.id, "NetworkID": self.network_id, "ContainerID": self.container_id, "Name": self.name,
                "Aliases": self.aliases, "IP": str(self.ip), "PrefixLen": self.prefixlen,
                "Gateway": str(self.gateway or ""), "Mac": self.mac, "Ifname": self.ifname, "Veth": self.veth}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Endpoint:
        return cls(id=obj["Id"], network_id=obj["NetworkID"], container_id=obj["ContainerID"], name=obj["Name"],
                   aliases=list(obj.get("Aliases") or []), ip=ipaddress.IPv4Address(obj["IP"]),
                   prefixlen=int(obj["PrefixLen"]),
                   gateway=ipaddress.IPv4Address(obj["Gateway"]) if obj.get("Gateway") else None,
                   mac=obj["Mac"], ifname=obj["Ifname"], veth=obj["Veth"])


def mac_for(ip: ipaddress.IPv4Address) -> str:
    """Docker's classic MAC: 02:42 and the four bytes of the address (unique within a network)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)
