"""Restart policies, as moby's ``restartmanager`` decides them.

One ``RestartManager`` per container lives in memory from a start until the next manual start
(or a daemon restart, which makes a fresh one from the persisted ``RestartCount``)::

    rm = RestartManager(policy, restart_count)
    delay = rm.should_restart(exit_code, manually_stopped, ran_for)   # seconds, or None: stay exited
    ...                                                                 # state "restarting" meanwhile
    rm.cancel()                                                         # stop/kill: never again

The back-off starts at 100 ms, doubles on every restart up to one minute, and drops back to
100 ms once the container has run for 10 seconds.  ``on-failure[:N]`` restarts only a non-zero
exit, at most N times (0: without limit); ``unless-stopped`` not after a manual stop;
``always`` always (a stop or kill cancels the manager, so it too stays down until started).
"""

from __future__ import annotations

from typing import Any

from kobako.errors import InvalidArgument

BACKOFF_MULTIPLIER = 2
DEFAULT_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0
POLICIES = ("no", "always", "unless-stopped", "on-failure")


def validate_policy(policy: Any) -> dict[str, Any]:
    """HostConfig.RestartPolicy, checked as moby ``ValidateRestartPolicy`` does; returns it normalised."""
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise InvalidArgument("invalid restart policy: must be an object")
    name = policy.get("Name") or ""
    try:
        count = int(policy.get("MaximumRetryCount") or 0)
    except (TypeError, ValueError):
        raise InvalidArgument("invalid restart policy: maximum retry count must be a number") from None
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidArgument(msg + (" and cannot be negative" if count < 0 else ""))
    elif name == "on-failure":
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif name != "":
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', "
            "or 'unless-stopped'"
        )
    return {"Name": name or "no", "MaximumRetryCount": count}


def is_none(policy: dict[str, Any] | None) -> bool:
    return not policy or (policy.get("Name") or "no") == "no"


class RestartManager:
    def __init__(self, policy: dict[str, Any] | None, restart_count: int = 0) -> None:
        self.policy = dict(policy or {})
        self.restart_count = restart_count
        self.delay = 0.0
        self.canceled = False

    def set_policy(self, policy: dict[str, Any]) -> None:
        self.policy = dict(policy)

    def should_restart(self, exit_code: int, manually_stopped: bool, ran_for: float) -> float | None:
        """The delay before the next start, or None when the container stays exited."""
        name = self.policy.get("Name") or "no"
        if name == "no" or self.canceled:
            return None
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        self.delay = DEFAULT_DELAY if self.delay == 0 else min(self.delay * BACKOFF_MULTIPLIER, MAX_DELAY)
        if name == "always":
            restart = True
        elif name == "unless-stopped":
            restart = not manually_stopped
        elif name == "on-failure":
            limit = int(self.policy.get("MaximumRetryCount") or 0)
            restart = exit_code != 0 and (limit == 0 or self.restart_count < limit)
        else:
            restart = False
        if not restart:
            return None
        self.restart_count += 1
        return self.delay

    def cancel(self) -> None:
        self.canceled = True
