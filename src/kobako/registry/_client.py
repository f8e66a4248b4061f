"""The distribution client kobakod pulls and pushes with: stdlib ``http.client`` in threads.

``DistributionClient(domain, creds, insecure=...)`` talks to one registry for one or more
repositories. ``request()`` answers an auth challenge once per scope and retries:

    401 WWW-Authenticate: Bearer realm,service,scope → GET realm (Basic creds if any) → token
    401 WWW-Authenticate: Basic                       → Authorization: Basic creds

Transport, as Docker does: HTTPS with verification, except for loopback registries and those
named ``--insecure-registry``, which try HTTPS without verification and fall back to plain HTTP.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

from kobako.errors import InvalidArgument, KobakoError, Unauthorized, Unavailable
from kobako.registry._auth import basic_header, parse_challenge
from kobako.registry._errors import kind_for

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
BLOCK = 1024 * 1024
MAX_RESPONSE = 16 << 20  # non-streamed bodies (manifests, tokens, errors, tag lists)
_SCHEMES: dict[str, str] = {}  # host -> "https" | "http", learnt once per process
_SCHEMES_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    identitytoken: str = ""
    registrytoken: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.identitytoken or self.registrytoken)


def decode_registry_auth(header: str | None) -> Credentials:
    """``X-Registry-Auth``: base64url JSON ``{username, password, serveraddress, identitytoken}``."""
    if not header or not header.strip():
        return Credentials()
    text = header.strip()
    try:
        std = text.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
        obj = json.loads(raw) if raw.strip() else {}
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid X-Registry-Auth header: not base64url-encoded JSON") from None
    if not isinstance(obj, dict):
        return Credentials()
    return Credentials(str(obj.get("username") or ""), str(obj.get("password") or ""),
                       str(obj.get("identitytoken") or ""), str(obj.get("registrytoken") or ""))


def is_loopback_host(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_host(domain: str) -> str:
    return DOCKER_HUB_HOST if domain in (DOCKER_HUB, "index.docker.io") else domain


class Response:
    """A response with its body read, or ``stream`` left open for the caller to read."""

    def __init__(self, resp: http.client.HTTPResponse, body: bytes | None) -> None:
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.body = body if body is not None else b""
        self.stream = resp if body is None else None

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


class DistributionClient:
    def __init__(self, domain: str, creds: Credentials | None = None, *, insecure: Iterable[str] = (),
                 timeout: float = 120) -> None:
        self.domain = domain
        self.host = registry_host(domain)
        self.creds = creds or Credentials()
        self.insecure = is_loopback_host(self.host) or self.host in set(insecure) or domain in set(insecure)
        self.timeout = timeout
        self._local = threading.local()
        self._auth: dict[str, str] = {}  # scope -> Authorization value
        self._lock = threading.Lock()

    # -- transport ----------------------------------------------------------------------------
    def _scheme(self) -> str:
        if not self.insecure:
            return "https"
        with _SCHEMES_LOCK:
            known = _SCHEMES.get(self.host)
        if known:
            return known
        try:
            conn = self._new_conn("https")
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            conn.close()
            scheme = "https"
        except (ssl.SSLError, ConnectionResetError, http.client.HTTPException):
            scheme = "http"
        except OSError as exc:
            raise Unavailable(f'Get "https://{self.host}/v2/": {exc}') from None
        with _SCHEMES_LOCK:
            _SCHEMES[self.host] = scheme
        return scheme

    def _new_conn(self, scheme: str, host: str | None = None) -> http.client.HTTPConnection:
        host = host or self.host
        if scheme == "https":
            ctx = ssl.create_default_context()
            if self.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(host, timeout=self.timeout, context=ctx, blocksize=BLOCK)
        return http.client.HTTPConnection(host, timeout=self.timeout, blocksize=BLOCK)

    def _conn(self) -> tuple[str, http.client.HTTPConnection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            scheme = self._scheme()
            conn = self._new_conn(scheme)
            self._local.conn = conn
            self._local.scheme = scheme
        return self._local.scheme, conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def url(self, path: str) -> str:
        return f"{self._scheme()}://{self.host}{path}"

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes | IO[bytes] | None,
              stream: bool) -> Response:
        for attempt in (0, 1):
            scheme, conn = self._conn()
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # type: ignore[union-attr]
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                if stream and resp.status < 300:
                    return Response(resp, None)
                data = resp.read(MAX_RESPONSE + 1)
                if len(data) > MAX_RESPONSE:  # a registry cannot make us hold more than this in memory
                    self._drop_conn()
                    raise InvalidArgument(f'{method} "{scheme}://{self.host}{path}": response larger than '
                                          f"{MAX_RESPONSE} bytes")
                if resp.will_close:
                    self._drop_conn()
                return Response(resp, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop_conn()
                if attempt or (body is not None and not isinstance(body, bytes) and not hasattr(body, "seek")):
                    raise Unavailable(f'{method} "{scheme}://{self.host}{path}": {exc}') from None
            except OSError as exc:
                self._drop_conn()
                raise Unavailable(f'{method} "{scheme}://{self.host}{path}": {exc}') from None
        raise AssertionError("unreachable")

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scope: str = "", headers: dict[str, str] | None = None,
                body: bytes | IO[bytes] | None = None, stream: bool = False, ok: tuple[int, ...] = ()) -> Response:
        """Send with auth for ``scope``; raise the registry's error unless 2xx/3xx or in ``ok``."""
        hdrs = {"User-Agent": "kobako", **(headers or {})}
        if isinstance(body, bytes):
            hdrs.setdefault("Content-Length", str(len(body)))
        auth = self._auth.get(scope)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(method, path, hdrs, body, stream)
        if resp.status == 401 and self._authenticate(resp, scope, had_auth=bool(auth)):
            hdrs["Authorization"] = self._auth[scope]
            resp = self._send(method, path, hdrs, body, stream)
        if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
            return self._follow(method, path, resp, stream)
        if resp.status >= 400 and resp.status not in ok:
            raise self.error(resp, method, path)
        return resp

    def _follow(self, method: str, path: str, resp: Response, stream: bool) -> Response:
        """A blob redirected to storage: fetch it without our credentials."""
        location = urljoin(f"{self._local.scheme}://{self.host}{path}", resp.header("location"))
        parts = urlsplit(location)
        conn = self._new_conn(parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, headers={"User-Agent": "kobako"})
            r = conn.getresponse()
        except OSError as exc:
            raise Unavailable(f'{method} "{location}": {exc}') from None
        if r.status >= 400:
            data = r.read()
            conn.close()
            raise kind_for(r.status)(f"{method} {location}: HTTP {r.status}: {data[:200]!r}")
        if stream:
            return Response(r, None)
        out = Response(r, r.read())
        conn.close()
        return out

    def _authenticate(self, resp: Response, scope: str, had_auth: bool) -> bool:
        if had_auth:
            return False
        hdr = resp.header("www-authenticate")
        if not hdr:
            return False
        scheme, params = parse_challenge(hdr)
        if scheme == "basic":
            if self.creds.anonymous:
                return False
            self._auth[scope] = basic_header(self.creds.username, self.creds.password)
            return True
        if scheme == "bearer" and params.get("realm"):
            if self.creds.registrytoken:
                self._auth[scope] = f"Bearer {self.creds.registrytoken}"
                return True
            self._auth[scope] = f"Bearer {self._token(params, scope)}"
            return True
        return False

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params["realm"]
        query = [("service", params["service"])] if params.get("service") else []
        for s in (scope or params.get("scope", "")).split():
            query.append(("scope", s))
        if self.creds.username:
            query.append(("account", self.creds.username))
        parts = urlsplit(realm)
        if parts.scheme == "http" and not (self.insecure or is_loopback_host(parts.netloc)):
            raise Unauthorized(f"refusing to send credentials to a plain-HTTP token realm {realm}")
        conn = self._new_conn(parts.scheme or "https", parts.netloc)
        headers = {"User-Agent": "kobako"}
        if self.creds.username:
            headers["Authorization"] = basic_header(self.creds.username, self.creds.password)
        target = (parts.path or "/") + "?" + urlencode(query) if query else (parts.path or "/")
        try:
            conn.request("GET", target, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except OSError as exc:
            raise Unavailable(f'Get "{realm}": {exc}') from None
        finally:
            conn.close()
        if r.status == 401:
            raise Unauthorized("unauthorized: incorrect username or password")
        if r.status >= 400:
            raise kind_for(r.status)(f"token server {realm}: HTTP {r.status}: {_error_text(data)}")
        try:
            obj = json.loads(data)
            return str(obj.get("token") or obj["access_token"])
        except (ValueError, KeyError, TypeError):
            raise Unauthorized(f"token server {realm} gave no token") from None

    def error(self, resp: Response, method: str, path: str) -> KobakoError:
        text = _error_text(resp.body) or f"HTTP {resp.status}"
        if resp.status == 401:
            return Unauthorized(f"unauthorized: {text.removeprefix('unauthorized: ')}")
        return kind_for(resp.status)(text)

    def close(self) -> None:
        self._drop_conn()


def _error_text(body: bytes) -> str:
    """``{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`` → ``manifest unknown: manifest unknown``."""
    try:
        obj = json.loads(body)
        errs = obj.get("errors") if isinstance(obj, dict) else None
    except ValueError:
        errs = None
    if not errs:
        return body.decode("utf-8", "replace").strip()[:300]
    parts = []
    for e in errs:
        code = str(e.get("code", "UNKNOWN")).lower().replace("_", " ")
        parts.append(f"{code}: {e.get('message', '')}")
    return "; ".join(parts)


def login(domain: str, creds: Credentials, insecure: Iterable[str] = ()) -> dict[str, str]:
    """``POST /auth``: check the credentials against the registry's ``/v2/``."""
    client = DistributionClient(domain, creds, insecure=insecure, timeout=30)
    try:
        resp = client.request("GET", "/v2/", ok=(401,))
        if resp.status == 401:
            if creds.anonymous:
                raise Unauthorized("unauthorized: authentication required")
            raise Unauthorized("login attempt failed with status: 401 Unauthorized")
    finally:
        client.close()
    return {"Status": "Login Succeeded", "IdentityToken": ""}


def json_body(resp: Response) -> dict[str, Any]:
    try:
        obj = json.loads(resp.body)
    except ValueError as exc:
        raise InvalidArgument(f"registry sent invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("registry sent JSON that is not an object")
    return obj
