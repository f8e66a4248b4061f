"""Who may do what on the registry server: anonymous, htpasswd Basic, or Docker tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from kobako.registry._auth import (
    Access,
    Htpasswd,
    challenge,
    make_token,
    parse_basic,
    parse_bearer,
    parse_scope,
    token_allows,
    verify_token,
)
from kobako.registry._errors import RegistryError

BASIC_REALM = "kobako-registry"


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """``htpasswd`` alone: Basic auth. With ``token_realm``: Bearer tokens, which this registry
    issues itself at ``/token`` to users of ``htpasswd``. ``token_realm="self"`` means
    ``<scheme>://<Host header>/token``."""

    htpasswd: Htpasswd | None = None
    token_realm: str | None = None
    token_service: str = "kobako-registry"
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    scheme: str = "http"

    @property
    def enabled(self) -> bool:
        return self.htpasswd is not None or self.token_realm is not None

    def realm(self, host: str) -> str:
        if self.token_realm in (None, "", "self"):
            return f"{self.scheme}://{host}/token"
        return str(self.token_realm)

    def check(self, authorization: str | None, host: str, typ: str, name: str, action: str) -> None:
        """Return if allowed; else RegistryError UNAUTHORIZED carrying the challenge header."""
        if not self.enabled:
            return
        if self.token_realm is not None:
            token = parse_bearer(authorization)
            claims = verify_token(self.secret, token, service=self.token_service) if token else None
            if claims is not None and token_allows(claims, typ, name, action):
                return
            scope = f"{typ}:{name}:{action}"
            hdr = challenge("Bearer", realm=self.realm(host), service=self.token_service, scope=scope)
            if claims is not None:
                hdr += ',error="insufficient_scope"'
            raise _unauthorized(hdr, typ, name, action)
        creds = parse_basic(authorization)
        if creds is not None and self.htpasswd is not None and self.htpasswd.verify(*creds):
            return
        raise _unauthorized(challenge("Basic", realm=BASIC_REALM), typ, name, action)

    def issue(self, authorization: str | None, service: str, scopes: list[str], account: str | None) -> str:
        """The ``/token`` endpoint: a token granting what was asked, to a user with a valid password."""
        creds = parse_basic(authorization)
        if creds is None or self.htpasswd is None or not self.htpasswd.verify(*creds):
            err = RegistryError("UNAUTHORIZED", "incorrect username or password" if creds else "authentication required")
            err.headers = {"WWW-Authenticate": challenge("Basic", realm=BASIC_REALM)}
            raise err
        if service and service != self.token_service:
            raise RegistryError("DENIED", f"unknown service {service!r}")
        access: list[Access] = []
        for scope in scopes:
            access.extend(parse_scope(scope))
        return make_token(self.secret, subject=creds[0], service=self.token_service, access=access)


def _unauthorized(hdr: str, typ: str, name: str, action: str) -> RegistryError:
    err = RegistryError("UNAUTHORIZED", "authentication required",
                        [{"Type": typ, "Name": name, "Action": action}])
    err.headers = {"WWW-Authenticate": hdr}
    return err
