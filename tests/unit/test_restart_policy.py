"""The restart manager's decisions and back-off, as moby restartmanager (no kernel needed)."""

from __future__ import annotations

import pytest

from kobako.daemon.containers._restart import RestartManager, validate_policy
from kobako.errors import InvalidArgument


def test_backoff_doubles_caps_and_resets() -> None:
    rm = RestartManager({"Name": "always"})
    delays = [rm.should_restart(1, False, 0.5) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0 and max(d for d in delays if d) == 60.0
    assert rm.should_restart(1, False, 10.0) == 0.1  # ran ≥ 10 s: back to 100 ms
    assert rm.restart_count == 13


@pytest.mark.parametrize(
    ("policy", "code", "manual", "count", "restart"),
    [
        ({"Name": "no"}, 1, False, 0, False),
        ({"Name": "always"}, 0, True, 0, True),
        ({"Name": "unless-stopped"}, 0, False, 0, True),
        ({"Name": "unless-stopped"}, 1, True, 0, False),
        ({"Name": "on-failure"}, 0, False, 0, False),
        ({"Name": "on-failure"}, 2, False, 99, True),
        ({"Name": "on-failure", "MaximumRetryCount": 2}, 2, False, 1, True),
        ({"Name": "on-failure", "MaximumRetryCount": 2}, 2, False, 2, False),
    ],
)
def test_policies(policy: dict[str, object], code: int, manual: bool, count: int, restart: bool) -> None:
    rm = RestartManager(policy, count)
    assert (rm.should_restart(code, manual, 1.0) is not None) is restart


def test_cancel_wins() -> None:
    rm = RestartManager({"Name": "always"})
    rm.cancel()
    assert rm.should_restart(1, False, 1.0) is None


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"Name": "always", "MaximumRetryCount": 2},
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        ({"Name": "no", "MaximumRetryCount": -1},
         "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"),
        ({"Name": "on-failure", "MaximumRetryCount": -1},
         "invalid restart policy: maximum retry count cannot be negative"),
        ({"Name": "sometimes"}, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', "
                                "'on-failure', or 'unless-stopped'"),
    ],
)
def test_validation_messages(policy: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_policy(policy)
    assert str(exc.value) == message


def test_empty_policy_is_no() -> None:
    assert validate_policy({}) == {"Name": "no", "MaximumRetryCount": 0}
    assert validate_policy({"Name": "", "MaximumRetryCount": 5}) == {"Name": "no", "MaximumRetryCount": 5}
