"""The daemon's event bus: Docker's ``/events`` stream, and the hook other subsystems listen on.

Every state change publishes one event shaped like moby's ``events.Message``:
``{"Type": "container", "Action": "die", "Actor": {"ID": id, "Attributes": {...}}, "scope": "local",
"time": secs, "timeNano": ns}`` (plus the legacy ``status``/``id``/``from`` fields for containers and
images).  Subscribers are asyncio queues (the ``/events`` route) or plain callbacks (restart policies,
healthchecks) called on the event loop; a callback that raises is logged, never propagated.
The last ``HISTORY`` events are kept so ``/events?since=`` can replay them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kobako.events")
HISTORY = 1024

Event = dict[str, Any]


class EventBus:
    def __init__(self) -> None:
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self._queues: set[asyncio.Queue[Event]] = set()
        self._callbacks: list[Callable[[Event], None]] = []

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> Event:
        ns = time.time_ns()
        ev: Event = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local",
            "time": ns // 1_000_000_000,
            "timeNano": ns,
        }
        if type_ in ("container", "image"):
            ev["status"] = action
            ev["id"] = actor_id
            if "image" in (attributes or {}):
                ev["from"] = (attributes or {})["image"]
        self.history.append(ev)
        for q in list(self._queues):
            q.put_nowait(ev)
        for cb in list(self._callbacks):
            try:
                cb(ev)
            except Exception:  # noqa: BLE001 - a listener's bug must not break the publisher
                log.exception("event listener failed on %s %s", type_, action)
        return ev

    def subscribe(self) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue()
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        self._queues.discard(q)

    def listen(self, callback: Callable[[Event], None]) -> None:
        self._callbacks.append(callback)

    @property
    def listeners(self) -> int:
        return len(self._queues)
