"""``search``: the registry V1 search API, both sides.

Client (``GET /images/search?term=&limit=&filters=`` in kobakod, as moby's registry service):
the term names the index (``127.0.0.1:5000/busy`` → that registry, ``busy`` → Docker Hub's
index.docker.io), the daemon asks ``GET /v1/search?q=<rest>&n=<limit>`` and filters the results
(``is-official``, ``stars``; ``is-automated=true`` matches nothing, the field is always false now).
A registry without the API (a plain distribution registry answers 404) is an ``Unsupported`` error
that says so.

Server (``kobako registry serve``): ``/v1/search`` over the catalog — repositories whose name
contains the query (case-insensitive), with a description from the newest tag's manifest
annotation or image label ``org.opencontainers.image.description``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from kobako.errors import InvalidArgument, KobakoError, Unsupported
from kobako.registry._client import Credentials, DistributionClient

if TYPE_CHECKING:
    from kobako.registry._storage import RegistryStorage

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
HUB_INDEX = "index.docker.io"
DESCRIPTION_KEY = "org.opencontainers.image.description"
_FILTERS = ("is-automated", "is-official", "stars")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def split_term(term: str) -> tuple[str, str]:
    """(index, remote term): a first component with a dot, a colon or ``localhost`` names a
    registry; anything else searches Docker Hub."""
    first, sep, rest = term.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        return "docker.io", term
    return first, rest


def _bool_filter(filters: dict[str, list[str]], key: str) -> bool | None:
    values = filters.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument(f"invalid filter '{key}': only one value is allowed")
    if values[0] in _TRUE:
        return True
    if values[0] in _FALSE:
        return False
    raise InvalidArgument(f"invalid filter '{key}={values[0]}'")


def check_query(term: str, limit: int | None, filters: dict[str, list[str]]) -> tuple[int, bool | None, int | None, bool]:
    """Validate before any request: (limit, is-official, min stars, is-automated wanted)."""
    for key in filters:
        if key not in _FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    if not term.strip():
        raise InvalidArgument("a search term is required")
    if "://" in term:
        raise InvalidArgument(f"invalid repository name: repository name ({term}) should not have a scheme")
    n = DEFAULT_LIMIT if not limit else limit
    if n < 1 or n > MAX_LIMIT:
        raise InvalidArgument(f"limit {n} is outside the range of [1, {MAX_LIMIT}]")
    stars = None
    for v in filters.get("stars", []):
        try:
            stars = max(stars or 0, int(v))
        except ValueError:
            raise InvalidArgument(f"invalid filter 'stars={v}'") from None
    return n, _bool_filter(filters, "is-official"), stars, bool(_bool_filter(filters, "is-automated"))


def search(term: str, limit: int | None = None, filters: dict[str, list[str]] | None = None,
           creds: Credentials | None = None, *, insecure: Iterable[str] = ()) -> list[dict[str, Any]]:
    """moby's ``SearchImages``: Docker's ``[{name, description, star_count, is_official, is_automated}]``."""
    filters = filters or {}
    n, official, stars, automated = check_query(term, limit, filters)
    index, remote = split_term(term)
    if index == "docker.io":
        remote = remote.removeprefix("library/")
    client = DistributionClient(index, creds, insecure=insecure, timeout=30)
    if index == "docker.io":
        client.host = HUB_INDEX  # Hub's V1 search lives on the index, not registry-1
    path = "/v1/search?" + urlencode({"q": remote, "n": str(n)})
    try:
        resp = client.request("GET", path, scope="registry:catalog:*", headers={"X-Docker-Token": "true"},
                              ok=(404, 405, 501))
    except KobakoError as exc:
        raise type(exc)(f"searching {index}: {exc}") from None
    finally:
        client.close()
    if resp.status in (404, 405, 501):
        raise Unsupported(f"registry {index} does not support search: GET /v1/search answered {resp.status} "
                          "(the V1 search API is served by Docker Hub and some registries, e.g. "
                          "`kobako registry serve`; the OCI distribution API has none)")
    try:
        doc = json.loads(resp.body)
        results = doc["results"] if isinstance(doc, dict) else None
        if not isinstance(results, list):
            raise ValueError("no results list")
    except (ValueError, KeyError) as exc:
        raise InvalidArgument(f"registry {index} sent invalid search results: {exc}") from None
    if automated:
        return []
    out: list[dict[str, Any]] = []
    for r in results:
        if not isinstance(r, dict):
            continue
        item = {"star_count": int(r.get("star_count") or 0), "is_official": bool(r.get("is_official")),
                "name": str(r.get("name") or ""), "is_automated": False,
                "description": str(r.get("description") or "")}
        if official is not None and item["is_official"] != official:
            continue
        if stars is not None and item["star_count"] < stars:
            continue
        out.append(item)
    return out


# -- the registry's side ------------------------------------------------------------------------------
def catalog_search(storage: RegistryStorage, query: str, n: int | None, page: int | None) -> dict[str, Any]:
    """``GET /v1/search?q=&n=&page=`` over the catalog, in the V1 API's shape."""
    size = DEFAULT_LIMIT if not n else max(1, min(n, MAX_LIMIT))
    page = max(1, page or 1)
    q = query.strip().lower()
    names = [name for name in storage.catalog() if q in name.lower()]
    chosen = names[(page - 1) * size: page * size]
    results = [{"name": name, "description": _description(storage, name), "star_count": 0,
                "is_official": False, "is_automated": False, "is_trusted": False} for name in chosen]
    return {"num_results": len(names), "num_pages": max(1, -(-len(names) // size)), "page": page,
            "page_size": size, "query": query, "results": results}


def _description(storage: RegistryStorage, name: str) -> str:
    """From the ``latest`` tag (else the last tag): manifest annotation, else image config label."""
    try:
        tags = storage.tags(name)
        if not tags:
            return ""
        tag = "latest" if "latest" in tags else tags[-1]
        _digest, _media, data = storage.manifest(name, tag)
        doc = json.loads(data)
        text = (doc.get("annotations") or {}).get(DESCRIPTION_KEY)
        if not text and isinstance(doc.get("config"), dict) and storage.blobs.has(str(doc["config"].get("digest"))):
            config = json.loads(storage.blobs.read(doc["config"]["digest"]))
            text = ((config.get("config") or {}).get("Labels") or {}).get(DESCRIPTION_KEY)
        return str(text or "")
    except (KobakoError, OSError, ValueError, AttributeError, TypeError):
        return ""
