"""IPAM: never the same address twice, persisted atomically, survives a reload; subnet choice."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kobako.errors import InvalidArgument, Unavailable
from kobako.network._ipam import AddressInUse, AddressPool, PoolSpec, default_gateway, pick_subnet

NET = ipaddress.IPv4Network("10.213.7.0/24")
GW = ipaddress.IPv4Address("10.213.7.1")


def pool(tmp_path: Path, net: ipaddress.IPv4Network = NET) -> AddressPool:
    return AddressPool.load(tmp_path / "ipam.json", net, default_gateway(net))


def test_sequential_and_skips_gateway(tmp_path: Path) -> None:
    p = pool(tmp_path)
    assert [str(p.allocate(f"c{i}")) for i in range(3)] == ["10.213.7.2", "10.213.7.3", "10.213.7.4"]


def test_released_address_not_reused_before_wrapping(tmp_path: Path) -> None:
    p = pool(tmp_path)
    a = p.allocate("a")
    p.release(a)
    assert p.allocate("b") != a


def test_survives_reload(tmp_path: Path) -> None:
    p = pool(tmp_path)
    taken = {str(p.allocate(f"c{i}")) for i in range(5)}
    again = pool(tmp_path)
    assert set(again.allocated) == taken
    assert str(again.allocate("new")) not in taken
    assert str(again.allocate("newer")) == "10.213.7.8"  # the cursor persisted too


def test_wanted_address(tmp_path: Path) -> None:
    p = pool(tmp_path)
    assert str(p.allocate("a", "10.213.7.50")) == "10.213.7.50"
    with pytest.raises(AddressInUse):
        p.allocate("b", "10.213.7.50")
    with pytest.raises(AddressInUse):
        p.allocate("b", str(GW))
    with pytest.raises(InvalidArgument):
        p.allocate("b", "10.99.0.5")


def test_exhaustion_and_release_owner(tmp_path: Path) -> None:
    p = pool(tmp_path, ipaddress.IPv4Network("10.213.9.0/29"))  # .2-.6 usable
    got = [p.allocate("x") for _ in range(5)]
    assert len(set(got)) == 5
    with pytest.raises(Unavailable):
        p.allocate("y")
    p.release_owner("x")
    assert p.allocated == {}
    assert pool(tmp_path, ipaddress.IPv4Network("10.213.9.0/29")).allocated == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=120))
def test_never_twice_property(tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[bool, int]]) -> None:
    """Whatever the sequence of allocations and releases (and reloads), no address has two owners."""
    d = tmp_path_factory.mktemp("ipam")
    p = pool(d, ipaddress.IPv4Network("10.213.10.0/26"))
    live: dict[str, str] = {}
    for i, (alloc, k) in enumerate(ops):
        if alloc or not live:
            try:
                ip = str(p.allocate(f"o{i}"))
            except Unavailable:
                continue
            assert ip not in live
            live[ip] = f"o{i}"
        else:
            ip = sorted(live)[k % len(live)]
            p.release(ip)
            del live[ip]
        if k % 7 == 0:
            p = pool(d, ipaddress.IPv4Network("10.213.10.0/26"))
    assert set(p.allocated) == set(live)


def test_pick_subnet_avoids_used() -> None:
    pools = [PoolSpec.parse("base=10.213.0.0/16,size=24")]
    used = [ipaddress.IPv4Network("10.213.0.0/23"), ipaddress.IPv4Network("0.0.0.0/0")]
    assert str(pick_subnet(pools, used)) == "10.213.2.0/24"
    assert pick_subnet(pools, used, randomize=True) not in used[:1]
    with pytest.raises(Unavailable):
        pick_subnet(pools, [ipaddress.IPv4Network("10.213.0.0/16")])


def test_pool_spec_parse() -> None:
    assert PoolSpec.parse("base=10.10.0.0/16,size=24").size == 24
    with pytest.raises(InvalidArgument):
        PoolSpec.parse("size=24")
    with pytest.raises(InvalidArgument):
        PoolSpec.parse("base=10.10.0.0/16,size=8")
