"""Registry authentication, both sides: Basic credentials, htpasswd files, the Docker token flow.

Token flow (distribution ``docs/spec/auth/token.md``)::

    client ── GET /v2/... ──────────────────────────► registry
           ◄─ 401 WWW-Authenticate: Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"
    client ── GET realm?service=reg&scope=...  (Basic user:password, or anonymous) ─► token server
           ◄─ {"token": "...", "access_token": "...", "expires_in": 300}
    client ── GET /v2/... Authorization: Bearer <token> ─► registry (checks signature, expiry, access)

kobako's token server is the registry itself (``/token``), and its tokens are HS256 JWTs signed
with a secret the registry holds (``--token-secret``), so there is no key pair to distribute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import InvalidArgument

_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


# -- headers ---------------------------------------------------------------------------------
def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic base64(user:password)`` → (user, password); None if absent or not Basic."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="…"`` → ("bearer", {...}). Parameter names are lowercased."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _CHALLENGE_PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return scheme.lower(), params


def challenge(scheme: str, **params: str) -> str:
    return scheme + " " + ",".join(f'{k}="{v}"' for k, v in params.items() if v)


# -- scopes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Access:
    type: str  # "repository" | "registry"
    name: str  # repository name, or "catalog"
    actions: frozenset[str] = field(default_factory=frozenset)

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(scope: str) -> list[Access]:
    """``repository:a/b:pull,push repository:c:pull`` → Accesses (a name may hold a port's colon)."""
    out: list[Access] = []
    for item in scope.split():
        head, _, actions = item.rpartition(":")
        typ, _, name = head.partition(":")
        if not typ or not name:
            raise InvalidArgument(f"invalid scope: {item!r}")
        out.append(Access(typ, name, frozenset(a for a in actions.split(",") if a)))
    return out


# -- htpasswd --------------------------------------------------------------------------------
class Htpasswd:
    """Users from an Apache htpasswd file.

    Docker's reference registry accepts only bcrypt (``$2y$``) entries; kobako also accepts
    ``{SHA}`` (base64 SHA-1) and, failing any known prefix, the plain password, so tests need no
    bcrypt module. bcrypt entries need the ``bcrypt`` package (an error names it when missing).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.users: dict[str, str] = {}
        for line in self.path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep:
                raise InvalidArgument(f"{self.path}: malformed htpasswd line for {user!r}")
            self.users[user] = hashed

    def verify(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            # same work for unknown users, so timing does not tell who exists
            hmac.compare_digest(hashlib.sha1(password.encode()).digest(), b"\0" * 20)
            return False
        return check_password(hashed, password)


def check_password(hashed: str, password: str) -> bool:
    if hashed.startswith("{SHA}"):
        want = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        return hmac.compare_digest(hashed[5:], want)
    if hashed.startswith(("$2y$", "$2a$", "$2b$")):
        try:
            import bcrypt  # type: ignore[import-not-found]
        except ImportError:
            raise InvalidArgument("bcrypt htpasswd entries need the 'bcrypt' Python package") from None
        return bool(bcrypt.checkpw(password.encode(), hashed.replace("$2y$", "$2b$", 1).encode()))
    if hashed.startswith(("$apr1$", "$1$", "$5$", "$6$")):
        raise InvalidArgument(f"unsupported htpasswd hash {hashed.split('$')[1]!r}: use bcrypt or {{SHA}}")
    return hmac.compare_digest(hashed.encode(), password.encode())


def sha_entry(user: str, password: str) -> str:
    """An htpasswd line in the ``{SHA}`` format (``htpasswd -s``)."""
    return f"{user}:{{SHA}}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()


# -- tokens (HS256 JWT) ------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, *, subject: str, service: str, access: list[Access], ttl: int = 300,
               issuer: str = "kobako-registry") -> str:
    now = int(time.time())
    claims = {
        "iss": issuer, "sub": subject, "aud": service, "iat": now, "nbf": now - 5, "exp": now + ttl,
        "access": [{"type": a.type, "name": a.name, "actions": sorted(a.actions)} for a in access],
    }
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def verify_token(secret: bytes, token: str, *, service: str) -> dict[str, Any] | None:
    """The token's claims when its signature, audience and lifetime are right, else None."""
    try:
        head, body, sig = token.split(".")
        want = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(sig), want):
            return None
        if json.loads(_unb64(head)).get("alg") != "HS256":
            return None
        claims: dict[str, Any] = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    now = time.time()
    if claims.get("aud") != service or not (claims.get("nbf", 0) <= now < claims.get("exp", 0)):
        return None
    return claims


def token_allows(claims: dict[str, Any], typ: str, name: str, action: str) -> bool:
    for grant in claims.get("access") or []:
        if grant.get("type") == typ and grant.get("name") == name and action in (grant.get("actions") or []):
            return True
        if grant.get("type") == typ and grant.get("name") == name and "*" in (grant.get("actions") or []):
            return True
    return False
