"""Containers as daemon-managed objects."""

from __future__ import annotations

from ._manager import ContainerManager, parse_signal
from ._record import Container

__all__ = ["Container", "ContainerManager", "parse_signal"]
