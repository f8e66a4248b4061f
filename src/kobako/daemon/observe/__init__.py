"""Observation: events, stats, top, diff, sizes, container prune and system df."""

from __future__ import annotations

from ._observer import Observer

__all__ = ["Observer"]
