"""kobako's packet rules: one nftables table per daemon, rendered whole from state, applied atomically.

The table is never edited rule by rule: every change (a network created or removed, a container
with published ports started or stopped, a daemon restart) renders the complete table from the
daemon's state and replaces it in one ``nft -f`` transaction. So there is nothing to reconcile
after a crash, and removing everything is ``delete table``. What it holds:

- ``ports``: DNAT of published ports, entered for packets to a local address, from outside
  (prerouting) and from the host itself (output; 127.0.0.1 works because the bridge has
  ``route_localnet`` and such packets are masqueraded on their way to it).
- masquerade for traffic leaving a non-internal network, and for hairpin traffic (a container
  reaching a published port of its own network).
- isolation: a network's bridge does not forward to another kobako bridge; an internal
  network forwards nothing off its bridge and its containers cannot reach any host address.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from kobako.errors import SystemError_


@dataclass(frozen=True, slots=True)
class BridgeRule:
    bridge: str
    subnet: str
    internal: bool


@dataclass(frozen=True, slots=True)
class PortRule:
    host_ip: str  # "" or "0.0.0.0" for every local address
    host_port: int
    proto: str  # tcp | udp
    container_ip: str
    container_port: int


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def render(table: str, bridges: Sequence[BridgeRule], ports: Sequence[PortRule]) -> str:
    """The whole table as an ``nft -f`` script that replaces any previous version of it."""
    names = [b.bridge for b in bridges]
    lines = [f"table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    lines += ["  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;",
              "    fib daddr type local jump ports", "  }",
              "  chain output {", "    type nat hook output priority -100; policy accept;",
              "    fib daddr type local jump ports", "  }", "  chain ports {"]
    for p in ports:
        dst = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        lines.append(f"    {dst}{p.proto} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}")
    lines += ["  }", "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;"]
    for b in bridges:
        lines.append(f"    oifname {_q(b.bridge)} ip saddr 127.0.0.0/8 masquerade")
        lines.append(f"    oifname {_q(b.bridge)} ct status dnat ip saddr {b.subnet} masquerade")
        if not b.internal:
            lines.append(f"    ip saddr {b.subnet} oifname != {_q(b.bridge)} masquerade")
    lines += ["  }", "  chain forward {", "    type filter hook forward priority filter; policy accept;"]
    for b in bridges:
        if b.internal:
            lines.append(f"    iifname {_q(b.bridge)} oifname != {_q(b.bridge)} drop")
            lines.append(f"    oifname {_q(b.bridge)} iifname != {_q(b.bridge)} drop")
        others = [n for n in names if n != b.bridge]
        if others:
            lines.append(f"    iifname {_q(b.bridge)} oifname {{ {', '.join(_q(o) for o in others)} }} drop")
    lines += ["  }", "  chain input {", "    type filter hook input priority filter; policy accept;"]
    for b in bridges:
        # route_localnet is on for the bridge (published 127.0.0.1): never let a container reach host loopback.
        # (replies to published-port connections from 127.0.0.1 come back as "established")
        lines.append(f"    iifname {_q(b.bridge)} ip daddr 127.0.0.0/8 ct state != {{ established, related }} drop")
        if b.internal:
            lines.append(f"    iifname {_q(b.bridge)} drop")
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def _nft(script: str) -> None:
    try:
        res = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True, timeout=30)
    except FileNotFoundError:
        raise SystemError_("nft not found: kobako's networking needs nftables (apt-get install nftables)") from None
    if res.returncode != 0:
        raise SystemError_(f"nft: {res.stderr.decode(errors='replace').strip()}")


def apply(table: str, bridges: Sequence[BridgeRule], ports: Sequence[PortRule]) -> None:
    _nft(render(table, bridges, ports))


def remove(table: str) -> None:
    """Delete the table if it exists (idempotent)."""
    _nft(f"table ip {table}\ndelete table ip {table}\n")
