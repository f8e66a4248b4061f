"""Pure logic of the registry: auth headers and challenges, tokens, htpasswd, ranges, pagination,
platform selection, X-Registry-Auth, and the storage's checks (on a temp dir)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from kobako.errors import InvalidArgument, NotFound
from kobako.registry._auth import (
    Access,
    Htpasswd,
    basic_header,
    check_password,
    make_token,
    parse_basic,
    parse_bearer,
    parse_challenge,
    parse_scope,
    sha_entry,
    token_allows,
    verify_token,
)
from kobako.registry._client import _error_text, decode_registry_auth, is_loopback_host, registry_host
from kobako.registry._errors import RegistryError
from kobako.registry._paging import link_header, paginate, parse_content_range, parse_range, upload_range
from kobako.registry._platform import Platform, parse_platform, select_manifest
from kobako.registry._storage import RegistryStorage


def test_basic_and_bearer_headers() -> None:
    assert parse_basic(basic_header("u", "p:w")) == ("u", "p:w")
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Bearer x") is None
    assert parse_basic(None) is None
    assert parse_bearer("Bearer abc") == "abc"
    assert parse_bearer("Basic abc") is None


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x y"') == ("basic", {"realm": "x y"})
    assert parse_challenge('Bearer realm=unquoted, error="insufficient_scope"')[1] == {
        "realm": "unquoted", "error": "insufficient_scope"}


def test_scopes() -> None:
    assert parse_scope("repository:host:5000/a:pull,push registry:catalog:*") == [
        Access("repository", "host:5000/a", frozenset({"pull", "push"})),
        Access("registry", "catalog", frozenset({"*"}))]
    with pytest.raises(InvalidArgument):
        parse_scope("nonsense")


def test_tokens() -> None:
    secret = b"k" * 32
    tok = make_token(secret, subject="alice", service="svc", access=parse_scope("repository:a:pull"))
    claims = verify_token(secret, tok, service="svc")
    assert claims is not None and claims["sub"] == "alice"
    assert token_allows(claims, "repository", "a", "pull")
    assert not token_allows(claims, "repository", "a", "push")
    assert not token_allows(claims, "repository", "b", "pull")
    assert verify_token(b"other" * 8, tok, service="svc") is None
    assert verify_token(secret, tok, service="other") is None
    assert verify_token(secret, tok + "x", service="svc") is None
    expired = make_token(secret, subject="a", service="svc", access=[], ttl=-100)
    assert verify_token(secret, expired, service="svc") is None


def test_htpasswd(tmp_path: Path) -> None:
    f = tmp_path / "htpasswd"
    f.write_text(sha_entry("alice", "pw") + "\n# comment\nbob:plain\n")
    h = Htpasswd(f)
    assert h.verify("alice", "pw") and not h.verify("alice", "PW")
    assert h.verify("bob", "plain") and not h.verify("carol", "plain")
    with pytest.raises(InvalidArgument):
        check_password("$apr1$abc$def", "x")


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-3", 10) == (0, 3)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-4", 10) == (6, 9)
    assert parse_range("bytes=8-100", 10) == (8, 9)
    assert parse_range("bytes=0-1,4-5", 10) is None  # multiple ranges: whole blob
    for bad in ("bytes=10-", "bytes=5-2"):
        with pytest.raises(RegistryError) as e:
            parse_range(bad, 10)
        assert e.value.status == 416
    assert parse_content_range("0-99") == (0, 99)
    assert parse_content_range("bytes 100-199/*") == (100, 199)
    with pytest.raises(RegistryError):
        parse_content_range("9-3")
    assert upload_range(0) == "0-0" and upload_range(100) == "0-99"


def test_pagination() -> None:
    items = ["a", "b", "c", "d"]
    assert paginate(items, None, None) == (items, None)
    assert paginate(items, 2, None) == (["a", "b"], "b")
    assert paginate(items, 2, "b") == (["c", "d"], None)
    assert paginate(items, 10, "a") == (["b", "c", "d"], None)
    with pytest.raises(RegistryError):
        paginate(items, -1, None)
    assert link_header("/v2/_catalog", 2, "a/b") == '</v2/_catalog?n=2&last=a%2Fb>; rel="next"'


def test_platform_selection() -> None:
    index = {"manifests": [
        {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": "sha256:v7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "sha256:arm64", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    ]}
    assert select_manifest(index, Platform("linux", "amd64"))["digest"] == "sha256:amd"
    assert select_manifest(index, parse_platform("linux/arm/v7"))["digest"] == "sha256:v7"
    assert select_manifest(index, parse_platform("arm64"))["digest"] == "sha256:arm64"
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        select_manifest(index, parse_platform("linux/s390x"))
    with pytest.raises(InvalidArgument):
        parse_platform("a/b/c/d")


def test_registry_auth_header_and_hosts() -> None:
    raw = json.dumps({"username": "u", "password": "p", "serveraddress": "h"}).encode()
    assert decode_registry_auth(base64.urlsafe_b64encode(raw).decode().rstrip("=")).username == "u"
    assert decode_registry_auth("e30=").anonymous
    assert decode_registry_auth(None).anonymous
    with pytest.raises(InvalidArgument):
        decode_registry_auth("%%%")
    assert is_loopback_host("127.0.0.1:5000") and is_loopback_host("localhost") and is_loopback_host("[::1]:5000")
    assert not is_loopback_host("registry.example.com:5000")
    assert registry_host("docker.io") == "registry-1.docker.io"
    assert _error_text(b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}') == \
        "manifest unknown: manifest unknown"


def test_storage_rejects_bad_names_and_missing_blobs(tmp_path: Path) -> None:
    s = RegistryStorage(tmp_path)
    with pytest.raises(RegistryError) as e:
        s.repo("Upper/Case")
    assert e.value.code == "NAME_INVALID"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"digest": "sha256:" + "a" * 64, "size": 1}, "layers": []}).encode()
    with pytest.raises(RegistryError) as e:
        s.put_manifest("r", "v1", manifest, "")
    assert e.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert s.blobs.list() == [] and s.catalog() == []


# -- search ------------------------------------------------------------------------------------------------
def test_search_term_names_the_index_as_moby_does() -> None:
    from kobako.registry._search import split_term

    assert split_term("busybox") == ("docker.io", "busybox")
    assert split_term("library/busybox") == ("docker.io", "library/busybox")
    assert split_term("127.0.0.1:5000/team/web") == ("127.0.0.1:5000", "team/web")
    assert split_term("localhost/x") == ("localhost", "x")
    assert split_term("registry.example/x") == ("registry.example", "x")
    assert split_term("127.0.0.1:5000/") == ("127.0.0.1:5000", "")


@pytest.mark.parametrize(("term", "limit", "filters", "message"), [
    ("x", 0, {}, None),
    ("x", 100, {"is-official": ["1"], "stars": ["3", "7"]}, None),
    ("x", 101, {}, "limit 101 is outside the range of [1, 100]"),
    ("x", -1, {}, "limit -1 is outside"),
    ("x", None, {"label": ["a"]}, "invalid filter 'label'"),
    ("x", None, {"is-official": ["maybe"]}, "invalid filter 'is-official=maybe'"),
    ("x", None, {"is-official": ["true", "false"]}, "only one value"),
    ("x", None, {"stars": ["many"]}, "invalid filter 'stars=many'"),
    ("https://h/x", None, {}, "should not have a scheme"),
    ("  ", None, {}, "a search term is required"),
])
def test_search_query_checks(term: str, limit: int | None, filters: dict[str, list[str]],
                             message: str | None) -> None:
    from kobako.errors import InvalidArgument
    from kobako.registry._search import check_query

    if message is None:
        n, official, stars, automated = check_query(term, limit, filters)
        assert n == (limit or 25) and automated is False
        assert (official, stars) == ((True, 7) if filters else (None, None))
        return
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        check_query(term, limit, filters)


def test_search_cli_rows_are_dockers() -> None:
    from kobako.cli._format import format_rows
    from kobako.cli.commands.search import COLUMNS, rows

    results = [{"name": "a/b", "description": "line one\nline two " + "x" * 60, "star_count": 12,
                "is_official": True, "is_automated": False}]
    table = rows(results, trunc=True, as_json=False)
    assert table[0]["Description"] == ("line one line two " + "x" * 60)[:44] + "…"
    assert (table[0]["StarCount"], table[0]["IsOfficial"], table[0]["IsAutomated"]) == ("12", "[OK]", "")
    assert rows(results, trunc=False, as_json=True)[0]["Description"].endswith("x" * 60)
    assert rows(results, trunc=False, as_json=True)[0]["IsOfficial"] == "true"
    text = format_rows(None, table, COLUMNS).splitlines()
    assert text[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert text[1].startswith("a/b") and text[1].rstrip().endswith("12        [OK]")
