"""Port requests, views, CLI -p parsing and the rendered nftables table."""

from __future__ import annotations

import pytest

from kobako.errors import InvalidArgument
from kobako.network._firewall import BridgeRule, PortRule, render
from kobako.network._ports import Binding, Request, ports_view, requests, summary_ports


def test_requests_from_port_bindings_and_publish_all() -> None:
    hc = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostPort": ""}]},
          "PublishAllPorts": True}
    got = requests(hc, ["80/tcp", "443/tcp"])
    assert Request(80, "tcp", "127.0.0.1", 8080) in got
    assert Request(53, "udp", "0.0.0.0", 0) in got
    assert Request(443, "tcp", "0.0.0.0", 0) in got and len(got) == 3
    with pytest.raises(InvalidArgument):
        requests({"PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": "1"}]}}, [])


def test_ports_views() -> None:
    b = [Binding(80, "tcp", "0.0.0.0", 32768)]
    view = ports_view(b, ["80/tcp", "443/tcp"])
    assert view == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}], "443/tcp": None}
    assert {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"} in summary_ports(view)
    assert {"PrivatePort": 443, "Type": "tcp"} in summary_ports(view)


def test_cli_publish_parsing() -> None:
    from kobako.cli.commands._netopt import parse_publish, ports_text

    assert parse_publish("8080") == [("8080/tcp", {"HostIp": "", "HostPort": ""})]
    assert parse_publish("127.0.0.1:0:8080") == [("8080/tcp", {"HostIp": "127.0.0.1", "HostPort": "0"})]
    assert parse_publish("5353:53/udp") == [("53/udp", {"HostIp": "", "HostPort": "5353"})]
    assert parse_publish("127.0.0.1::80") == [("80/tcp", {"HostIp": "127.0.0.1", "HostPort": ""})]
    assert len(parse_publish("9000-9002:8000-8002")) == 3
    assert ports_text([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 1, "Type": "tcp"},
                       {"PrivatePort": 443, "Type": "tcp"}]) == "0.0.0.0:1->80/tcp, 443/tcp"


def test_render_table() -> None:
    text = render("kobako_t", [BridgeRule("kt0", "10.213.1.0/24", False), BridgeRule("kt-i", "10.213.2.0/24", True)],
                  [PortRule("127.0.0.1", 8080, "tcp", "10.213.1.2", 80), PortRule("", 53, "udp", "10.213.1.2", 53)])
    assert text.startswith("table ip kobako_t\ndelete table ip kobako_t\n")
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.213.1.2:80" in text
    assert "    udp dport 53 dnat to 10.213.1.2:53" in text
    assert 'ip saddr 10.213.1.0/24 oifname != "kt0" masquerade' in text
    assert 'ip saddr 10.213.2.0/24 oifname != "kt-i" masquerade' not in text  # internal: no NAT out
    assert 'iifname "kt-i" oifname != "kt-i" drop' in text
    assert '    iifname "kt-i" drop' in text  # internal: the host is out of reach
    assert 'iifname "kt0" oifname { "kt-i" } drop' in text  # networks are isolated
