"""/etc/hosts, /etc/resolv.conf and /etc/hostname as Docker writes them."""

from __future__ import annotations

import pytest

from kobako.errors import InvalidArgument
from kobako.network._files import hostname_file, hosts_file, parse_extra_host, resolv_conf, upstream_servers

HOST_RESOLV = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"


def test_hosts_file() -> None:
    text = hosts_file("abc123", "", ["10.213.1.2"], [("db", "10.213.1.9")])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "::1\tlocalhost ip6-localhost ip6-loopback" in lines
    assert lines.index("10.213.1.9\tdb") < lines.index("10.213.1.2\tabc123")
    assert hosts_file("web", "example.com", ["10.0.0.5"]).endswith("10.0.0.5\tweb.example.com web\n")


def test_extra_host_forms() -> None:
    assert parse_extra_host("db:10.0.0.9") == ("db", "10.0.0.9")
    assert parse_extra_host("db=10.0.0.9") == ("db", "10.0.0.9")
    assert parse_extra_host("v6:[::1]") == ("v6", "::1")
    assert parse_extra_host("gw:host-gateway", "10.213.0.1") == ("gw", "10.213.0.1")
    with pytest.raises(InvalidArgument):
        parse_extra_host("db:notanip")


def test_resolv_default_bridge_drops_loopback() -> None:
    text = resolv_conf(HOST_RESOLV, embedded=False)
    assert "127.0.0.53" not in text
    assert "nameserver 10.0.0.2\n" in text and "search corp.example\n" in text and "options edns0\n" in text


def test_resolv_only_loopback_gets_defaults() -> None:
    text = resolv_conf("nameserver 127.0.0.1\n", embedded=False)
    assert "nameserver 8.8.8.8\n" in text


def test_resolv_user_network_embedded() -> None:
    text = resolv_conf(HOST_RESOLV, embedded=True)
    assert [ln for ln in text.splitlines() if ln.startswith("nameserver")] == ["nameserver 127.0.0.11"]
    assert "options edns0 ndots:0" in text


def test_resolv_flags_override() -> None:
    text = resolv_conf(HOST_RESOLV, embedded=False, dns=["10.9.9.9"], dns_search=["a.b"], dns_options=["ndots:2"])
    assert "nameserver 10.9.9.9\n" in text and "10.0.0.2" not in text
    assert "search a.b\n" in text and "options ndots:2\n" in text
    assert upstream_servers(HOST_RESOLV) == ["10.0.0.2"]
    assert upstream_servers(HOST_RESOLV, ["10.9.9.9"]) == ["10.9.9.9"]


def test_hostname_file() -> None:
    assert hostname_file("abc") == "abc\n"
