"""Pure: Events aggregated as Kubernetes' own recorder does (one Event, a rising count).

A reconciler that retries (a Job that cannot be created, drift repaired again and again) would
otherwise write a new Event object every pass. Like client-go's EventCorrelator, an Event with
the same involved object, type, reason and message within ``window`` seconds of the last one
becomes a patch of that Event's ``count`` and ``lastTimestamp``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

#: Like client-go's default: repeats within 10 minutes are counted, not recorded anew.
WINDOW_SECONDS = 600.0
MAX_ENTRIES = 4096


@dataclass
class Seen:
    namespace: str
    name: str
    count: int
    first: str  # firstTimestamp, as written
    last: float  # monotonic time of the last occurrence


class EventCorrelator:
    """Remembers the last Events written (bounded, least recently used dropped first)."""

    def __init__(self, window: float = WINDOW_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: OrderedDict[Hashable, Seen] = OrderedDict()

    def repeat(self, key: Hashable, now: float) -> Seen | None:
        """The Event to count this occurrence into, or None: write a new one."""
        seen = self._seen.get(key)
        if seen is None:
            return None
        if now - seen.last > self.window:
            del self._seen[key]
            return None
        seen.count += 1
        seen.last = now
        self._seen.move_to_end(key)
        return seen

    def written(self, key: Hashable, namespace: str, name: str, first: str, now: float) -> None:
        """A new Event was created under ``name``."""
        self._seen[key] = Seen(namespace, name, 1, first, now)
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._seen.pop(key, None)


def event_key(
    involved_uid: str | None,
    kind: str | None,
    namespace: str,
    name: str,
    type_: str,
    reason: str,
    message: str,
) -> tuple[str, ...]:
    return (namespace, kind or "", name, involved_uid or "", type_, reason, message)


def event_name(object_name: str, now_ns: int) -> str:
    """Like client-go: ``<object>.<hex of the time in ns>`` (unique, stays under 253)."""
    return f"{object_name[:230]}.{now_ns:x}"
