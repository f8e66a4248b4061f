"""Healthchecks (moby ``daemon/health.go``): a probe process in the container every interval.

``Config.Healthcheck`` is ``{Test, Interval, Timeout, Retries, StartPeriod, StartInterval}`` with
durations in nanoseconds; ``Test`` is ``["CMD", argv...]``, ``["CMD-SHELL", "command"]`` (run with
the container's Shell, default ``/bin/sh -c``) or ``["NONE"]``.  The result goes to ``State.Health``::

    {"Status": "starting" | "healthy" | "unhealthy", "FailingStreak": n,
     "Log": [{"Start", "End", "ExitCode", "Output"}, ...]}          # the last 5 probes

Lifecycle, one monitor task per running, unpaused container::

    start   → init(c):   Status "starting", FailingStreak 0 (the log is kept), monitor runs
    pause   → stop(c);   unpause → resume(c) (the status is kept)
    exit    → stop(c)    (the status stays for inspect until the next start)

Probes run through ``runner(container, argv, timeout) -> (exit_code, output)``: the exec machinery.
A status change publishes ``health_status: healthy`` / ``health_status: unhealthy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kobako.errors import InvalidArgument

from ._record import Container, now_rfc3339, parse_rfc3339

log = logging.getLogger("kobako.health")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
MINIMUM_NS = 1_000_000  # moby container.MinimumDuration (1ms)

Runner = Callable[[Container, list[str], float], Awaitable[tuple[int, bytes]]]


def validate_healthcheck(hc: Any) -> None:
    """moby ``validateHealthCheck``."""
    if not hc:
        return
    if not isinstance(hc, dict):
        raise InvalidArgument("Healthcheck must be a JSON object")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        v = int(hc.get(key) or 0)
        if v != 0 and v < MINIMUM_NS:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if int(hc.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def merge_healthcheck(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """moby ``merge``: the user's healthcheck with unset fields taken from the image's."""
    if not image:
        return user
    if not user:
        return dict(image)
    out = dict(user)
    if not out.get("Test"):
        out["Test"] = image.get("Test")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not out.get(key):
            out[key] = image.get(key, 0)
    return out


def probe_argv(c: Container) -> list[str] | None:
    hc = c.config.get("Healthcheck") or {}
    test = hc.get("Test") or []
    if not test:
        return None
    if test[0] == "CMD" and len(test) > 1:
        return [str(a) for a in test[1:]]
    if test[0] == "CMD-SHELL" and len(test) > 1:
        shell = c.config.get("Shell") or ["/bin/sh", "-c"]
        return [*shell, *[str(a) for a in test[1:]]]
    return None  # "NONE", or a kind moby warns about and ignores


def _seconds(hc: dict[str, Any], key: str, default: float) -> float:
    v = int(hc.get(key) or 0)
    return v / NS if v else default


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string for the durations probes use (30s, 1.5s, 500ms, 1m0s)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{int(m)}m{s:g}s"
    h, m = divmod(m, 60)
    return f"{int(h)}h{int(m)}m{s:g}s"


class HealthMonitor:
    def __init__(self, runner: Runner, publish: Callable[[Container, str], None],
                 save: Callable[[Container], Awaitable[None]]) -> None:
        self.runner = runner
        self.publish = publish
        self.save = save
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle hooks the manager calls -----------------------------------------------------
    def init(self, c: Container) -> None:
        """A (re)start: Status "starting" and a fresh streak; then probe."""
        if probe_argv(c) is None:
            return
        self.stop(c)
        old = c.state.get("Health") or {}
        c.state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": list(old.get("Log") or [])}
        self.resume(c)

    def resume(self, c: Container) -> None:
        if probe_argv(c) is None or c.id in self._tasks or not c.alive or c.paused:
            return
        self._tasks[c.id] = asyncio.create_task(self._monitor(c))

    def stop(self, c: Container) -> None:
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()

    def shutdown(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    # -- the monitor --------------------------------------------------------------------------------
    async def _monitor(self, c: Container) -> None:
        hc = c.config.get("Healthcheck") or {}
        interval = _seconds(hc, "Interval", DEFAULT_INTERVAL)
        start_interval = _seconds(hc, "StartInterval", DEFAULT_START_INTERVAL)
        start_period = _seconds(hc, "StartPeriod", DEFAULT_START_PERIOD)
        started = parse_rfc3339(c.state["StartedAt"])

        def next_interval() -> float:
            if time.time() - started >= start_period:
                return interval
            return start_interval if (c.state.get("Health") or {}).get("Status") == "starting" else interval

        try:
            while True:
                await asyncio.sleep(next_interval())
                argv = probe_argv(c)
                if argv is None or not c.alive or c.paused:
                    return
                result = await self._probe(c, argv, _seconds(hc, "Timeout", DEFAULT_TIMEOUT))
                await self._handle(c, result, hc, start_period)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - a broken probe must not take the daemon down
            log.exception("container %s: health monitor failed", c.id[:12])
        finally:
            if self._tasks.get(c.id) is asyncio.current_task():
                del self._tasks[c.id]

    async def _probe(self, c: Container, argv: list[str], timeout: float) -> dict[str, Any]:
        start = now_rfc3339()
        start_t = time.time()
        try:
            code, output = await asyncio.wait_for(self.runner(c, argv, timeout), timeout)
            text = _limited(output)
        except TimeoutError:
            code, text = -1, f"Health check exceeded timeout ({go_duration(timeout)})"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - moby records a probe error as ExitCode -1
            code, text = -1, str(exc)
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": text, "_t": start_t}

    async def _handle(self, c: Container, result: dict[str, Any], hc: dict[str, Any], start_period: float) -> None:
        """moby ``handleProbeResult``."""
        if not c.alive:
            return
        retries = int(hc.get("Retries") or 0) or DEFAULT_RETRIES
        health = c.state.setdefault("Health", {"Status": "starting", "FailingStreak": 0, "Log": []})
        old = health.get("Status")
        probe_start = result.pop("_t")
        entries = list(health.get("Log") or [])
        entries.append(result)
        health["Log"] = entries[-MAX_LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            health["FailingStreak"] = 0
            health["Status"] = "healthy"
        else:
            in_start_period = (old == "starting"
                               and probe_start - parse_rfc3339(c.state["StartedAt"]) < start_period)
            if not in_start_period:
                health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
                if health["FailingStreak"] >= retries:
                    health["Status"] = "unhealthy"
        if health["Status"] != old:
            with contextlib.suppress(OSError):
                await self.save(c)
            self.publish(c, f"health_status: {health['Status']}")


def _limited(output: bytes | str) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "..."
