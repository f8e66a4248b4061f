"""Property tests for the image reference parser.

Any string either parses or raises ``InvalidArgument`` (never anything else); what parses is plain
ASCII with no whitespace and survives a round trip through both its full and its familiar form;
references built from the grammar parse back to exactly their parts.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kobako.errors import InvalidArgument
from kobako.images.reference import Reference, parse_reference

_PRINTABLE = re.compile(r"[\x21-\x7e]+\Z")

ALNUM = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
SEP = st.sampled_from([".", "_", "__", "-", "--"])
COMPONENT = st.builds(lambda first, rest: first + "".join(s + a for s, a in rest),
                      ALNUM, st.lists(st.tuples(SEP, ALNUM), max_size=2))
DOMAIN = st.one_of(
    st.builds(lambda a, b, port: f"{a}.{b}" + (f":{port}" if port is not None else ""),
              ALNUM, st.sampled_from(["io", "example", "com"]), st.none() | st.integers(1, 65535)),
    st.builds(lambda port: f"localhost:{port}", st.integers(1, 65535)),
    st.just("localhost"),
)
TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
DIGEST = st.builds(lambda h: "sha256:" + h, st.text("0123456789abcdef", min_size=64, max_size=64))
ODD = st.lists(st.sampled_from(list("aZ09:/@._-+ \t\n\r\x00%?#[]üß١日\u200b\ufeff") + ["sha256:", "localhost", "//"]),
               max_size=30).map("".join)


def _check(text: str) -> Reference | None:
    try:
        ref = parse_reference(text)
    except InvalidArgument as exc:
        assert str(exc)
        return None
    for shown in (str(ref), ref.familiar()):
        assert _PRINTABLE.match(shown), f"{text!r} parsed to {shown!r}"
        assert parse_reference(shown) == ref
    assert len(ref.name) <= 255 + len("docker.io/library/")
    return ref


@settings(max_examples=400, deadline=None)
@given(st.one_of(ODD, st.text(max_size=60)))
def test_any_string_parses_or_is_refused(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None)
@given(domain=st.none() | DOMAIN, path=st.lists(COMPONENT, min_size=1, max_size=3),
       tag=st.none() | TAG, digest=st.none() | DIGEST)
def test_grammar_round_trip(domain: str | None, path: list[str], tag: str | None, digest: str | None) -> None:
    name = "/".join(path)
    # without a domain, a first component with a "." (or "localhost") is read as one, as by Docker
    assume(domain is not None or len(path) == 1 or ("." not in path[0] and path[0] != "localhost"))
    if domain is not None:
        name = f"{domain}/{name}"
    text = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if re.fullmatch(r"[a-f0-9]{64}", text):
        return  # a bare image id is refused on purpose
    ref = _check(text)
    if len(name) > 255:
        assert ref is None
        return
    assert ref is not None, text
    want_domain = domain if domain is not None else "docker.io"
    want_path = "/".join(path)
    if domain is None and len(path) == 1:
        want_path = "library/" + want_path
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (
        want_domain, want_path, tag if tag else (None if digest else "latest"), digest)


@pytest.mark.parametrize("text", [
    "busybox\n", "busybox:v1\n", "busybox:ü", "busybox:١", "bus\u200bybox", "busybox:\x00",
    "../busybox", "busybox/../../etc", "/busybox", "busybox:" + "t" * 129, "a" * 256,
    "sha256:" + "a" * 64 + "\n", "busybox@sha256:" + "a" * 63,
    "host:port/x", "BusyBox", "busybox::tag", "busybox@", "%2e%2e/x",
])
def test_odd_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid"):
        parse_reference(text)


@given(st.text(max_size=70))
@settings(max_examples=200, deadline=None)
def test_digest_and_name_validators_take_whole_strings(text: str) -> None:
    """``$`` in a Python regex also matches before a final newline: ``sha256:<hex>\\n`` once passed."""
    from kobako import ids
    from kobako.registry import _names

    hexd = "a" * 64
    for bad in (f"sha256:{hexd}\n", f"{hexd}\n"):
        assert not ids.is_digest(bad) and not ids.is_full_id(bad) and not _names.is_digest(bad)
    assert not _names.valid_name("repo\n") and not _names.TAG.match("v1\n")
    if ids.is_digest(text) or _names.is_digest(text):
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", text, re.ASCII)
    if _names.valid_name(text):
        assert _PRINTABLE.match(text) and text == text.lower()
