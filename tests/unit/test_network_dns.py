"""The embedded DNS codec and resolver (no sockets)."""

from __future__ import annotations

import struct

from kobako.network._dns import (QTYPE_A, QTYPE_AAAA, QTYPE_PTR, RCODE_NXDOMAIN, RCODE_OK, Resolver, encode_name,
                                 nxdomain, parse_query, reverse_name)


def query(name: str, qtype: int = QTYPE_A, qid: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, 1)


def answers(reply: bytes) -> tuple[int, int, list[bytes]]:
    qid, flags, _qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", reply)
    off = 12
    while reply[off]:
        off += reply[off] + 1
    off += 5
    out = []
    for _ in range(an):
        _ptr, _t, _c, _ttl, n = struct.unpack_from("!HHHIH", reply, off)
        off += 12
        out.append(reply[off:off + n])
        off += n
    return qid, flags & 0xF, out


TABLE = {"web": ["10.213.1.2", "10.213.1.3", "10.213.1.4"], "db": ["10.213.1.9"]}


def resolver() -> Resolver:
    return Resolver(lambda n: TABLE.get(n), lambda ip: "db.net1" if ip == "10.213.1.9" else None)


def test_parse_query() -> None:
    q = parse_query(query("Web.", qid=7))
    assert (q.id, q.name, q.qtype) == (7, "web", QTYPE_A)


def test_a_record_round_robin() -> None:
    r = resolver()
    seen = []
    for _ in range(3):
        qid, rcode, ans = answers(r.answer(query("web")) or b"")
        assert qid == 0x1234 and rcode == RCODE_OK and len(ans) == 3
        seen.append(".".join(str(b) for b in ans[0]))
    assert sorted(seen) == TABLE["web"]  # each address comes first once


def test_unknown_is_not_ours_then_nxdomain() -> None:
    assert resolver().answer(query("nope")) is None
    _qid, rcode, ans = answers(nxdomain(query("nope")) or b"")
    assert rcode == RCODE_NXDOMAIN and ans == []


def test_aaaa_of_known_name_is_empty_noerror() -> None:
    _qid, rcode, ans = answers(resolver().answer(query("db", QTYPE_AAAA)) or b"")
    assert rcode == RCODE_OK and ans == []


def test_ptr() -> None:
    _qid, rcode, ans = answers(resolver().answer(query(reverse_name("10.213.1.9"), QTYPE_PTR)) or b"")
    assert rcode == RCODE_OK and ans == [encode_name("db.net1")]
    assert resolver().answer(query(reverse_name("10.0.0.1"), QTYPE_PTR)) is None


def test_garbage_is_ignored() -> None:
    assert resolver().answer(b"\x00\x01") is None
    assert nxdomain(b"junk") is None
