"""Identifiers: 64-hex ids (12 when shortened) and sha256 digests."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NewType

Digest = NewType("Digest", str)

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def new_id() -> str:
    return secrets.token_hex(32)


def short(id_: str) -> str:
    return id_.removeprefix("sha256:")[:12]


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def is_digest(s: str) -> bool:
    return bool(_DIGEST.match(s))


def is_full_id(s: str) -> bool:
    return bool(_HEX64.match(s))
