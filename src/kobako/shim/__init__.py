"""Per-container shims and the spawner that forks them (see docs/architecture.md)."""

from __future__ import annotations

from kobako.shim._protocol import ShimConfig, exit_path, pid_path, socket_path

__all__ = ["ShimConfig", "exit_path", "pid_path", "socket_path"]
