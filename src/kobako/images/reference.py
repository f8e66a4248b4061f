"""Docker image references (the distribution/reference grammar and Docker's normalisation).

::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]       (a first component with "." or ":", or "localhost")
    path-component := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex

``busybox`` normalises to ``docker.io/library/busybox:latest``; its familiar form is
``busybox:latest``. Error messages are Docker's, since the docker CLI prints them as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kobako.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"  # ASCII \w, as Go's RE2 (patterns compiled with re.ASCII; \Z, not $,
# which would accept a trailing newline)
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?\Z", re.ASCII)
_ANCHORED_DOMAIN = re.compile(rf"^{_DOMAIN}\Z", re.ASCII)
_ANCHORED_TAG = re.compile(rf"^{_TAG}\Z", re.ASCII)
_HEX64 = re.compile(r"^[a-f0-9]{64}\Z")
_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}\Z")


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised reference: ``domain``/``path`` with an optional tag and digest."""

    domain: str
    path: str
    tag: str | None = DEFAULT_TAG
    digest: str | None = None

    @property
    def name(self) -> str:
        """``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """``busybox``, ``user/app``, ``localhost:5000/a/b``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.name

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def familiar(self) -> str:
        """``busybox:latest``: what ``docker images`` shows."""
        return self.familiar_name + self._suffix()

    def __str__(self) -> str:
        return self.name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        if not _ANCHORED_TAG.match(tag):
            raise InvalidArgument("invalid tag format")
        return Reference(self.domain, self.path, tag, None)


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i]
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(s: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise like Docker's ``ParseNormalizedNamed`` (+ ``TagNameOnly``).

    Without a tag or digest the tag is ``latest`` unless ``default_tag=False``.
    """
    if _HEX64.match(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    if not s:
        raise InvalidArgument("invalid reference format")
    name_part = s.split("@", 1)[0]
    # a tag's ":" is the last one after the last "/" (a domain port has a "/" after it)
    colon = name_part.rfind(":")
    bare = name_part[:colon] if colon > name_part.rfind("/") else name_part
    domain, remainder = _split_domain(bare)
    if remainder.lower() != remainder:
        raise InvalidArgument(f"invalid reference format: repository name ({remainder}) must be lowercase")
    if not _ANCHORED_DOMAIN.match(domain):
        raise InvalidArgument("invalid reference format")
    full = f"{domain}/{remainder}" + s[len(bare) :]
    m = _REFERENCE.match(full)
    if m is None:
        raise InvalidArgument("invalid reference format")
    if len(m.group(1)) > NAME_TOTAL_MAX:
        raise InvalidArgument(f"invalid reference format: repository name must not be more than {NAME_TOTAL_MAX} characters")
    tag, digest = m.group(2), m.group(3)
    if digest is not None and digest.startswith("sha256:") and not _SHA256.match(digest):
        raise InvalidArgument("invalid reference format")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, remainder, tag, digest)


def is_image_id(s: str) -> bool:
    """A full image id: 64 hex, with or without ``sha256:``."""
    return bool(_HEX64.match(s) or _SHA256.match(s))
