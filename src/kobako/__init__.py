"""kobako: a small container engine that speaks the Docker Engine API."""

from __future__ import annotations

__version__ = "0.1.0"
API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
